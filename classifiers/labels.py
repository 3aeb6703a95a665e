"""The label model: a linear SVM per label over the text features, multi-class or multi-label.

Choices, all standard and cheap:

* ``LinearSVC`` (liblinear), one-vs-rest, the strongest plain linear model for
  sparse TF-IDF text;
* ``class_weight="balanced"`` so rare labels are not drowned by frequent ones,
  which is what macro-F1 rewards;
* multi-label: a label is given when its margin is positive, and a document
  whose margins are all negative still gets its best label. One-vs-rest SVMs
  on small or skewed data are very conservative: without this rule most
  documents get no label at all.

Weights are kept as one dense (features x labels) array so prediction is a
single sparse-dense product and the model saves as plain arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

Progress = Callable[[int, int], None]


class LabelModel(ClassifierMixin, BaseEstimator):
    """Linear one-vs-rest classifier for single-label (multi-class) or multi-label data."""

    def __init__(
        self,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        at_least_one: bool = True,
        max_iter: int = 1000,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.at_least_one = at_least_one
        self.max_iter = max_iter

    def fit(
        self,
        X: sp.csr_matrix,
        y: Sequence[Sequence[str]] | Sequence[str],
        progress: Progress | None = None,
    ) -> LabelModel:
        """Learn from labels: a list of label lists (multi-label) or of single labels."""
        self.multilabel_ = bool(len(y)) and not isinstance(y[0], str)
        if self.multilabel_:
            self._fit_multilabel(X, [list(labels) for labels in y], progress)
        else:
            self._fit_multiclass(X, [str(label) for label in y], progress)
        return self

    def _svm(self) -> LinearSVC:
        return LinearSVC(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=0
        )

    def _fit_multiclass(self, X: sp.csr_matrix, y: list[str], progress: Progress | None) -> None:
        labels = sorted(set(y))
        if len(labels) < 2:
            raise ValueError(
                f"need at least two different labels to learn from; found {labels or 'none'}"
            )
        self.labels_ = np.asarray(labels)
        svm = _fit_quietly(self._svm(), X, np.asarray(y))
        coef, intercept = svm.coef_, svm.intercept_
        if len(labels) == 2:
            # liblinear learns one separator for two classes: mirror it.
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        self.weights_ = np.ascontiguousarray(coef.T, dtype=np.float32)
        self.intercept_ = intercept.astype(np.float64)
        if progress:
            progress(1, 1)

    def _fit_multilabel(
        self, X: sp.csr_matrix, y: list[list[str]], progress: Progress | None
    ) -> None:
        labels = sorted({label for row in y for label in row})
        if not labels:
            raise ValueError("no labels to learn from: every example has an empty label list")
        self.labels_ = np.asarray(labels)
        column = {label: j for j, label in enumerate(labels)}
        targets = np.zeros((len(y), len(labels)), dtype=bool)
        for i, row in enumerate(y):
            targets[i, [column[label] for label in row]] = True
        weights = np.zeros((X.shape[1], len(labels)), dtype=np.float32)
        intercept = np.zeros(len(labels))
        for j in range(len(labels)):
            positive = targets[:, j]
            if positive.all() or not positive.any():
                # A label on every (or no) training example: a constant answer.
                intercept[j] = 1.0 if positive.any() else -1.0
            else:
                svm = _fit_quietly(self._svm(), X, positive)
                weights[:, j] = svm.coef_[0]
                intercept[j] = svm.intercept_[0]
            if progress:
                progress(j + 1, len(labels))
        self.weights_ = weights
        self.intercept_ = intercept

    # -- predicting ---------------------------------------------------------------

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


def _fit_quietly(svm: LinearSVC, X: sp.csr_matrix, y: np.ndarray) -> LinearSVC:
    # An unconverged liblinear run still gives a usable separator; the warning
    # would only alarm users who cannot act on it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return svm.fit(X, y)
