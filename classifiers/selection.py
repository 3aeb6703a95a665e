"""Choosing the sub-word block's weight on held-out training data.

How much the sub-word units (word-initial character n-grams) should weigh
beside whole words depends on the data: on a few hundred bilingual headlines
they carry much of the evidence (``paiement``/``paiements``), while on
thousands of English news items whole words say most of it and a heavy
sub-word block adds noise. Rather than fix one weight, the pipeline tries a
few (two) on a stratified quarter of the training data held out from a model
trained on the rest, and keeps the one with the best macro-F1: model selection on the
training data only, as with a grid search, but with one split and two
candidates so that training stays cheap. Single-label data only: on
multi-label data each candidate costs one SVM per label. The text features themselves
(vocabulary, IDF) come from the whole training set; they use no labels.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import MultiLabelBinarizer

from classifiers.labels import LabelModel

# Candidate weights of the sub-word block relative to the word block (each block
# is L2-normalised, so 1.0 makes them equal). The first is kept on ties. Two
# keep the cost at about 2.5 label-model fits instead of one.
CANDIDATES = (1.0, 0.3)
HELD_OUT = 0.25
# Below this many examples a held-out quarter is too small to tell the candidates
# apart (macro-F1 on 250 items varies by about 0.02 from split to split): the
# current weight (full, where sub-words help most) is kept.
MIN_EXAMPLES = 1000
# The candidates are compared on at most this many examples (a stratified
# sample), so that choosing costs little more on 100,000 items than on 4,000.
MAX_EXAMPLES = 4000


def choose_subword_weight(
    X: sp.csr_matrix,
    targets: Sequence[Any],
    n_words: int,
    current: float,
    labels: LabelModel,
    candidates: Sequence[float] = CANDIDATES,
    seed: int = 0,
) -> float:
    """The candidate weight whose held-out macro-F1 is best (`current` when data is too small).

    X's first `n_words` columns are words; the rest is the sub-word block,
    currently weighted `current`.
    """
    if not targets or not isinstance(targets[0], str):
        # Multi-label: every candidate costs one SVM per label (78 on Reuters-21578),
        # which would take training past twice the baseline's time.
        return current
    split = _held_out_split(targets, seed)
    if split is None or len(candidates) < 2:
        return current
    train, test = split
    multilabel = not isinstance(targets[0], str)
    truth = [targets[i] if multilabel else [targets[i]] for i in test]
    names = sorted({label for row in targets for label in row} if multilabel else set(targets))
    binarizer = MultiLabelBinarizer(classes=names).fit([])
    y_true = binarizer.transform(truth)
    X_train, X_test = X[train], X[test]
    fit_targets = [targets[i] for i in train]
    best, best_score = current, -1.0
    for weight in candidates:
        scale = np.ones(X.shape[1])
        scale[n_words:] = weight / current
        column_scale = sp.diags(scale)
        model = clone(labels).fit(X_train @ column_scale, fit_targets)
        predicted = model.predict_labels(X_test @ column_scale)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y_pred = binarizer.transform(predicted)
        score = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
        if score > best_score:
            best, best_score = weight, score
    return best


def _held_out_split(targets: Sequence[Any], seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A stratified (train, held-out) split, or None when the data is too small for one."""
    n = len(targets)
    if n < MIN_EXAMPLES:
        return None
    sample = np.sort(np.random.default_rng(seed).permutation(n)[:MAX_EXAMPLES])
    chosen = [targets[i] for i in sample]
    placeholder = np.zeros(len(sample))
    if not isinstance(targets[0], str):
        indicator = MultiLabelBinarizer().fit_transform(chosen)
        splitter: Any = MultilabelStratifiedShuffleSplit(
            n_splits=1, test_size=HELD_OUT, random_state=seed
        )
        train, test = next(splitter.split(placeholder, indicator))
    else:
        y = np.asarray(chosen)
        if np.unique(y, return_counts=True)[1].min() < 2:
            return None
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=HELD_OUT, random_state=seed)
        train, test = next(splitter.split(placeholder, y))
    train, test = sample[train], sample[test]
    if len({str(targets[i]) for i in train}) < 2:
        return None
    return train, test
