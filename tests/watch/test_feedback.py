"""Users' corrections: recorded in the store, applied on top of tagging, never lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifiers.model import read_info
from crawler.items import Article
from watch import feedback
from watch.cli import cli
from watch.config import Config, load_config
from watch.errors import UserError
from watch.feedback import Corrections, FeedbackIndex
from watch.store import Store
from watch.tagging import Tagger, trained_model_path

URL = "https://retail-news.example/sunday-delivery"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A watch with an empty store, the default taxonomy and the bundled model."""
    (tmp_path / "veille.yaml").write_text("data_dir: data\n")
    return load_config(tmp_path / "veille.yaml")


def _crawl(config: Config, store: Store, body: str) -> int:
    """What the crawl pipeline does with one article: tag it, then store it."""
    article = Article(
        url=URL,
        canonical_url=URL,
        source="retail-news",
        title="Parcel carrier opens Sunday delivery across France",
        summary="The service is open to all online shops from next month at weekday prices.",
        text=body,
        content_hash=str(hash(body)),
    )
    Tagger.from_config(config).tag(article)
    return store.upsert(article).item_id


def _label(config: Config, *args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        cli, ["label", *args, "--json", "--config", str(config.path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_corrections_apply_on_top_of_tags() -> None:
    c = Corrections(added={"regulation"}, removed={"logistics"}, opportunity=False)
    tags, score, reasons = c.apply(
        ["logistics", "opportunity"], 0.9, {"logistics": ["model"], "opportunity": ["m"]}, 0.5
    )
    assert tags == ["regulation"] and score == 0.0
    assert reasons == {"regulation": [feedback.USER_REASON]}
    tags, score, _ = Corrections(opportunity=True).apply([], 0.1, {}, 0.5)
    assert tags == ["opportunity"] and score == 1.0


def test_label_records_and_applies_at_once(config: Config) -> None:
    with Store(config.db_path) as store:
        item_id = _crawl(config, store, "First version of the story.")
        assert "logistics" in store.get(item_id).tags
    out = _label(config, str(item_id), "--add", "regulation", "--remove", "logistics",
                 "--opportunity", "no")  # fmt: skip
    assert "regulation" in out["tags"] and "logistics" not in out["tags"]
    assert out["opportunity"] == 0.0
    with Store(config.db_path) as store:
        stored = store.get(item_id)
        assert stored.tags == out["tags"]
        assert stored.tag_reasons["regulation"] == [feedback.USER_REASON]
        rows = store.conn.execute("SELECT action, tag, value FROM feedback").fetchall()
        assert [tuple(r) for r in rows] == [
            ("add", "regulation", None),
            ("remove", "logistics", None),
            ("opportunity", None, 0),
        ]


def test_corrections_survive_a_recrawl(config: Config) -> None:
    with Store(config.db_path) as store:
        item_id = _crawl(config, store, "First version of the story.")
        feedback.record(store, item_id, add=["regulation"], remove=["logistics"], opportunity=True)
        # The page changed: the crawl re-tags it from scratch, then stores it.
        assert _crawl(config, store, "Second, longer version of the story.") == item_id
        stored = store.get(item_id)
    assert "regulation" in stored.tags and "logistics" not in stored.tags
    assert "opportunity" in stored.tags and stored.opportunity == 1.0


def test_corrections_survive_retrain_and_retag(config: Config) -> None:
    with Store(config.db_path) as store:
        item_id = _crawl(config, store, "Body.")
        feedback.record(store, item_id, add=["regulation"], remove=["logistics"], opportunity=False)
    runner = CliRunner()
    args = ["--config", str(config.path), "--json"]
    trained = runner.invoke(cli, ["train", *args], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["corrections"] == 1
    info = read_info(trained_model_path(config))
    assert info["feedback_examples"] == 1 and info["examples"] > 400
    retagged = runner.invoke(cli, ["retag", *args], catch_exceptions=False)
    assert retagged.exit_code == 0, retagged.output
    with Store(config.db_path) as store:
        stored = store.get(item_id)
        assert "regulation" in stored.tags and "logistics" not in stored.tags
        assert stored.opportunity == 0.0
        assert store.conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 3


def test_corrections_outlive_the_item(config: Config) -> None:
    with Store(config.db_path) as store:
        item_id = _crawl(config, store, "Body.")
        feedback.record(store, item_id, add=["seo"])
        store.delete([item_id])
        assert FeedbackIndex.from_store(store).get(URL) == Corrections(added={"seo"})
        # Crawled again, the item gets its correction back.
        new_id = _crawl(config, store, "Body.")
        assert "seo" in store.get(new_id).tags


def test_bad_corrections_are_user_errors(config: Config) -> None:
    with Store(config.db_path) as store:
        item_id = _crawl(config, store, "Body.")
        with pytest.raises(UserError, match="No item with id 999"):
            feedback.record(store, 999, add=["seo"])
        with pytest.raises(UserError, match="both add and remove seo"):
            feedback.record(store, item_id, add=["seo"], remove=["seo"])
        with pytest.raises(UserError, match="Nothing to record"):
            feedback.record(store, item_id)


def test_crawl_workers_read_corrections_without_writing(tmp_path: Path) -> None:
    assert len(FeedbackIndex.from_path(tmp_path / "none.db")) == 0
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE items (id INTEGER)").connection.close()
    assert len(FeedbackIndex.from_path(old)) == 0  # a store from before migration 0003
