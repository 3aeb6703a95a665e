"""The label model: multi-class and multi-label decisions, and the opportunity score."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.features import TextFeatures
from classifiers.labels import LabelModel, side_weights
from classifiers.opportunity import OpportunityModel

TEXTS = [
    "parcel delivery carrier warehouse",
    "carrier parcel lockers delivery",
    "card payment checkout wallet",
    "wallet payment instalments card",
    "parcel delivery and card payment at the door",
    "card payment and parcel delivery options",
]
MULTI = [
    ["logistics"],
    ["logistics"],
    ["payments"],
    ["payments"],
    ["logistics", "payments"],
    ["logistics", "payments"],
]


def _features() -> tuple[TextFeatures, object]:
    features = TextFeatures(min_df=1)
    return features, features.fit_transform(TEXTS)


def test_multilabel_model_gives_several_labels_and_never_none() -> None:
    features, X = _features()
    model = LabelModel().fit(X, MULTI)
    assert model.multilabel_
    predicted = model.predict_labels(features.transform([*TEXTS, "zzz nothing known here"]))
    assert predicted[0] == ["logistics"] and predicted[2] == ["payments"]
    assert sorted(predicted[4]) == ["logistics", "payments"]
    # A text the model knows nothing of still gets a label (at-least-one rule).
    assert predicted[-1] and all(type(label) is str for label in predicted[-1])


def test_multiclass_model_with_two_classes_scores_both() -> None:
    features, X = _features()
    y = ["ship", "ship", "pay", "pay", "ship", "pay"]
    model = LabelModel().fit(X, y)
    assert not model.multilabel_
    scores = model.decision_function(features.transform(["carrier parcel"]))
    assert scores.shape == (1, 2)
    assert model.predict(features.transform(["carrier parcel", "wallet card"])) == ["ship", "pay"]


def test_side_weights_favour_a_rare_label_without_overfitting_it() -> None:
    quarter = np.arange(100) < 25
    assert side_weights(quarter) == pytest.approx({True: 2**0.5, False: (2 / 3) ** 0.5})
    rare = np.arange(9000) < 5  # "balanced" would weigh these 5 at 900
    assert side_weights(rare)[True] == pytest.approx(30.0)


def test_multiclass_and_multilabel_data_get_their_own_svm_settings() -> None:
    model = LabelModel(C=1.0, multilabel_C=0.5)
    model.multilabel_ = False
    svm = model._svm(np.arange(8) < 2)
    assert svm.C == 1.0 and svm.class_weight == side_weights(np.arange(8) < 2)
    model.multilabel_ = True
    svm = model._svm(np.arange(8) < 2)
    assert svm.C == 0.5 and svm.class_weight is None


def test_a_label_on_every_example_is_a_constant() -> None:
    _, X = _features()
    model = LabelModel().fit(X, [[*labels, "ecommerce"] for labels in MULTI])
    assert all("ecommerce" in row for row in model.predict_labels(X))


def test_one_label_only_is_refused_for_multiclass() -> None:
    _, X = _features()
    with pytest.raises(ValueError, match="at least two different labels"):
        LabelModel().fit(X, ["same"] * len(TEXTS))


def test_top_terms_name_the_words_behind_a_label() -> None:
    features, X = _features()
    model = LabelModel().fit(X, MULTI)
    row = features.transform(["wallet payment by card"])
    terms = [t for t, _ in model.top_terms(row, "payments", features.feature_names())]
    assert terms and all(
        w > 0 for _, w in model.top_terms(row, "payments", features.feature_names())
    )
    assert any(t in ("wallet", "payment", "card") for t in terms)


def test_opportunity_model_gives_calibrated_probabilities() -> None:
    texts = [f"new marketplace opens to sellers {i}" for i in range(10)] + [
        f"quarterly report shows flat results {i}" for i in range(10)
    ]
    answers = [True] * 10 + [False] * 10
    features = TextFeatures(min_df=1)
    X = features.fit_transform(texts)
    model = OpportunityModel().fit(X, answers)
    p = model.probability(features.transform(["marketplace opens to sellers", "flat report"]))
    assert p.min() >= 0 and p.max() <= 1
    assert p[0] > 0.5 > p[1]
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_opportunity_model_needs_both_answers() -> None:
    features = TextFeatures(min_df=1)
    X = features.fit_transform(["a text", "another text"])
    with pytest.raises(ValueError, match="both"):
        OpportunityModel().fit(X, [True, True])
