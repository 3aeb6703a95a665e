"""The saved tagging model: text features, a label model, an optional opportunity model.

Saved with skops, which stores arrays and plain state instead of pickles and
refuses to build any type not on the allow-list below. Beside skops' own
entries, the file carries:

* ``veille-model.json``: the version record (format, model version,
  scikit-learn version, labels, training data). It is read first, so a model
  from an incompatible version is refused with a clear message before
  anything is built;
* ``veille-arrays.npz``: the same fitted state as plain numpy arrays (read
  with ``allow_pickle=False``), which is all that tagging needs. Loading it
  takes numpy and scipy only: importing scikit-learn and skops alone costs
  about 1.2 s of CPU, paid at the start of every crawl and tagging command
  before this entry existed. Files written before it load through skops.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.linear import LinearLabels, LinearScore
from classifiers.vectors import CHAR_PREFIX, TextVectors
from watch.errors import UserError

FORMAT = "veille-tagging-model"
FORMAT_VERSION = 1
INFO_ENTRY = "veille-model.json"
ARRAYS_ENTRY = "veille-arrays.npz"
DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "default.skops"
# The only non-standard types a model file may contain.
TRUSTED_TYPES = [
    "classifiers.features.TextFeatures",
    "classifiers.labels.LabelModel",
    "classifiers.opportunity.OpportunityModel",
    "classifiers.vectors.TextVectors",
    "classifiers.linear.LinearLabels",
    "classifiers.linear.LinearScore",
]
# What the arrays entry keeps of each part: the features' parameters (as JSON), then
# each part's fitted attributes (arrays, and scalars as 0-d arrays).
FEATURE_PARAMS = (
    "word_ngrams",
    "prefixes",
    "char_ngrams",
    "char_weight",
    "min_df",
    "sublinear_tf",
    "max_chars",
    "binary",
)
FEATURE_STATE = ("word_terms_", "word_idf_", "char_terms_", "char_idf_")
LABEL_STATE = ("labels_", "weights_", "intercept_", "multilabel_", "at_least_one")
SCORE_STATE = ("weights_", "intercept_", "slope_", "offset_")


class ModelError(UserError):
    """A model file that cannot be used: missing, corrupt, or from an incompatible version."""


@dataclass
class Prediction:
    """What the model says about one text."""

    labels: list[str]
    scores: dict[str, float]
    opportunity: float | None


@dataclass
class TaggingModel:
    """Features plus the models that read them, and the record of how they were made."""

    features: TextVectors
    labels: LinearLabels
    opportunity: LinearScore | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label_names(self) -> list[str]:
        """The labels this model predicts."""
        return [str(label) for label in self.labels.labels_]

    @property
    def text_fields(self) -> tuple[str, ...]:
        """The item fields the model was trained on, in order."""
        return tuple(self.info.get("text_fields") or ("title", "summary", "text"))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Labels, per-label margins and the opportunity probability for each text."""
        X = self.features.transform(texts)
        scores = self.labels.decision_function(X)
        labels = self.labels.labels_from_scores(scores)
        chances = self.opportunity.probability(X) if self.opportunity is not None else None
        names = self.label_names
        return [
            Prediction(
                labels=[str(label) for label in labels[i]],
                scores={name: float(s) for name, s in zip(names, scores[i], strict=True)},
                opportunity=None if chances is None else float(chances[i]),
            )
            for i in range(len(texts))
        ]

    def explain(self, text: str, k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """Top weighted terms of `text` for each predicted label and for 'opportunity'."""
        X = self.features.transform([text])
        names = self.features.feature_names()
        scores = self.labels.decision_function(X)
        out = {
            str(label): [
                (display_term(t), w) for t, w in self.labels.top_terms(X, str(label), names, k)
            ]
            for label in self.labels.labels_from_scores(scores)[0]
        }
        if self.opportunity is not None:
            out["opportunity"] = [
                (display_term(t), w) for t, w in self.opportunity.top_terms(X, names, k)
            ]
        return out


def display_term(name: str) -> str:
    """A feature name as people read it: sub-word stems as 'paiem*'."""
    if not name.startswith(CHAR_PREFIX):
        return name
    unit = name[len(CHAR_PREFIX) :]
    if unit.startswith(" ") and not unit.endswith(" "):
        return unit.strip() + "*"
    return "~" + unit.replace(" ", "_") + "~"


def describe_versions() -> dict[str, str]:
    """The library versions a model records."""
    return {
        "sklearn_version": _sklearn_version(),
        "skops_version": installed_version("skops"),
        "numpy_version": np.__version__,
    }


def new_info(**fields: Any) -> dict[str, Any]:
    """A version record for a freshly trained model."""
    created = datetime.now(UTC)
    digest = str(fields.get("data_sha256", ""))[:8] or "nodata"
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_version": f"{created:%Y%m%d-%H%M%S}-{digest}",
        "created_at": created.isoformat(timespec="seconds"),
        **describe_versions(),
        **fields,
    }


