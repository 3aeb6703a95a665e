"""What is particular to the embedded backend: the store is the index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.items import Article
from watch.config import Config, Settings
from watch.search import open_backend
from watch.search.backend import SearchQuery
from watch.search.sqlite import SqliteBackend, mark_html
from watch.store import Store

BODY = " ".join(f"word{i}" for i in range(80))


def _article(url: str, **kw: object) -> Article:
    fields: dict[str, object] = {
        "source": "blog",
        "title": "Title",
        "text": BODY,
        "content_hash": url,
    }
    fields.update(kw)
    return Article(url=url, canonical_url=url, **fields)  # type: ignore[arg-type]


def _facts(store: Store, item_id: int) -> dict[str, object] | None:
    row = store.conn.execute("SELECT * FROM search_facts WHERE id = ?", (item_id,)).fetchone()
    return dict(row) if row else None


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "veille.db")


def test_search_facts_follow_inserts_updates_and_deletes(store: Store) -> None:
    first = store.upsert(
        _article("https://a.test/1", published=datetime(2024, 3, 5, 8, tzinfo=UTC))
    )
    facts = _facts(store, first.item_id)
    assert facts is not None
    assert (facts["source"], facts["date"], facts["day"]) == (
        "blog",
        "2024-03-05T08:00:00+00:00",
        "2024-03-05",
    )
    assert facts["cluster"] == first.item_id
    copy = store.upsert(_article("https://b.test/copy", source="wire", text=BODY + " extra"))
    assert _facts(store, copy.item_id)["cluster"] == first.item_id  # type: ignore[index]
    store.set_tags(first.item_id, ["pricing"], 0.9)
    assert _facts(store, first.item_id)["opportunity"] == 0.9  # type: ignore[index]
    store.delete([first.item_id])
    assert _facts(store, first.item_id) is None


def test_undated_items_take_their_first_seen_day(store: Store) -> None:
    result = store.upsert(_article("https://a.test/undated"))
    item = store.get(result.item_id)
    assert item is not None
    assert _facts(store, result.item_id)["day"] == item.first_seen.strftime("%Y-%m-%d")  # type: ignore[index]


def test_index_and_delete_have_nothing_to_do_but_search_follows_the_store(store: Store) -> None:
    backend = SqliteBackend(store)
    result = store.upsert(_article("https://a.test/1", title="Espresso machines"))
    assert backend.index(store.iter_items()) == {}
    assert backend.count(SearchQuery(text="espresso")) == 1
    store.delete([result.item_id])
    backend.delete([result.item_id])
    assert backend.count(SearchQuery(text="espresso")) == 0


def test_open_backend_picks_sqlite_by_default(store: Store, tmp_path: Path) -> None:
    config = Config(path=tmp_path / "veille.yaml", settings=Settings(), sources=[])
    assert isinstance(open_backend(config, store), SqliteBackend)


def test_mark_html_escapes_before_marking() -> None:
    assert mark_html('\x02<b>\x03 & "x"') == "<mark>&lt;b&gt;</mark> &amp; &quot;x&quot;"


def test_title_matches_outrank_summary_matches_outrank_text_matches(store: Store) -> None:
    filler = " ".join(f"filler{i}" for i in range(30))
    store.upsert(_article("https://a.test/t", title="Pricing", summary=filler, text=filler))
    store.upsert(
        _article("https://a.test/s", title="Other", summary="pricing " + filler, text=filler)
    )
    store.upsert(
        _article("https://a.test/x", title="Other", summary=filler, text="pricing " + filler)
    )
    hits = SqliteBackend(store).search(SearchQuery(text="pricing")).hits
    assert [h.url.rsplit("/", 1)[1] for h in hits] == ["t", "s", "x"]
