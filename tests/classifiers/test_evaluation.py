"""Scores and cross-validation: per-label metrics, averages, confusion matrix, same folds."""

from __future__ import annotations

import pytest

from classifiers.dataset import Dataset, Example, seed_dataset
from classifiers.evaluation import cross_validate, folds_for, score
from classifiers.training import TextClassifier
from watch.errors import UserError


def test_multiclass_scores_and_confusion_matrix() -> None:
    truth = [["a"], ["a"], ["b"], ["b"]]
    predicted = [["a"], ["b"], ["b"], ["b"]]
    report = score(truth, predicted, multilabel=False)
    assert report.per_label["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert report.per_label["b"]["precision"] == pytest.approx(2 / 3)
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert report.micro_f1 == pytest.approx(0.75) and report.accuracy == 0.75
    assert report.confusion == {"labels": ["a", "b"], "matrix": [[1, 1], [0, 2]]}


def test_multilabel_scores_have_no_confusion_matrix() -> None:
    report = score([["a", "b"], ["b"]], [["a"], ["b", "c"]], multilabel=True)
    assert report.confusion is None
    assert set(report.per_label) == {"a", "b", "c"}
    assert report.micro_f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert report.accuracy == 0.0


def test_multilabel_folds_are_a_partition_with_every_label_in_each() -> None:
    seed = seed_dataset()
    folds = folds_for(seed, 5)
    tested = sorted(i for _, test in folds for i in test)
    assert tested == list(range(len(seed)))
    for _, test in folds:
        assert {label for i in test for label in seed.label_lists[i]} == set(seed.label_names)


def test_cross_validation_runs_each_pipeline_on_the_same_folds() -> None:
    seed = seed_dataset()
    reports = cross_validate(seed, 3, {"a": TextClassifier, "b": TextClassifier})
    assert reports["a"].folds == reports["b"].folds  # same folds, deterministic pipeline
    assert reports["a"].macro_f1 > 0.6
    assert len(reports["a"].folds) == 3 and reports["a"].train_seconds > 0


def test_cross_validation_of_a_multiclass_file() -> None:
    examples = [Example(f"delivery parcel carrier {i}", ["logistics"]) for i in range(6)]
    examples += [Example(f"card wallet payment {i}", ["payments"]) for i in range(6)]
    data = Dataset(examples=examples, multilabel=False, source="toy")
    report = cross_validate(data, 3, {"veille": TextClassifier})["veille"]
    assert report.task == "multiclass" and report.macro_f1 == 1.0
    assert report.confusion["matrix"] == [[6, 0], [0, 6]]


def test_too_many_folds_is_a_clear_error() -> None:
    data = Dataset(
        examples=[Example("a", ["x"]), Example("b", ["y"])], multilabel=False, source="t"
    )
    with pytest.raises(UserError, match="needs at least 5 examples"):
        folds_for(data, 5)
    with pytest.raises(UserError, match="at least 2 folds"):
        folds_for(data, 1)
