"""The fast text features compute exactly what scikit-learn's vectorisers compute."""

from __future__ import annotations

import time
from itertools import pairwise

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from classifiers.dataset import seed_dataset
from classifiers.features import (
    TextFeatures,
    fold,
    pack_terms,
    subword_units,
    tokenize,
    unpack_terms,
)

TEXTS = seed_dataset().texts[:200]


def _columns_match(X_ours, names_ours, X_sk, vocab_sk) -> None:
    """Same matrix once scikit-learn's columns are put in our order."""
    order = [vocab_sk[name] for name in names_ours]
    assert abs(X_ours - X_sk[:, order]).max() < 1e-9


def _words_and_bigrams(text: str) -> list[str]:
    tokens = tokenize(text)
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


def test_word_features_equal_sklearn_binary_tfidf() -> None:
    ours = TextFeatures(char_weight=0, binary=True)
    X = ours.fit_transform(TEXTS)
    sk = TfidfVectorizer(analyzer=_words_and_bigrams, binary=True)
    X_sk = sk.fit_transform(TEXTS)
    assert X.shape == X_sk.shape
    _columns_match(X, ours.feature_names(), X_sk, sk.vocabulary_)
    unseen = [*TEXTS[5:20], "zzz unseen words", "", "core core core update update"]
    _columns_match(
        ours.transform(unseen), ours.feature_names(), sk.transform(unseen), sk.vocabulary_
    )


def test_word_features_equal_sklearn_sublinear_tfidf_with_min_df() -> None:
    ours = TextFeatures(char_weight=0, min_df=2, binary=False)
    X = ours.fit_transform(TEXTS)
    sk = TfidfVectorizer(analyzer=_words_and_bigrams, sublinear_tf=True, min_df=2)
    X_sk = sk.fit_transform(TEXTS)
    assert X.shape == X_sk.shape
    _columns_match(X, ours.feature_names(), X_sk, sk.vocabulary_)
    # The same holds for texts the model has not seen, words unknown to it included.
    X_new, X_sk_new = (
        ours.transform([*TEXTS[:5], "zzz unseen words"]),
        sk.transform([*TEXTS[:5], "zzz unseen words"]),
    )
    _columns_match(X_new, ours.feature_names(), X_sk_new, sk.vocabulary_)


def test_in_word_char_ngrams_equal_sklearn_char_wb() -> None:
    ours = TextFeatures(prefixes=(), char_ngrams=(2, 5), min_df=1, binary=False)
    X = ours.fit_transform(TEXTS)
    n_words = len(ours.word_index)
    sk = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 5),
        sublinear_tf=True,
        preprocessor=lambda t: " ".join(tokenize(t)),
    )
    X_sk = sk.fit_transform(TEXTS)
    chars = X[:, n_words:]
    names = [n[1:] for n in ours.feature_names()[n_words:]]
    assert chars.shape == X_sk.shape
    _columns_match(chars, names, X_sk, sk.vocabulary_)


def test_default_subwords_are_word_initial_ngrams() -> None:
    assert subword_units("paiements", (4, 6), None) == [" paie", " paieme"]
    assert subword_units("seo", (4, 6), None) == []  # short words are their own unigram
    features = TextFeatures().fit(["Paiement en ligne", "Paiements fractionnés en ligne"])
    X = features.transform(["paiementS"])
    names = [features.feature_names()[i] for i in X.indices]
    assert "# paie" in names and "# paieme" in names


def test_rows_are_unit_length_and_blank_text_gives_an_empty_row() -> None:
    features = TextFeatures().fit(TEXTS)
    X = features.transform([TEXTS[0], "", "   ", "?!"])
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert abs(norms[0] - np.sqrt(2)) < 1e-6  # two blocks, each L2-normalised
    assert X[1:].nnz == 0


def test_a_huge_text_costs_no_more_than_max_chars() -> None:
    features = TextFeatures(max_chars=20_000).fit(TEXTS)
    huge = ("Google confirms a core update for search rankings. " * 110_000)[: 5 * 1024 * 1024]
    started = time.perf_counter()
    X = features.transform([huge])
    assert time.perf_counter() - started < 2.0
    assert X.shape[0] == 1 and X.nnz > 0


def test_fold_lowercases_and_strips_accents() -> None:
    assert fold("Réglementation ÉTÉ Noël") == "reglementation ete noel"
    assert fold("plain ascii") == "plain ascii"
    assert tokenize("L'État rachète Zalando") == ["etat", "rachete", "zalando"]


def test_terms_pack_round_trip() -> None:
    terms = ["core update", "paiement", "émission", "# paie"]
    assert unpack_terms(pack_terms(terms)) == terms
    assert unpack_terms(pack_terms([])) == []


def test_transform_matches_the_training_matrix_sub_words_included() -> None:
    # transform() counts per distinct token of a batch; fitting counts per document.
    for features in (TextFeatures(), TextFeatures(prefixes=(3,), char_ngrams=(2, 4), min_df=2)):
        X = features.fit_transform(TEXTS)
        assert abs(features.transform(TEXTS) - X).max() < 1e-9
        assert features.transform([]).shape == (0, X.shape[1])
