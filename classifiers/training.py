"""Training: Veille's text classification pipeline, and the tagging model built from data.

Run ``python -m classifiers.training`` to rebuild the bundled default model from
the seed set (a test checks it matches the seed file).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from classifiers.dataset import Dataset, Example, seed_dataset
from classifiers.features import TextFeatures
from classifiers.labels import LabelModel
from classifiers.model import DEFAULT_MODEL_PATH, TaggingModel, new_info, save_model
from classifiers.opportunity import OpportunityModel
from classifiers.selection import subword_weight
from watch.errors import UserError

# progress(stage, done, total): called as work advances, for progress bars.
Progress = Callable[[str, int, int], None]


class TextClassifier:
    """The pipeline under evaluation: TextFeatures, then a LabelModel.

    Between the two, the weight of the sub-word block is set for the data's
    size and task (see classifiers.selection) unless `select` is off.
    """

    name = "veille"

    def __init__(
        self,
        features: TextFeatures | None = None,
        labels: LabelModel | None = None,
        select: bool = True,
    ) -> None:
        self.features = features if features is not None else TextFeatures()
        self.labels = labels if labels is not None else LabelModel()
        self.select = select

    def fit(self, texts: Sequence[str], y: Sequence[Any]) -> TextClassifier:
        """Fit features and labels on texts with their targets (label lists or labels)."""
        X = self.features.fit_transform(texts)
        if self.select:
            X = tune_subword_weight(self.features, X, y)
        self.labels.fit(X, y)
        return self

    def predict_labels(self, texts: Sequence[str]) -> list[list[str]]:
        """Predicted labels per text, always as lists."""
        return self.labels.predict_labels(self.features.transform(texts))


def train_model(
    dataset: Dataset,
    extra: Sequence[Example] = (),
    progress: Progress | None = None,
    sources: Sequence[str] = (),
) -> TaggingModel:
    """Train features, labels and (when the data has yes/no answers) the opportunity score.

    `extra` examples (users' corrections) join the data set: those with labels
    train the labels, those with an opportunity answer train the score.
    """
    labelled = dataset.examples + [e for e in extra if e.has_labels]
    opportunity_only = [e for e in extra if not e.has_labels and e.opportunity is not None]
    if len(labelled) < 2:
        raise UserError(f"Not enough labelled examples to train on ({len(labelled)}).")
    everything = labelled + opportunity_only
    step = _stepper(progress)
    step("features", 0, 1)
    features = TextFeatures()
    X = features.fit_transform([e.text for e in everything])
    targets = [e.labels if dataset.multilabel else e.labels[0] for e in labelled]
    labels = LabelModel()
    X = tune_subword_weight(features, X, targets)
    step("features", 1, 1)
    try:
        labels.fit(X[: len(labelled)], targets, progress=lambda d, t: step("labels", d, t))
    except ValueError as exc:
        raise UserError(f"Cannot train on {dataset.source}: {exc}.") from None
    rows = [i for i, e in enumerate(everything) if e.opportunity is not None]
    answers = [bool(everything[i].opportunity) for i in rows]
    opportunity = None
    if rows and 0 < sum(answers) < len(answers):
        step("opportunity", 0, 1)
        opportunity = OpportunityModel().fit(X[rows], answers)
        step("opportunity", 1, 1)
    info = new_info(
        labels=[str(label) for label in labels.labels_],
        multilabel=dataset.multilabel,
        text_fields=list(dataset.text_fields),
        label_field=dataset.label_field,
        examples=len(labelled),
        opportunity_examples=len(rows) if opportunity is not None else 0,
        feedback_examples=len(extra),
        data=[dataset.source, *sources],
        data_sha256=_digest(dataset, extra),
        params={
            "features": features.get_params(),
            "labels": labels.get_params(),
            "opportunity": opportunity.get_params() if opportunity is not None else None,
        },
    )
    return TaggingModel(features=features, labels=labels, opportunity=opportunity, info=info)


def tune_subword_weight(
    features: TextFeatures, X: sp.csr_matrix, targets: Sequence[Any]
) -> sp.csr_matrix:
    """Set the sub-word block's weight for training on `targets`; return X reweighted."""
    n_words = int(features.word_idf_.size)
    if features.char_idf_.size == 0 or not features.char_weight:
        return X
    best = subword_weight(targets, float(features.char_weight))
    if best == features.char_weight:
        return X
    scale = np.ones(X.shape[1])
    scale[n_words:] = best / float(features.char_weight)
    features.char_weight = best
    return sp.csr_matrix(X @ sp.diags(scale))


def build_default_model(path: str | Path = DEFAULT_MODEL_PATH) -> Path:
    """Train on the seed set and save the bundled default model."""
    seed = seed_dataset()
    model = train_model(seed)
    model.info["data"] = ["classifiers/data/seed.jsonl"]
    model.info["data_sha256"] = seed.sha256
    return save_model(model, path)


def _digest(dataset: Dataset, extra: Sequence[Example]) -> str:
    if not extra:
        return dataset.sha256
    h = hashlib.sha256(dataset.sha256.encode())
    for e in extra:
        h.update(f"{e.text}\x00{'|'.join(e.labels)}\x00{e.opportunity}\x01".encode())
    return h.hexdigest()


def _stepper(progress: Progress | None) -> Progress:
    return progress if progress is not None else (lambda stage, done, total: None)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL_PATH
    print(f"wrote {build_default_model(target)}")
