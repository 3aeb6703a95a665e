"""`veille classify`, `train`, `evaluate`, `retag` and `label` on real files and a real store."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from classifiers.dataset import SEED_PATH
from crawler.items import Article
from watch.cli import cli
from watch.errors import UserError
from watch.store import Store


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A watch directory (config + store with three items); the current directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEILLE_CONFIG", raising=False)
    (tmp_path / "veille.yaml").write_text("data_dir: data\n")
    (tmp_path / "taxonomy.yaml").write_text(
        (Path(__file__).parents[2] / "watch" / "starter" / "taxonomy.yaml")
        .read_text()
        .replace("competitors: []", "competitors:\n  - name: Kettle & Co\n    sources: [kettle]")
    )
    with Store(tmp_path / "data" / "veille.db") as store:
        for i, (source, title) in enumerate(
            [
                ("news", "Google confirms a core update for product pages"),
                ("kettle", "Spring sale: up to 30% off cast-iron cookware"),
                ("news", "La DGCCRF sanctionne de faux prix barrés"),
            ]
        ):
            store.upsert(
                Article(
                    url=f"https://x.example/{i}", source=source, title=title, content_hash=str(i)
                )
            )
    return tmp_path


def run(*args: str) -> Result:
    """Invoke the CLI in the current directory."""
    return CliRunner().invoke(cli, list(args))


def as_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def multiclass_csv(tmp_path: Path) -> Path:
    """Seed examples with a single topic, as a CSV with a 'category' column."""
    path = tmp_path / "news.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["headline", "category"])
        for line in SEED_PATH.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if len(row["labels"]) == 1:
                writer.writerow([f"{row['title']}. {row['summary']}", row["labels"][0]])
    return path


def test_classify_text_shows_tags_reasons_and_score(workdir: Path) -> None:
    out = as_json("classify", "Shopify", "adds", "buy", "now,", "pay", "later", "at", "checkout")
    assert {"platforms-tech", "payments"} <= set(out["tags"])
    assert out["reasons"]["platforms-tech"] == ['keyword "Shopify"']
    assert 0 <= out["opportunity"] <= 1 and out["model_version"]
    shown = run("classify", "Google confirms a core update")
    assert shown.exit_code == 0 and "core update" in shown.output and "opportunity" in shown.output


def test_classify_a_stored_item_by_id(workdir: Path) -> None:
    out = as_json("classify", "--id", "2")
    assert "competitor:kettle-co" in out["tags"]
    assert out["reasons"]["competitor:kettle-co"] == ['from source "kettle"']
    assert isinstance(run("classify", "--id", "99").exception, UserError)
    assert isinstance(run("classify").exception, UserError)


def test_retag_tags_every_stored_item(workdir: Path) -> None:
    out = as_json("retag")
    assert out["items"] == 3 and out["changed"] == 3
    assert out["tags"]["seo"] >= 1 and out["tags"]["regulation"] >= 1
    with Store(workdir / "data" / "veille.db") as store:
        assert "seo" in store.get(1).tags and "competitor:kettle-co" in store.get(2).tags
    assert as_json("retag")["changed"] == 0  # nothing new: nothing rewritten


def test_retag_queues_items_for_elasticsearch_when_it_is_down(workdir: Path) -> None:
    with socket.socket() as s:  # a port with nothing listening: Elasticsearch is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (workdir / "veille.yaml").write_text(
        "data_dir: data\nsearch:\n  backend: elasticsearch\n  elasticsearch:\n"
        f"    url: http://127.0.0.1:{port}\n    timeout: 2\n"
    )
    out = as_json("retag")
    assert out["changed"] == 3 and "stay queued" in out["search_index"]
    with Store(workdir / "data" / "veille.db") as store:
        assert sorted(store.pending_index()) == [1, 2, 3]


def test_label_then_show_in_classify(workdir: Path) -> None:
    out = as_json("label", "1", "--add", "advertising", "--opportunity", "yes")
    assert "advertising" in out["tags"] and out["opportunity"] == 1.0
    classified = as_json("classify", "--id", "1")
    assert "advertising" in classified["tags"] and classified["opportunity"] == 1.0
    result = run("label", "1", "--add", "my-own-tag")
    assert result.exit_code == 0 and "not a topic of the taxonomy" in result.output


def test_train_and_evaluate_a_multiclass_file(workdir: Path, multiclass_csv: Path) -> None:
    model = workdir / "agnews-like.skops"
    args = ["--data", str(multiclass_csv), "--text-fields", "headline", "--label-field", "category"]
    trained = as_json("train", *args, "--model-out", str(model))
    assert trained["task"] == "multiclass" and len(trained["labels"]) == 10
    assert model.exists() and trained["opportunity_examples"] == 0
    report = as_json("evaluate", "--model", str(model), *args)
    assert report["task"] == "multiclass" and report["macro_f1"] > 0.9  # its own training data
    assert len(report["confusion"]["matrix"]) == 10
    cv = as_json("evaluate", "--cv", "3", *args)
    assert 0.4 < cv["macro_f1"] < 1 and set(cv["per_label"]) == set(trained["labels"])
    assert len(cv["folds"]) == 3
    # Put to use, the model reads the items' titles for the file's "headline" column.
    (workdir / "veille.yaml").write_text(f"data_dir: data\nclassifier:\n  model_path: {model}\n")
    out = as_json("classify", "Google core update hits rankings of category pages")
    assert out["model_version"] == trained["model_version"] and out["scores"]


def test_evaluate_cross_validates_a_multilabel_file_without_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEILLE_CONFIG", raising=False)
    rows = [json.loads(line) for line in SEED_PATH.read_text(encoding="utf-8").splitlines()]
    data = tmp_path / "tags.jsonl"
    data.write_text(
        "\n".join(json.dumps({"text": r["title"], "tags": "|".join(r["labels"])}) for r in rows)
    )
    out = as_json("evaluate", "--cv", "3", "--data", str(data), "--label-field", "tags")
    assert out["task"] == "multilabel" and out["confusion"] is None
    assert {"macro_f1", "micro_f1", "per_label"} <= set(out) and out["macro_f1"] > 0.5
    table = run("evaluate", "--cv", "3", "--data", str(data))
    assert table.exit_code == 0 and "macro avg" in table.output


def test_evaluate_compares_with_the_baseline_on_the_same_folds(
    workdir: Path, multiclass_csv: Path
) -> None:
    args = ["--data", str(multiclass_csv), "--text-fields", "headline"]
    out = as_json("evaluate", "--cv", "3", "--baseline", *args)
    c = out["comparison"]
    assert c["baseline"].startswith("TF-IDF") and len(c["baseline_folds"]) == 3
    assert c["macro_f1_gain"] == pytest.approx(out["macro_f1"] - c["baseline_macro_f1"])
    assert c["train_time_ratio"] > 0
    table = run("evaluate", "--cv", "3", "--baseline", *args)
    assert (
        table.exit_code == 0
        and "training time" in table.output
        and "Veille: macro-F1" in table.output
    )
    assert "--cv" in str(run("evaluate", "--baseline", *args).exception)


def test_a_broken_config_is_reported_even_where_a_config_is_optional(workdir: Path) -> None:
    (workdir / "veille.yaml").write_text("data_dir: data\nstore: veille.db\n")
    for args in (["classify", "hello"], ["evaluate", "--cv", "2"]):
        result = run(*args)
        assert isinstance(result.exception, UserError), result.output
        assert "line 2: field 'store': is not a known setting" in str(result.exception)


def test_default_evaluate_scores_the_model_in_use_on_the_seed_set(workdir: Path) -> None:
    out = as_json("evaluate")
    assert out["task"] == "multilabel" and out["examples"] > 400
    assert "model" in out["evaluated"]
    assert isinstance(run("evaluate", "--cv", "3", "--model", "x").exception, UserError)


def test_a_corrupt_model_is_one_clear_error_and_no_traceback(workdir: Path) -> None:
    (workdir / "broken.skops").write_bytes(b"not a model")
    (workdir / "veille.yaml").write_text(
        "data_dir: data\nclassifier:\n  model_path: broken.skops\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from watch.cli import main; main()", "classify", "hello"],
        capture_output=True, text=True, timeout=120, cwd=workdir,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "broken.skops: the model file is corrupt" in proc.stderr
    assert "Traceback" not in proc.stderr
