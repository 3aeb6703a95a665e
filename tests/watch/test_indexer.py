"""The store's outbox keeps Elasticsearch in step, and loses nothing when it is down."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crawler.items import Article
from tests.crawler.helpers import feed, make_config
from tests.elasticsearch_node import (
    ElasticsearchNode,
    NodeUnavailable,
    free_port,
    throwaway_settings,
)
from tests.httpserver import FixtureServer
from watch import indexer
from watch.cli import cli
from watch.config import (
    Config,
    ElasticsearchSettings,
    SearchSettings,
    Settings,
    Source,
    load_config,
)
from watch.crawl import run_crawl
from watch.errors import UserError
from watch.search import open_backend
from watch.search.backend import SearchQuery
from watch.search.elastic import ElasticBackend
from watch.store import Store


def _article(n: int, text: str = "") -> Article:
    body = text or f"Report {n} on marketplace fees " + " ".join(f"t{n}y{i}" for i in range(60))
    url = f"https://shop.example/{n}"
    return Article(
        url=url,
        canonical_url=url,
        source="shop",
        category="competitor",
        title=f"Item {n}",
        text=body,
        published=datetime(2024, 4, 1 + n % 25, tzinfo=UTC),
        language="en",
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
    )


def _config(tmp_path: Path, es: ElasticsearchSettings | None) -> Config:
    search = SearchSettings(backend="elasticsearch", elasticsearch=es) if es else SearchSettings()
    return Config(
        path=tmp_path / "veille.yaml",
        settings=Settings(data_dir=tmp_path, search=search),
        sources=[],
    )


def _crawl(store: Store, config: Config, start: int, count: int) -> list[int]:
    """Store articles as the crawler does: upsert, then queue for the search engine."""
    ids = [store.upsert(_article(n)).item_id for n in range(start, start + count)]
    indexer.enqueue_changed(config, store, ids)
    return ids


def _indexed_ids(backend: ElasticBackend) -> set[int]:
    backend.refresh()
    found = backend.client.search(index=backend.alias, size=1000, source=False)
    return {int(h["_id"]) for h in found["hits"]["hits"]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "veille.db") as s:
        yield s


@pytest.fixture
def es_settings(elasticsearch_url: str) -> Iterator[ElasticsearchSettings]:
    settings = throwaway_settings(elasticsearch_url, "outbox")
    yield settings
    ElasticBackend(settings).drop()


def test_embedded_backend_queues_and_sends_nothing(tmp_path: Path, store: Store) -> None:
    config = _config(tmp_path, None)
    _crawl(store, config, 0, 3)
    assert store.pending_index_count() == 0
    assert indexer.sync_pending(config, store) == 0


@pytest.mark.elasticsearch
def test_sync_sends_the_outbox_and_clears_it(
    tmp_path: Path, store: Store, es_settings: ElasticsearchSettings
) -> None:
    config = _config(tmp_path, es_settings)
    ids = _crawl(store, config, 0, 5)
    assert store.pending_index_count() == 5
    assert indexer.sync_pending(config, store) == 5
    assert store.pending_index_count() == 0
    backend = ElasticBackend(es_settings)
    assert _indexed_ids(backend) == set(ids)
    # An updated item is queued again and its new text becomes searchable.
    changed = store.upsert(_article(0, text="Amazon doubles the storage fees for sellers"))
    indexer.enqueue_changed(config, store, [changed.item_id])
    assert indexer.sync_pending(config, store) == 1
    hits = backend.search(SearchQuery(text="storage fees")).hits
    assert [h.id for h in hits] == [changed.item_id]


@pytest.mark.elasticsearch
def test_items_deleted_from_the_store_leave_the_index(
    tmp_path: Path, store: Store, es_settings: ElasticsearchSettings
) -> None:
    config = _config(tmp_path, es_settings)
    ids = _crawl(store, config, 0, 3)
    indexer.sync_pending(config, store)
    store.delete([ids[1]])
    store.enqueue_index([ids[1]])
    report = indexer.sync(config, store)
    assert (report.removed, report.pending) == (1, 0)
    assert _indexed_ids(ElasticBackend(es_settings)) == {ids[0], ids[2]}


def test_unreachable_engine_keeps_every_item_queued(tmp_path: Path, store: Store) -> None:
    # A real refused connection: nothing listens on this loopback port.
    down = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    config = _config(tmp_path, down)
    _crawl(store, config, 0, 4)
    report = indexer.sync(config, store)
    assert report.sent == 0 and report.pending == 4
    assert report.error and "unavailable" in report.error
    rows = store.conn.execute("SELECT attempts, last_error FROM index_outbox").fetchall()
    assert all(r["attempts"] == 1 and "unavailable" in r["last_error"] for r in rows)
    with pytest.raises(UserError, match="outbox"):
        indexer.sync_pending(config, store)
    assert store.pending_index_count() == 4


@pytest.mark.elasticsearch
def test_rejected_items_stay_queued_with_the_reason(
    tmp_path: Path, store: Store, es_settings: ElasticsearchSettings
) -> None:
    backend = ElasticBackend(es_settings)
    # A conflicting index made by hand: Elasticsearch refuses documents whose
    # `language` is not a number, which is every one here but the first.
    backend.client.indices.create(
        index=f"{es_settings.index}-v1",
        mappings={"properties": {"language": {"type": "integer"}}},
        aliases={es_settings.index: {"is_write_index": True}},
    )
    config = _config(tmp_path, es_settings)
    first = store.upsert(_article(0)).item_id
    store.conn.execute("UPDATE items SET language = '7' WHERE id = ?", (first,))
    ids = [first, *_crawl(store, config, 1, 2)]
    store.enqueue_index(ids)
    report = indexer.sync(config, store)
    assert report.sent == 1 and set(report.rejected) == set(ids[1:])
    assert store.pending_index(limit=10) == ids[1:]
    reasons = [r[0] for r in store.conn.execute("SELECT last_error FROM index_outbox")]
    assert all("language" in reason for reason in reasons)


@pytest.fixture
def stoppable_node(elasticsearch_node: ElasticsearchNode | None) -> Iterator[ElasticsearchNode]:
    """A node the test may stop: the session's own, or a second one beside a given cluster."""
    if elasticsearch_node is not None:
        yield elasticsearch_node
        # Leave it running for the tests that follow, whatever happened.
        elasticsearch_node.start()
        return
    node = ElasticsearchNode()
    try:
        node.start()
    except NodeUnavailable as exc:
        pytest.fail(f"a second test node did not start: {exc}")
    yield node
    node.remove()


