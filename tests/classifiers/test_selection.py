"""Choosing the sub-word weight on held-out training data, and the NB-weighted label model."""

from __future__ import annotations

import random

import numpy as np

from classifiers.features import TextFeatures
from classifiers.labels import LabelModel, NBRatios
from classifiers.selection import CANDIDATES, MIN_EXAMPLES, choose_subword_weight
from classifiers.training import TextClassifier

TOPICS = {
    "logistics": ["parcel", "carrier", "warehouse", "delivery", "lockers", "freight"],
    "payments": ["card", "wallet", "checkout", "instalments", "refund", "acquirer"],
    "seo": ["ranking", "crawl", "index", "snippet", "backlinks", "sitemap"],
}


def _corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    names = sorted(TOPICS)
    labels = [names[i % len(names)] for i in range(n)]
    noise = ["news", "today", "market", "update", "report", "week", "plan", "team"]
    texts = [" ".join(rng.sample(TOPICS[y], 3) + rng.sample(noise, 4)) for y in labels]
    return texts, labels


def test_small_data_keeps_the_current_weight() -> None:
    texts, labels = _corpus(MIN_EXAMPLES - 1)
    features = TextFeatures()
    X = features.fit_transform(texts)
    n_words = features.word_idf_.size
    assert choose_subword_weight(X, labels, n_words, 1.0, LabelModel()) == 1.0


def test_enough_data_picks_one_of_the_candidates_and_the_pipeline_uses_it() -> None:
    texts, labels = _corpus(MIN_EXAMPLES + 200)
    model = TextClassifier().fit(texts, labels)
    assert model.features.char_weight in CANDIDATES
    assert model.predict_labels(["parcel lockers freight news"]) == [["logistics"]]
    # Multi-label data keeps the full weight (a candidate costs one SVM per label).
    multi = [[y] if i % 5 else [y, "seo"] for i, y in enumerate(labels)]
    model = TextClassifier().fit(texts, multi)
    assert model.features.char_weight == 1.0


def test_nb_ratios_favour_the_features_of_the_positive_class() -> None:
    features = TextFeatures(char_weight=0)
    X = features.fit_transform(["card wallet", "card refund", "parcel carrier", "parcel freight"])
    ratios = NBRatios(X, alpha=1.0).of(np.array([True, True, False, False]))
    column = features.word_index
    assert ratios[column["card"]] > 0 > ratios[column["parcel"]]


def test_plain_svm_is_still_available() -> None:
    texts, labels = _corpus(60)
    features = TextFeatures()
    X = features.fit_transform(texts)
    plain = LabelModel(nb_alpha=None).fit(X, labels)
    nb = LabelModel().fit(X, labels)
    assert plain.predict(X[:3]) == nb.predict(X[:3]) == labels[:3]
