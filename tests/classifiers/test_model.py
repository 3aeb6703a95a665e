"""Model files: versioned, safe to load, and refused clearly when corrupt or incompatible."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import skops.io as sio

from classifiers.dataset import SEED_PATH, seed_dataset
from classifiers.model import (
    ARRAYS_ENTRY,
    DEFAULT_MODEL_PATH,
    INFO_ENTRY,
    ModelError,
    load_model,
    read_info,
    save_model,
)
from classifiers.taxonomy import default_taxonomy
from classifiers.training import train_model
from tests.fresh_python import run_snippet
from watch.errors import UserError


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on the seed set and saved."""
    path = tmp_path_factory.mktemp("model") / "m.skops"
    save_model(train_model(seed_dataset()), path)
    return path


def _without_entry(src: Path, dst: Path, name: str) -> Path:
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for entry in old.namelist():
            if entry != name:
                new.writestr(entry, old.read(entry))
    return dst


def _rewrite_info(src: Path, dst: Path, **changes: object) -> Path:
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for entry in old.namelist():
            data = old.read(entry)
            if entry == INFO_ENTRY:
                data = json.dumps({**json.loads(data), **changes}).encode()
            new.writestr(entry, data)
    return dst


def test_saved_model_loads_and_predicts_the_same(saved: Path) -> None:
    model = train_model(seed_dataset())
    loaded = load_model(saved)
    texts = ["Google core update hits rankings", "", "Wero arrive sur les sites marchands"]
    before = [(p.labels, round(p.opportunity, 6)) for p in model.predict(texts)]
    after = [(p.labels, round(p.opportunity, 6)) for p in loaded.predict(texts)]
    assert before == after
    info = loaded.info
    assert info["sklearn_version"] and info["model_version"] and info["format_version"] == 1
    assert info["labels"] == loaded.label_names


def test_shipped_default_model_is_built_from_the_current_seed_set() -> None:
    info = read_info(DEFAULT_MODEL_PATH)
    seed_hash = hashlib.sha256(SEED_PATH.read_bytes()).hexdigest()
    assert info["data_sha256"] == seed_hash, (
        "the seed set changed: rebuild the model with `python -m classifiers.training`"
    )
    assert sorted(info["labels"]) == sorted(default_taxonomy().topic_names)
    assert DEFAULT_MODEL_PATH.stat().st_size < 1_000_000
    assert load_model().opportunity is not None


def test_a_corrupt_file_is_a_clear_user_error(tmp_path: Path, saved: Path) -> None:
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"\x00not a zip at all" * 50)
    with pytest.raises(ModelError, match="corrupt or not a model"):
        load_model(garbage)
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(truncated)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.skops")
    assert issubclass(ModelError, UserError)


def test_a_model_from_an_incompatible_version_is_refused(tmp_path: Path, saved: Path) -> None:
    old = _rewrite_info(saved, tmp_path / "old.skops", sklearn_version="0.24.2")
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2, incompatible.*veille train"):
        load_model(old)
    future = _rewrite_info(saved, tmp_path / "future.skops", format_version=99)
    with pytest.raises(ModelError, match="format 99 is not supported"):
        load_model(future)


def test_a_skops_file_that_is_not_a_veille_model_is_refused(tmp_path: Path, saved: Path) -> None:
    plain = tmp_path / "plain.skops"
    sio.dump({"weights": [1, 2, 3]}, plain)
    with pytest.raises(ModelError, match="no version record"):
        load_model(plain)


class Intruder:
    """A type no Veille model contains."""


def test_a_model_file_with_unexpected_types_is_not_loaded(tmp_path: Path, saved: Path) -> None:
    evil = tmp_path / "evil.skops"
    sio.dump({"labels": Intruder()}, evil)
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(evil, "a") as dst:
        dst.writestr(INFO_ENTRY, src.read(INFO_ENTRY))
    with pytest.raises(ModelError, match=r"unexpected types.*Intruder"):
        load_model(evil)


TEXTS = ["Google core update hits rankings", "", "Wero arrive sur les sites marchands"]


def _view(model) -> list[tuple[list[str], dict[str, float], float | None]]:
    return [(p.labels, p.scores, p.opportunity) for p in model.predict(TEXTS)]


def test_the_arrays_entry_and_the_skops_state_predict_the_same(tmp_path: Path, saved: Path) -> None:
    from_arrays = load_model(saved)
    from_skops = load_model(_without_entry(saved, tmp_path / "older.skops", ARRAYS_ENTRY))
    assert type(from_skops.labels).__name__ == "LabelModel"
    assert type(from_arrays.labels).__name__ == "LinearLabels"
    assert _view(from_arrays) == _view(from_skops)
    assert from_arrays.explain(TEXTS[0]) == from_skops.explain(TEXTS[0])


def test_tagging_and_crawling_do_not_import_scikit_learn() -> None:
    # Importing it costs about 0.7 s of CPU (1.2 s with skops): only training needs it.
    code = (
        "import sys, watch.commands.tagging, crawler.pipelines, watch.crawl; "
        "from classifiers.model import load_model; load_model().predict(['x']); "
        "print(sorted(m for m in ('sklearn', 'skops') if m in sys.modules))"
    )
    assert run_snippet(code).strip() == "[]"


def test_a_corrupt_arrays_entry_is_a_clear_user_error(tmp_path: Path, saved: Path) -> None:
    broken = _without_entry(saved, tmp_path / "broken.skops", ARRAYS_ENTRY)
    with zipfile.ZipFile(broken, "a") as archive:
        archive.writestr(ARRAYS_ENTRY, b"PK\x03\x04 not arrays")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(broken)


def test_a_model_loaded_for_tagging_can_be_saved_again(tmp_path: Path, saved: Path) -> None:
    again = save_model(load_model(saved), tmp_path / "again.skops")
    assert _view(load_model(again)) == _view(load_model(saved))
    older = _without_entry(again, tmp_path / "older.skops", ARRAYS_ENTRY)
    assert _view(load_model(older)) == _view(load_model(saved))
