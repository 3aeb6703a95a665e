"""Trained linear models as plain arrays: what predicting needs, without scikit-learn.

``LinearLabels`` holds the label model's weights and decision rule and
``LinearScore`` the opportunity score's; ``LabelModel`` and
``OpportunityModel`` add training (with scikit-learn) on top. Tagging loads
these classes alone (see ``classifiers.model``), so the crawl and the tagging
commands never pay for importing scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp


class LinearLabels:
    """One-vs-rest linear label scores: (features x labels) weights plus intercepts.

    Fitted state: `labels_`, `weights_`, `intercept_`, `multilabel_`, and the
    `at_least_one` rule for multi-label data.
    """

    labels_: np.ndarray
    weights_: np.ndarray
    intercept_: np.ndarray
    multilabel_: bool
    at_least_one: bool

    def decision_function(self, X: sp.csr_matrix) -> np.ndarray:
        """Margins, one column per label in `labels_` order."""
        # Cast X, not the weights: mixing dtypes makes scipy copy the whole weight matrix.
        X = X.astype(self.weights_.dtype, copy=False)
        return np.asarray(X @ self.weights_, dtype=np.float64) + self.intercept_

    def predict_labels(self, X: sp.csr_matrix) -> list[list[str]]:
        """The labels of each row, as lists (one label each for multi-class models)."""
        return self.labels_from_scores(self.decision_function(X))

    def labels_from_scores(self, scores: np.ndarray) -> list[list[str]]:
        """Turn margins into label lists with this model's decision rule."""
        labels = self.labels_.tolist()
        if not self.multilabel_:
            return [[labels[j]] for j in scores.argmax(axis=1)]
        chosen = scores > 0
        if self.at_least_one:
            empty = ~chosen.any(axis=1)
            chosen[empty, scores[empty].argmax(axis=1)] = True
        return [[labels[j] for j in np.flatnonzero(row)] for row in chosen]

    def predict(self, X: sp.csr_matrix) -> list[Any]:
        """Labels per row: label lists (multi-label) or single labels (multi-class)."""
        predicted = self.predict_labels(X)
        return predicted if self.multilabel_ else [row[0] for row in predicted]

    def top_terms(
        self, row: sp.csr_matrix, label: str, names: Sequence[str], k: int = 5
    ) -> list[tuple[str, float]]:
        """The document's terms that push hardest towards `label` (weight x feature value)."""
        j = int(np.flatnonzero(self.labels_ == label)[0])
        row = row.tocsr()
        contributions = row.data * self.weights_[row.indices, j]
        order = np.argsort(-contributions)[:k]
        return [
            (names[row.indices[i]], float(contributions[i])) for i in order if contributions[i] > 0
        ]


class LinearScore:
    """A linear margin squashed into a probability by a fitted sigmoid (Platt scaling).

    Fitted state: `weights_`, `intercept_`, `slope_` and `offset_`.
    """

    weights_: np.ndarray
    intercept_: float
    slope_: float
    offset_: float

    def decision_function(self, X: sp.csr_matrix) -> np.ndarray:
        """The linear margin of each row."""
        X = X.astype(self.weights_.dtype, copy=False)  # see LinearLabels.decision_function
        return np.asarray(X @ self.weights_, dtype=np.float64).ravel() + self.intercept_

    def probability(self, X: sp.csr_matrix) -> np.ndarray:
        """The calibrated probability of 'yes' for each row."""
        z = self.slope_ * self.decision_function(X) + self.offset_
        return 1.0 / (1.0 + np.exp(-z))

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:
        """scikit-learn style (no, yes) probabilities."""
        p = self.probability(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: sp.csr_matrix) -> np.ndarray:
        """Yes/no at probability 0.5."""
        return self.probability(X) >= 0.5

    def top_terms(
        self, row: sp.csr_matrix, names: Sequence[str], k: int = 5
    ) -> list[tuple[str, float]]:
        """The document's terms that push hardest towards 'yes'."""
        row = row.tocsr()
        contributions = row.data * self.weights_[row.indices] * np.sign(self.slope_ or 1.0)
        order = np.argsort(-contributions)[:k]
        return [
            (names[row.indices[i]], float(contributions[i])) for i in order if contributions[i] > 0
        ]
