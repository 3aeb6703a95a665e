"""Shared fixtures: a real HTTP server on loopback serving tests/fixtures/sites."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.httpserver import FixtureServer

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
