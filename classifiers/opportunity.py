"""The opportunity score: a calibrated linear SVM giving a probability from 0 to 1.

A linear SVM ranks well but its margins are not probabilities, so they are
mapped through a sigmoid fitted on cross-validated margins (Platt scaling),
the same method as ``CalibratedClassifierCV(method="sigmoid", ensemble=False)``.
Only the weights, the intercept and the two sigmoid parameters are kept;
predicting is ``classifiers.linear.LinearScore``, which needs no scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC

from classifiers.linear import LinearScore


class OpportunityModel(LinearScore, ClassifierMixin, BaseEstimator):
    """Probability that a document is an actionable opportunity."""

    def __init__(self, C: float = 0.5, folds: int = 5) -> None:
        self.C = C
        self.folds = folds

    def fit(self, X: sp.csr_matrix, y: Sequence[bool]) -> OpportunityModel:
        """Learn from yes/no answers."""
        target = np.asarray(y, dtype=bool)
        positives = int(target.sum())
        if positives == 0 or positives == len(target):
            raise ValueError("the opportunity model needs both 'yes' and 'no' examples")
        svm = LinearSVC(C=self.C, class_weight="balanced", random_state=0)
        folds = min(self.folds, positives, len(target) - positives)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if folds >= 2:
                cv = StratifiedKFold(folds, shuffle=True, random_state=0)
                margins = cross_val_predict(svm, X, target, cv=cv, method="decision_function")
            else:
                margins = None
            svm.fit(X, target)
        if margins is None:
            # Too few examples to calibrate honestly: a plain logistic squash.
            self.slope_, self.offset_ = 1.0, 0.0
        else:
            platt = LogisticRegression(C=1e4).fit(margins.reshape(-1, 1), target)
            self.slope_, self.offset_ = float(platt.coef_[0, 0]), float(platt.intercept_[0])
        self.weights_ = np.ascontiguousarray(svm.coef_[0], dtype=np.float32)
        self.intercept_ = float(svm.intercept_[0])
        self.classes_ = np.asarray([False, True])
        return self
