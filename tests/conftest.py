"""Shared fixtures: a real HTTP server on loopback serving tests/fixtures/sites."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.elasticsearch_node import ENV_URL, ElasticsearchNode, NodeUnavailable, is_healthy
from tests.httpserver import FixtureServer
from watch.smtpsink import SmtpSink

FIXTURES = Path(__file__).parent / "fixtures"
SITES = FIXTURES / "sites"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def http_server() -> Iterator[FixtureServer]:
    """The fixture-site server, shared by the whole session."""
    server = FixtureServer(SITES).start()
    yield server
    server.stop()


@pytest.fixture
def site(http_server: FixtureServer) -> Iterator[FixtureServer]:
    """The fixture-site server with scripted routes cleared after the test."""
    yield http_server
    http_server.reset()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def elasticsearch_node() -> Iterator[ElasticsearchNode | None]:
    """The node this session started, or None when $VEILLE_TEST_ES_URL names a cluster.

    With CI=true a node that cannot start fails the tests; locally they skip, saying why.
    """
    given = os.environ.get(ENV_URL)
    if given:
        if not is_healthy(given):
            _es_missing(f"{ENV_URL}={given} does not answer /_cluster/health")
        yield None
        return
    node = ElasticsearchNode()
    try:
        node.start()
    except NodeUnavailable as exc:
        node.remove()
        _es_missing(str(exc))
    yield node
    node.remove()


@pytest.fixture(scope="session")
def elasticsearch_url(elasticsearch_node: ElasticsearchNode | None) -> str:
    """The URL of a real Elasticsearch node for the session."""
    if elasticsearch_node is None:
        return os.environ[ENV_URL].rstrip("/")
    return elasticsearch_node.url


def _es_missing(reason: str) -> None:
    message = f"Elasticsearch unavailable: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
