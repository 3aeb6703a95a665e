"""The sub-word weight and SVM loss set by the data's size, and the NB-weighted label model."""

from __future__ import annotations

import random

import numpy as np

from classifiers.features import TextFeatures
from classifiers.labels import HINGE_FROM, LabelModel, NBRatios
from classifiers.selection import LARGE_DATA_WEIGHT, MIN_EXAMPLES, subword_weight
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
    _, labels = _corpus(MIN_EXAMPLES - 1)
    assert subword_weight(labels, 1.0) == 1.0


def test_large_single_label_data_gets_the_lighter_weight_and_the_pipeline_uses_it() -> None:
    texts, labels = _corpus(MIN_EXAMPLES + 200)
    model = TextClassifier().fit(texts, labels)
    assert model.features.char_weight == LARGE_DATA_WEIGHT
    assert model.predict_labels(["parcel lockers freight news"]) == [["logistics"]]
    # Multi-label data keeps the full weight.
    multi = [[y] if i % 5 else [y, "seo"] for i, y in enumerate(labels)]
    model = TextClassifier().fit(texts, multi)
    assert model.features.char_weight == 1.0


def test_the_svm_loss_is_the_hinge_on_large_data_and_the_squared_hinge_on_small() -> None:
    for n, loss in ((HINGE_FROM + 100, "hinge"), (HINGE_FROM // 4, "squared_hinge")):
        texts, labels = _corpus(n)
        X = TextFeatures().fit_transform(texts)
        auto = LabelModel().fit(X, labels)
        fixed = LabelModel(loss=loss).fit(X, labels)
        np.testing.assert_array_equal(auto.weights_, fixed.weights_)


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
