"""The text features as a scikit-learn transformer, for training and evaluation.

The features themselves (tokenising, counting, weighting) live in
``classifiers.vectors``, which does not import scikit-learn, so that tagging
with a trained model never has to.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin

from classifiers.vectors import (
    CHAR_PREFIX,
    TextVectors,
    fold,
    pack_terms,
    subword_units,
    tokenize,
    unpack_terms,
)

__all__ = [
    "CHAR_PREFIX",
    "TextFeatures",
    "fold",
    "pack_terms",
    "subword_units",
    "tokenize",
    "unpack_terms",
]


# TextVectors comes first: its fit_transform must win over TransformerMixin's.
class TextFeatures(TextVectors, TransformerMixin, BaseEstimator):
    """TextVectors with scikit-learn's estimator API (get_params, set_params, clone)."""