@pytest.mark.elasticsearch
def test_node_stopped_mid_crawl_loses_nothing(
    tmp_path: Path, store: Store, stoppable_node: ElasticsearchNode
) -> None:
    """Index part, stop the node, store more, sync fails and keeps them, restart, sync."""
    settings = throwaway_settings(stoppable_node.url, "outage").model_copy(update={"timeout": 5})
    config = _config(tmp_path, settings)
    try:
        first = _crawl(store, config, 0, 10)
        assert indexer.sync_pending(config, store) == 10
        stoppable_node.stop()
        more = _crawl(store, config, 10, 15)
        with pytest.raises(UserError, match="unavailable"):
            indexer.sync_pending(config, store)
        assert sorted(store.pending_index(limit=100)) == sorted(more)
        stoppable_node.start()
        assert indexer.sync_pending(config, store) == 15
        assert store.pending_index_count() == 0
        assert _indexed_ids(ElasticBackend(settings)) == set(first + more)
    finally:
        stoppable_node.start()
        ElasticBackend(settings).drop()


def _write_config(tmp_path: Path, es: ElasticsearchSettings) -> Path:
    path = tmp_path / "veille.yaml"
    search = {"backend": "elasticsearch", "elasticsearch": es.model_dump(exclude_none=True)}
    path.write_text(yaml.safe_dump({"data_dir": "data", "search": search}))
    return path


@pytest.mark.elasticsearch
def test_reindex_pending_sends_the_backlog(
    tmp_path: Path, es_settings: ElasticsearchSettings
) -> None:
    path = _write_config(tmp_path, es_settings)
    config = load_config(path)
    with Store(config.db_path) as store:
        ids = _crawl(store, config, 0, 6)
    result = CliRunner().invoke(cli, ["reindex", "--pending", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["sent"], report["pending"], report["error"]) == (6, 0, None)
    assert _indexed_ids(ElasticBackend(es_settings)) == set(ids)


@pytest.mark.elasticsearch
def test_reindex_builds_a_new_index_and_switches_the_alias(
    tmp_path: Path, es_settings: ElasticsearchSettings
) -> None:
    path = _write_config(tmp_path, es_settings)
    config = load_config(path)
    backend = ElasticBackend(es_settings)
    with Store(config.db_path) as store:
        ids = _crawl(store, config, 0, 8)
        indexer.sync_pending(config, store)
        # Stored while no engine was listening: the rebuild must include it anyway.
        late = _crawl(store, config, 8, 1)
    result = CliRunner().invoke(cli, ["reindex", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "veille-test-outbox" in result.output and "-v2" in result.output
    assert backend.indices() == [f"{es_settings.index}-v2"]
    assert _indexed_ids(backend) == set(ids + late)
    with Store(config.db_path) as store:
        assert store.pending_index_count() == 0


def test_reindex_on_the_embedded_backend_says_there_is_nothing_to_do(tmp_path: Path) -> None:
    path = tmp_path / "veille.yaml"
    path.write_text("data_dir: data\n")
    result = CliRunner().invoke(cli, ["reindex", "--config", str(path)])
    assert result.exit_code != 0
    assert "nothing to reindex" in str(result.exception)


@pytest.mark.elasticsearch
def test_crawl_indexes_what_it_stores_and_queues_it_while_the_engine_is_down(
    site: FixtureServer, tmp_path: Path, es_settings: ElasticsearchSettings
) -> None:
    sources = [
        feed("search-desk", "/blog/feed.rss", site, category="seo"),
        Source(name="market-wire", type="sitemap", url=site.url + "/news/sitemap-index.xml"),
    ]
    down = es_settings.model_copy(update={"url": f"http://127.0.0.1:{free_port()}", "timeout": 2})
    offline = make_config(
        tmp_path, sources, search=SearchSettings(backend="elasticsearch", elasticsearch=down)
    )
    report = run_crawl(offline, progress=False)
    stored = Store(offline.db_path)
    assert report.totals()["new"] == stored.count() > 0
    assert report.indexed == 0 and report.index_error and "queued" in report.index_error
    assert stored.pending_index_count() == stored.count()

    online = make_config(
        tmp_path, sources, search=SearchSettings(backend="elasticsearch", elasticsearch=es_settings)
    )
    assert indexer.sync_pending(online, stored) == stored.count()
    embedded = open_backend(make_config(tmp_path, sources), stored)
    engine = open_backend(online, stored)
    for text in ("marketplace", "fees OR search", '"internal search"', ""):
        query = SearchQuery(text=text, facets=["source", "day"])
        expected, got = embedded.search(query), engine.search(query)
        assert got.total == expected.total > 0
        assert got.facets == expected.facets
        assert {h.id for h in got.hits} == {h.id for h in expected.hits}
    stored.close()
