"""Web test fixtures: the test watch served by a real `WebServer` on loopback, and a browser.

The server runs in this process on a free port with the same code `veille
serve` runs; the browser is Debian's chromium through chromedriver, one for the
whole session. With CI=true a missing browser fails the tests; locally they skip.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import BrowserUnavailable, start_browser
from tests.conftest import IN_CI
from tests.watch.web.data import SOURCES_YAML, VEILLE_YAML, fill
from watch.config import Config, load_config
from watch.store import Store
from watch.web.server import WebServer


@dataclass
class Served:
    """A running server over a watch: its base URL, config and the items' ids by key."""

    url: str
    config: Config
    ids: dict[str, int]


@dataclass
class Reply:
    """An HTTP answer: status, headers and body text."""

    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> dict:  # type: ignore[type-arg]
        """The body parsed as JSON."""
        return json.loads(self.body)


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    """One real HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read().decode())


def write_config(directory: Path, veille_yaml: str = VEILLE_YAML) -> Config:
    """A config pair in `directory` (data in directory/data), loaded."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "veille.yaml").write_text(veille_yaml, encoding="utf-8")
    (directory / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8")
    return load_config(str(directory / "veille.yaml"))


def serve(config: Config) -> WebServer:
    """A started server for `config` on a free loopback port."""
    return WebServer(config, "127.0.0.1", 0, threads=4).start()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test watch (tests/watch/web/data.py) on a running server; tests must not change it."""
    config = write_config(tmp_path_factory.mktemp("web"))
    with Store(config.db_path) as store:
        ids = fill(store)
    server = serve(config)
    yield Served(server.url, config, ids)
    server.stop()


@pytest.fixture
def empty_served(tmp_path: Path) -> Iterator[Served]:
    """A server over a config whose store has nothing yet."""
    server = serve(write_config(tmp_path))
    yield Served(server.url, server.config, {})
    server.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium for the session (a fresh profile)."""
    try:
        driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    except BrowserUnavailable as exc:
        if IN_CI:
            pytest.fail(f"browser unavailable: {exc}", pytrace=False)
        pytest.skip(f"browser unavailable: {exc}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
