"""Backends for the search contract suite, built by name from a store filled with the corpus.

To run the suite against another backend, add a factory to `BACKENDS` and its
name to `BACKEND_PARAMS` (with a mark if it needs a service). A factory is a
context manager: it receives the filled Store and the pytest request (to reach
session fixtures such as a running node), yields a backend, and cleans up after.
The fixtures here then call `backend.index(store.iter_items())`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.elasticsearch_node import elastic_backend
from tests.watch.search.corpus import fill
from watch.search.backend import SearchBackend
from watch.search.sqlite import SqliteBackend
from watch.store import Store

BackendFactory = Callable[[Store, pytest.FixtureRequest], AbstractContextManager[SearchBackend]]


@contextmanager
def sqlite_backend(store: Store, request: pytest.FixtureRequest) -> Iterator[SearchBackend]:
    """The embedded backend reads the store itself."""
    yield SqliteBackend(store)


BACKENDS: dict[str, BackendFactory] = {"sqlite": sqlite_backend, "elasticsearch": elastic_backend}
BACKEND_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("elasticsearch", id="elasticsearch", marks=pytest.mark.elasticsearch),
]


@dataclass
class Indexed:
    """A store filled with the corpus, a backend that indexed it, and key -> item id."""

    store: Store
    backend: SearchBackend
    ids: dict[str, int]
    name: str


@contextmanager
def _indexed(name: str, path: Path, request: pytest.FixtureRequest) -> Iterator[Indexed]:
    store = Store(path)
    ids = fill(store)
    with BACKENDS[name](store, request) as backend:
        rejected = backend.index(store.iter_items())
        assert rejected == {}, f"{name} rejected corpus items: {rejected}"
        yield Indexed(store, backend, ids, name)
    store.close()


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return request.param


@pytest.fixture(scope="module")
def indexed(
    backend_name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Indexed]:
    """The corpus indexed once per module and backend; tests must not change it."""
    path = tmp_path_factory.mktemp(f"corpus-{backend_name}") / "veille.db"
    with _indexed(backend_name, path, request) as data:
        yield data


@pytest.fixture(scope="module")
def backend(indexed: Indexed) -> SearchBackend:
    """The read-only backend over the corpus."""
    return indexed.backend


@pytest.fixture
def fresh(backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Indexed]:
    """A corpus store and backend of its own, for tests that change data (delete, update)."""
    with _indexed(backend_name, tmp_path / "veille.db", request) as data:
        yield data
