"""The API and page on Elasticsearch: the same answers, and a clear 503 when it is down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.elasticsearch_node import free_port, throwaway_settings
from tests.watch.web.conftest import Served, fetch, serve, write_config
from tests.watch.web.data import VEILLE_YAML, fill
from watch.search import open_backend
from watch.search.elastic import ElasticBackend
from watch.store import Store


def es_yaml(url: str, index: str) -> str:
    return (
        f"{VEILLE_YAML}search:\n  backend: elasticsearch\n  elasticsearch:\n"
        f"    url: {url}\n    index: {index}\n    replicas: 0\n    timeout: 5\n"
    )


@pytest.fixture
def es_served(elasticsearch_url: str, tmp_path: Path) -> Iterator[Served]:
    """The test watch indexed in a throwaway alias on the session's node, served."""
    alias = throwaway_settings(elasticsearch_url, "web").index
    config = write_config(tmp_path, es_yaml(elasticsearch_url, alias))
    with Store(config.db_path) as store:
        ids = fill(store)
        backend = open_backend(config, store)
        assert backend.index(store.iter_items()) == {}
    server = serve(config)
    yield Served(server.url, config, ids)
    server.stop()
    assert isinstance(backend, ElasticBackend)
    backend.drop()


@pytest.mark.elasticsearch
def test_api_search_runs_on_elasticsearch_with_the_same_shape(
    es_served: Served, served: Served
) -> None:
    for query in ("q=marketplace&source=shop-radar", "tag=pricing&sort=date", "language=fr"):
        on_es = fetch(f"{es_served.url}api/search?{query}").json()
        on_sqlite = fetch(f"{served.url}api/search?{query}").json()
        assert on_es["total"] == on_sqlite["total"], query
        assert list(on_es["facets"]) == list(on_sqlite["facets"])
        assert {h["title"] for h in on_es["hits"]} == {h["title"] for h in on_sqlite["hits"]}
    hit = fetch(f"{es_served.url}api/search?q=marketplace").json()["hits"][0]
    assert "<mark>" in hit["snippet"]
    page = fetch(f"{es_served.url}?q=marketplace")
    assert page.status == 200
    assert "21 results" in page.body
    assert fetch(f"{es_served.url}api/sources").json()["search_backend"] == "elasticsearch"
    bad = fetch(f"{es_served.url}api/search?q=%22open")
    assert bad.status == 400
    assert "quote" in bad.json()["error"]


def test_a_search_engine_that_is_down_gives_503_with_its_reason(tmp_path: Path) -> None:
    # Nothing listens on this port: the configured cluster is down.
    config = write_config(tmp_path, es_yaml(f"http://127.0.0.1:{free_port()}", "veille-down"))
    with Store(config.db_path) as store:
        ids = fill(store)
    server = serve(config)
    try:
        reply = fetch(f"{server.url}api/search?q=marketplace")
        assert reply.status == 503
        assert "Elasticsearch" in reply.json()["error"]
        page = fetch(f"{server.url}?q=marketplace")
        assert page.status == 503
        assert "Search unavailable" in page.body
        # The store still answers what does not need the search engine.
        item = fetch(f"{server.url}api/items/{ids['rentree']}")
        assert item.status == 200
        assert item.json()["language"] == "fr"
    finally:
        server.stop()