def save_model(model: TaggingModel, path: str | Path) -> Path:
    """Write the model with skops, plus its version record and arrays; return the path."""
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"features": model.features, "labels": model.labels, "opportunity": model.opportunity}
    tmp = path.with_name(path.name + ".tmp")
    sio.dump(state, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(INFO_ENTRY, json.dumps(model.info, indent=2, default=str))
        archive.writestr(ARRAYS_ENTRY, _arrays_of(model))
    # Replace atomically: a crash mid-write never leaves a half-written model in use.
    tmp.replace(path)
    return path


def read_info(path: str | Path) -> dict[str, Any]:
    """The version record of a model file, checked for compatibility."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: model file not found. Run `veille train` to make one.")
    try:
        with zipfile.ZipFile(path) as archive:
            info = json.loads(archive.read(INFO_ENTRY))
    except KeyError:
        raise ModelError(
            f"{path}: not a Veille tagging model (no version record). "
            "Train one with `veille train --model-out PATH`."
        ) from None
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError, EOFError) as exc:
        raise ModelError(
            f"{path}: the model file is corrupt or not a model ({exc}). "
            "Retrain it with `veille train`, or remove it to use the bundled default model."
        ) from None
    _check_compatible(path, info)
    return info


def load_model(path: str | Path | None = None) -> TaggingModel:
    """Load a model file (default: the bundled one), refusing corrupt or incompatible files."""
    path = Path(path) if path is not None else DEFAULT_MODEL_PATH
    info = read_info(path)
    try:
        with zipfile.ZipFile(path) as archive:
            packed = archive.read(ARRAYS_ENTRY) if ARRAYS_ENTRY in archive.namelist() else None
        if packed is not None:
            return _model_from_arrays(packed, info)
    except Exception as exc:
        raise ModelError(
            f"{path}: the model file is corrupt ({type(exc).__name__}: {exc}). "
            "Retrain it with `veille train`, or remove it to use the bundled default model."
        ) from None
    return _load_with_skops(path, info)


def _load_with_skops(path: Path, info: dict[str, Any]) -> TaggingModel:
    """A model file written before the arrays entry existed: build it with skops."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
        unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if unexpected:
            raise ModelError(
                f"{path}: refusing to load a model containing unexpected types "
                f"({', '.join(unexpected)}). Only models written by `veille train` are accepted."
            )
        with warnings.catch_warnings():
            # Our state is plain arrays, so a minor scikit-learn change is harmless.
            warnings.simplefilter("ignore")
            state = sio.load(path, trusted=untrusted)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{path}: cannot load the model ({type(exc).__name__}: {exc}). It was made with "
            f"scikit-learn {info.get('sklearn_version', '?')}; this is {_sklearn_version()}. "
            "Retrain it with `veille train`."
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("labels"), LinearLabels):
        raise ModelError(f"{path}: not a Veille tagging model (unexpected content).")
    return TaggingModel(
        features=state["features"],
        labels=state["labels"],
        opportunity=state.get("opportunity"),
        info=info,
    )


def _check_compatible(path: Path, info: Any) -> None:
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ModelError(f"{path}: not a Veille tagging model (unknown format).")
    version = info.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelError(
            f"{path}: model format {version!r} is not supported by this Veille "
            f"(it reads format {FORMAT_VERSION}). Retrain it with `veille train`, "
            "or upgrade Veille."
        )
    made_with = str(info.get("sklearn_version", ""))
    if _major(made_with) != _major(_sklearn_version()):
        raise ModelError(
            f"{path}: made with scikit-learn {made_with or 'unknown'}, incompatible with the "
            f"installed {_sklearn_version()}. Retrain it with `veille train`."
        )


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _sklearn_version() -> str:
    # Read from the package metadata: importing scikit-learn to ask costs 0.6 s.
    return installed_version("scikit-learn")


def _arrays_of(model: TaggingModel) -> bytes:
    """The fitted state of every part as one .npz (arrays, and scalars as 0-d arrays)."""
    parts: list[tuple[str, Any, Sequence[str]]] = [
        ("features", model.features, FEATURE_STATE),
        ("labels", model.labels, LABEL_STATE),
    ]
    if model.opportunity is not None:
        parts.append(("opportunity", model.opportunity, SCORE_STATE))
    arrays = {
        f"{part}.{name}": np.asarray(getattr(obj, name))
        for part, obj, names in parts
        for name in names
    }
    params = {name: getattr(model.features, name) for name in FEATURE_PARAMS}
    arrays["features.params"] = np.asarray(json.dumps(params))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _model_from_arrays(packed: bytes, info: dict[str, Any]) -> TaggingModel:
    """Rebuild the predicting parts from the arrays entry (no scikit-learn involved)."""
    with np.load(io.BytesIO(packed), allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    params = json.loads(str(arrays.pop("features.params")))
    for key in ("prefixes", "char_ngrams"):
        if params.get(key) is not None:
            params[key] = tuple(params[key])
    features = TextVectors(**params)
    labels = LinearLabels()
    opportunity = LinearScore() if "opportunity.weights_" in arrays else None
    for name, value in arrays.items():
        part, attribute = name.split(".", 1)
        target = {"features": features, "labels": labels, "opportunity": opportunity}[part]
        setattr(target, attribute, value.item() if value.ndim == 0 else value)
    return TaggingModel(features=features, labels=labels, opportunity=opportunity, info=info)
