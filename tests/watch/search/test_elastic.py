"""Elasticsearch-specific behaviour, on a real node (the shared contract runs in test_contract)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import elasticsearch
import pytest

from crawler.items import Article
from tests.conftest import IN_CI
from tests.elasticsearch_node import (
    ElasticsearchNode,
    Fault,
    FaultProxy,
    free_port,
    throwaway_settings,
)
from watch.config import Config, ElasticsearchSettings, SearchSettings, Settings
from watch.errors import UserError
from watch.search import elastic, open_backend
from watch.search.backend import SearchQuery
from watch.search.elastic import (
    ElasticBackend,
    SearchUnavailable,
    _best_fragment,
    to_simple_query,
)
from watch.search.folding import POST_TAG, PRE_TAG, fold
from watch.search.query import parse
from watch.store import Store

pytestmark = pytest.mark.elasticsearch


def _article(n: int, title: str = "", text: str = "") -> Article:
    body = text or f"Story {n} about marketplace fees " + " ".join(f"w{n}x{i}" for i in range(60))
    url = f"https://news.example/{n}"
    return Article(
        url=url,
        canonical_url=url,
        source="news",
        category="market",
        title=title or f"Headline {n}",
        text=body,
        published=datetime(2024, 3, 1 + n % 20, 9, tzinfo=UTC),
        language="en",
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "veille.db") as s:
        yield s


@pytest.fixture
def es(elasticsearch_url: str) -> Iterator[ElasticBackend]:
    backend = ElasticBackend(throwaway_settings(elasticsearch_url, "es"))
    yield backend
    backend.drop()


def _fill(store: Store, count: int, start: int = 0) -> list[int]:
    return [store.upsert(_article(n)).item_id for n in range(start, start + count)]


def test_first_write_creates_a_versioned_index_behind_the_alias(
    es: ElasticBackend, store: Store
) -> None:
    ids = _fill(store, 3)
    assert es.index(store.get_many(ids)) == {}
    assert es.indices() == [f"{es.alias}-v1"]
    assert es.mapping_version() == elastic.MAPPING_VERSION
    found = es.client.indices.get_mapping(index=es.alias)
    props = next(iter(found.values()))["mappings"]["properties"]
    assert props["title"]["type"] == "text" and props["title"]["fields"]["keyword"]
    assert {props[f]["type"] for f in ("source", "category", "tags", "language")} == {"keyword"}
    assert props["canonical_url"]["type"] == "keyword" and props["cluster_id"]["type"] == "keyword"
    assert props["published"]["type"] == "date" and props["first_seen"]["type"] == "date"
    # The item id is the document id, so sending an item again replaces it.
    doc = es.client.get(index=es.alias, id=str(ids[0]))
    assert doc["_source"]["canonical_url"] == "https://news.example/0"
    # Searched through folded copies that document() derives; the originals are only shown.
    for field in ("title", "summary", "text"):
        assert props[field]["index"] is False and props[f"{field}_folded"]["type"] == "text"
    assert doc["_source"]["text_folded"] == fold(doc["_source"]["text"])
    es.index(store.get_many(ids))
    assert es.count(SearchQuery()) == 3


def test_user_text_becomes_quoted_simple_query_terms_only() -> None:
    query = parse('amazon.com "press release" fees OR tax -rumour Régl* e-commerce')
    # Folded as the documents are (watch.search.folding): accents off, words apart.
    assert to_simple_query(query) == (
        '"amazon com" "press release" ("fees" | "tax") regl* "e commerce" -"rumour"'
    )
    hostile = parse("title:(x OR y)~2 foo|bar +baz (qux a\\b")
    translated = to_simple_query(hostile)
    # Every term is quoted, so no operator, field, fuzziness or group survives.
    for part in translated.replace(" | ", " ").split(" "):
        assert part.startswith(('"', '-"', '("')) or part.endswith(('"', '")'))


def test_hostile_query_text_runs_as_plain_words(es: ElasticBackend, store: Store) -> None:
    ids = _fill(store, 2)
    es.index(store.get_many(ids))
    for text in ["title:(x OR y)~2", "foo|bar +baz", "a\\b", "x AND y", "(qux", "*:*"]:
        try:
            result = es.search(SearchQuery(text=text))
        except UserError:
            continue  # refused by the shared parser, with advice
        assert result.total == 0


def test_rejected_documents_are_reported_with_id_and_reason(
    elasticsearch_url: str, store: Store
) -> None:
    settings = throwaway_settings(elasticsearch_url, "reject")
    backend = ElasticBackend(settings)
    # An index created by hand with a conflicting mapping (a real admin mistake):
    # numeric titles fit, the others are refused by Elasticsearch itself.
    backend.client.indices.create(
        index=f"{settings.index}-v1",
        mappings={"properties": {"title": {"type": "integer"}}},
        aliases={settings.index: {"is_write_index": True}},
    )
    try:
        good = store.upsert(_article(1, title="2024")).item_id
        bad = store.upsert(_article(2, title="Amazon raises fees")).item_id
        rejected = backend.index(store.get_many([good, bad]))
        assert list(rejected) == [bad]
        assert "title" in rejected[bad] and "parsing" in rejected[bad]
        assert backend.client.exists(index=settings.index, id=str(good))
    finally:
        backend.drop()


def test_bulk_retries_429_and_5xx_with_backoff(
    elasticsearch_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elastic, "INITIAL_BACKOFF", 0.05)
    proxy = FaultProxy(elasticsearch_url).start()
    backend = ElasticBackend(throwaway_settings(proxy.url, "retry"))
    try:
        backend.ensure_index()
        proxy.faults = [
            Fault("_bulk", status=429, times=2),  # whole request: the transport retries
            Fault("_bulk", item_status=429),  # one document: the bulk helper retries
            Fault("_bulk", item_status=503),  # one document, 5xx: Veille re-sends it
        ]
        ids = _fill(store, 20)
        assert backend.index(store.get_many(ids)) == {}
        assert proxy.injected == 4
        assert backend.count(SearchQuery()) == 20
        # The parallel build that `veille reindex` runs retries the same way.
        proxy.faults = [Fault("_bulk", item_status=503), Fault("_bulk", item_status=429)]
        report = backend.build(store.get_many(ids))
        assert (report.indexed, report.rejected, proxy.injected) == (20, {}, 6)
        assert backend.count(SearchQuery()) == 20
    finally:
        backend.drop()
        proxy.stop()


def test_documents_still_failing_after_retries_are_reported(
    elasticsearch_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elastic, "INITIAL_BACKOFF", 0.01)
    proxy = FaultProxy(elasticsearch_url).start()
    backend = ElasticBackend(throwaway_settings(proxy.url, "retry"))
    try:
        backend.ensure_index()
        proxy.faults = [Fault("_bulk", item_status=503, times=100)]
        ids = _fill(store, 3)
        rejected = backend.index(store.get_many(ids))
        assert list(rejected) == [ids[0]]
        assert "still failing" in rejected[ids[0]] and "injected_fault" in rejected[ids[0]]
    finally:
        backend.drop()
        proxy.stop()


def test_unreachable_cluster_is_a_clear_error_not_a_traceback(store: Store) -> None:
    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    backend = ElasticBackend(settings)
    with pytest.raises(SearchUnavailable, match=r"unavailable.*outbox"):
        backend.index(store.get_many(_fill(store, 1)))
    with pytest.raises(SearchUnavailable, match=r"127\.0\.0\.1"):
        backend.search(SearchQuery(text="fees"))


def test_build_switches_the_alias_atomically_and_drops_the_old_index(
    es: ElasticBackend, store: Store
) -> None:
    ids = _fill(store, 30)
    es.index(store.get_many(ids[:10]))
    assert es.count(SearchQuery()) == 10
    done: list[int] = []
    report = es.build(list(store.iter_items()), on_done=done.append)
    assert report.index == f"{es.alias}-v2" and report.previous == [f"{es.alias}-v1"]
    assert report.indexed == 30 and report.rejected == {} and sum(done) == 30
    assert es.indices() == [f"{es.alias}-v2"] and es.generations() == [f"{es.alias}-v2"]
    assert es.count(SearchQuery()) == 30
    settings = es.client.indices.get_settings(index=report.index)[report.index]["settings"]
    # Bulk-load settings are restored before the index goes live.
    assert settings["index"].get("refresh_interval") in (None, "1s")
    assert settings["index"]["translog"]["durability"] == "request"
    again = es.build(list(store.iter_items()), keep_previous=True)
    assert again.index == f"{es.alias}-v3"
    assert es.indices() == [f"{es.alias}-v3"]
    assert es.generations() == [f"{es.alias}-v2", f"{es.alias}-v3"]


def test_open_backend_and_demo_override_point_at_elasticsearch(
    elasticsearch_url: str, tmp_path: Path, store: Store
) -> None:
    config = Config(path=tmp_path / "veille.yaml", settings=Settings(), sources=[])
    es_config = elastic.with_elasticsearch(config, elasticsearch_url, index="veille-demo-t")
    assert config.settings.search.backend == "sqlite"
    assert es_config.settings.search == SearchSettings(
        backend="elasticsearch",
        elasticsearch=ElasticsearchSettings(url=elasticsearch_url, index="veille-demo-t"),
    )
    backend = open_backend(es_config, store)
    assert isinstance(backend, ElasticBackend) and backend.alias == "veille-demo-t"
    backend.drop()


def test_credentials_and_ca_come_from_settings_and_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VEILLE_ES_USERNAME", "watcher")
    monkeypatch.setenv("VEILLE_ES_PASSWORD", "s3cret")
    client = elastic.connect(ElasticsearchSettings(url="http://127.0.0.1:9"))
    assert client._headers["authorization"].startswith("Basic ")
    monkeypatch.setenv("VEILLE_ES_API_KEY", "a2V5")
    client = elastic.connect(ElasticsearchSettings(url="http://127.0.0.1:9"))
    assert client._headers["authorization"] == "ApiKey a2V5"


def test_demo_gets_a_fresh_demo_alias_on_the_given_cluster(
    elasticsearch_url: str, tmp_path: Path, store: Store
) -> None:
    config = Config(path=tmp_path / "veille.yaml", settings=Settings(), sources=[])
    leftover = ElasticBackend(
        ElasticsearchSettings(url=elasticsearch_url, index=elastic.DEMO_INDEX)
    )
    leftover.index(store.get_many(_fill(store, 2)))
    demo = elastic.prepare_demo(config, elasticsearch_url)
    settings = demo.settings.search.elasticsearch
    assert demo.settings.search.backend == "elasticsearch"
    assert (settings.url, settings.index) == (elasticsearch_url, elastic.DEMO_INDEX)
    assert ElasticBackend(settings).indices() == []
    with pytest.raises(SearchUnavailable):
        elastic.prepare_demo(config, f"http://127.0.0.1:{free_port()}")


JAVA_17 = Path("/usr/lib/jvm/java-17-openjdk-amd64")


@pytest.mark.slow
def test_an_8x_server_works_with_the_8x_client_or_says_which_client_to_install() -> None:
    if not (JAVA_17 / "bin" / "java").exists():
        message = f"Elasticsearch 8.x needs Java 17; none at {JAVA_17}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    node = ElasticsearchNode(env={"ES_VERSION": "8.19.21", "ES_JAVA_HOME": str(JAVA_17)})
    try:
        backend = ElasticBackend(throwaway_settings(node.start(), "es8"))
        if elasticsearch.__versionstr__.startswith("8."):
            assert backend.count(SearchQuery()) == 0
            backend.drop()
        else:
            with pytest.raises(UserError, match=r"elasticsearch>=8\.13,<9"):
                backend.count(SearchQuery())
    finally:
        node.remove()


def test_snippet_is_the_fragment_with_most_marks_put_back_on_the_original_text() -> None:
    p, q = PRE_TAG, POST_TAG
    source = {
        "title": "Référencement",
        "summary": "Le référencement, et le référencement local.",
        "text": "Un mot sur le référencement.",
    }
    highlight = {
        "text_folded": [f"Un mot sur le {p}referencement{q}."],
        "summary_folded": [f"Le {p}referencement{q}, et le {p}referencement{q} local."],
        "title_folded": [f"{p}Referencement{q}"],
    }
    assert _best_fragment(highlight, source) == (
        "Le <mark>référencement</mark>, et le <mark>référencement</mark> local."
    )
    # The title only when the body has no match.
    assert _best_fragment({"title_folded": highlight["title_folded"]}, source) == (
        "<mark>Référencement</mark>"
    )
