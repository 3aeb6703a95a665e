"""The textbook pipeline Veille's classifier is measured against.

TF-IDF word 1-2 grams + ``LinearSVC`` with scikit-learn's default settings
(one-vs-rest for multi-label data, a label when its margin is positive). Both
``bench/classify.py`` and ``veille evaluate --cv K --baseline`` run it on the
same folds as Veille's pipeline, so that the gain is measured, not assumed.
"""

from __future__ import annotations

from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

DESCRIPTION = "TF-IDF word 1-2 grams + LinearSVC, default settings"


class Baseline:
    """TF-IDF word 1-2 grams + LinearSVC (one-vs-rest for multi-label), default settings."""

    name = "baseline"

    def fit(self, texts: list[str], y: list[Any]) -> Baseline:
        """Fit the vectoriser and the SVM(s)."""
        self.multilabel = bool(y) and not isinstance(y[0], str)
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2))
        X = self.vectorizer.fit_transform(texts)
        if self.multilabel:
            self.binarizer = MultiLabelBinarizer()
            self.svm = OneVsRestClassifier(LinearSVC()).fit(X, self.binarizer.fit_transform(y))
        else:
            self.svm = LinearSVC().fit(X, y)
        return self

    def predict_labels(self, texts: list[str]) -> list[list[str]]:
        """Predicted label lists."""
        predicted = self.svm.predict(self.vectorizer.transform(texts))
        if self.multilabel:
            return [list(row) for row in self.binarizer.inverse_transform(predicted)]
        return [[label] for label in predicted]
