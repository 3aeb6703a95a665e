"""Evaluation: precision, recall and F1 per label, macro and micro averages, cross-validation.

Cross-validation refits the whole pipeline (features included) on each
training fold, so nothing is learnt from the test fold. Folds are stratified:
``StratifiedKFold`` for single-label data; for multi-label data, iterative
stratification (Sechidis et al., 2011, via ``iterative-stratification``), which
keeps every label's share close to even across folds, rare labels included.
Metrics are computed on the pooled out-of-fold predictions, so every example
is predicted exactly once by a model that never saw it; per-fold macro-F1 is
reported too.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import MultiLabelBinarizer

from classifiers.dataset import Dataset
from watch.errors import UserError

# progress(done, total): steps are (fold, pipeline) pairs, fitted and scored.
FoldProgress = Callable[[int, int], None]


class Classifier(Protocol):
    """What cross-validation needs from a pipeline."""

    def fit(self, texts: Sequence[str], y: Sequence[Any]) -> Any: ...

    def predict_labels(self, texts: Sequence[str]) -> list[list[str]]: ...


@dataclass
class Report:
    """Scores of predictions against true labels."""

    task: str
    examples: int
    labels: list[str]
    per_label: dict[str, dict[str, float]]
    macro_f1: float
    micro_f1: float
    macro_precision: float
    macro_recall: float
    micro_precision: float
    micro_recall: float
    accuracy: float
    confusion: dict[str, Any] | None = None
    folds: list[float] = field(default_factory=list)
    train_seconds: float | None = None
    train_cpu_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


def score(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], multilabel: bool
) -> Report:
    """Compare predicted label lists with the true ones."""
    labels = sorted({x for row in truth for x in row} | {x for row in predicted for x in row})
    binarizer = MultiLabelBinarizer(classes=labels)
    y_true = binarizer.fit_transform(truth)
    y_pred = binarizer.transform(predicted)
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    per_label = {
        label: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    micro = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    confusion = None
    if not multilabel:
        flat_true = [row[0] if row else "" for row in truth]
        flat_pred = [row[0] if row else "" for row in predicted]
        matrix = confusion_matrix(flat_true, flat_pred, labels=labels)
        confusion = {"labels": labels, "matrix": matrix.tolist()}
        accuracy = float(np.mean([t == q for t, q in zip(flat_true, flat_pred, strict=True)]))
    else:
        # Exact-match ratio: every label right.
        accuracy = float(np.mean((y_true == y_pred).all(axis=1))) if len(truth) else 0.0
    return Report(
        task="multilabel" if multilabel else "multiclass",
        examples=len(truth),
        labels=labels,
        per_label=per_label,
        macro_f1=float(np.mean(f)) if len(f) else 0.0,
        micro_f1=float(micro[2]),
        macro_precision=float(np.mean(p)) if len(p) else 0.0,
        macro_recall=float(np.mean(r)) if len(r) else 0.0,
        micro_precision=float(micro[0]),
        micro_recall=float(micro[1]),
        accuracy=accuracy,
        confusion=confusion,
    )


def compare(ours: Report, base: Report) -> dict[str, Any]:
    """Two cross-validation reports on the same folds: gains and training-time ratio (CPU)."""
    return {
        "macro_f1_gain": ours.macro_f1 - base.macro_f1,
        "micro_f1_gain": ours.micro_f1 - base.micro_f1,
        "train_time_ratio": (ours.train_cpu_seconds or 0.0)
        / max(base.train_cpu_seconds or 0.0, 1e-9),
    }


def folds_for(dataset: Dataset, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified train/test index pairs for K-fold cross-validation."""
    n = len(dataset)
    if k < 2:
        raise UserError(f"--cv needs at least 2 folds; got {k}.")
    if k > n:
        raise UserError(f"--cv {k} needs at least {k} examples; the data has {n}.")
    placeholder = np.zeros(n)
    if dataset.multilabel:
        labels = dataset.label_names
        indicator = MultiLabelBinarizer(classes=labels).fit_transform(dataset.label_lists)
        splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(placeholder, indicator))
    y = np.asarray(dataset.targets)
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < k:
        # StratifiedKFold cannot put a label with fewer than k examples in every fold.
        rare = int((counts < k).sum())
        dataset.notes.append(
            f"{rare} label(s) have fewer than {k} examples and cannot appear in every fold."
        )
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(placeholder, y))


def cross_validate(
    dataset: Dataset,
    k: int,
    pipelines: dict[str, Callable[[], Classifier]],
    progress: FoldProgress | None = None,
    seed: int = 0,
) -> dict[str, Report]:
    """K-fold cross-validation of each pipeline on the SAME folds, in the same run.

    Pipelines take turns inside each fold so that machine load affects them
    alike; training time is the sum over folds of fit() time, wall and CPU.
    """
    folds = folds_for(dataset, k, seed)
    texts = np.asarray(dataset.texts, dtype=object)
    targets = dataset.targets
    truth = dataset.label_lists
    predicted: dict[str, list[list[str]]] = {name: [[] for _ in truth] for name in pipelines}
    per_fold: dict[str, list[float]] = {name: [] for name in pipelines}
    wall = dict.fromkeys(pipelines, 0.0)
    cpu = dict.fromkeys(pipelines, 0.0)
    steps, done = len(folds) * len(pipelines), 0
    for number, (train, test) in enumerate(folds, 1):
        train_texts = list(texts[train])
        train_targets = [targets[i] for i in train]
        test_texts = list(texts[test])
        for name, make in pipelines.items():
            model = make()
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                model.fit(train_texts, train_targets)
            except ValueError as exc:
                raise UserError(f"Cannot train fold {number} of {dataset.source}: {exc}.") from None
            wall[name] += time.perf_counter() - started
            cpu[name] += time.process_time() - started_cpu
            guesses = model.predict_labels(test_texts)
            for i, labels in zip(test, guesses, strict=True):
                predicted[name][i] = list(labels)
            per_fold[name].append(_macro_f1([truth[i] for i in test], guesses, dataset.label_names))
            done += 1
            if progress:
                progress(done, steps)
    reports = {}
    for name in pipelines:
        report = score(truth, predicted[name], dataset.multilabel)
        report.folds = per_fold[name]
        report.train_seconds = wall[name]
        report.train_cpu_seconds = cpu[name]
        reports[name] = report
    return reports


def _macro_f1(
    truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], labels: list[str]
) -> float:
    binarizer = MultiLabelBinarizer(classes=labels)
    binarizer.fit([])
    with warnings.catch_warnings():
        # Labels predicted that the data lacks are ignored here, as in sklearn.
        warnings.simplefilter("ignore")
        y_true = binarizer.transform(truth)
        y_pred = binarizer.transform(predicted)
    present = y_true.any(axis=0) | y_pred.any(axis=0)
    scores = f1_score(y_true, y_pred, average=None, zero_division=0)
    return float(np.mean(scores[present])) if present.any() else 0.0
