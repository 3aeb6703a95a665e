"""Per-thread store connections for the web server.

sqlite3 connections must stay in the thread that opened them, and the store
runs in WAL mode so many readers never block the crawler. The server's worker
threads are long-lived (waitress keeps a fixed pool), so each opens one Store
and one search backend on its first request and keeps them: the connection's
page cache stays warm between requests, and an Elasticsearch backend keeps its
HTTP connections. When a worker thread ends, its thread-local objects are
released and sqlite closes the connection.
"""

from __future__ import annotations

import threading

from flask import current_app

from watch.config import Config
from watch.search import open_backend
from watch.search.backend import SearchBackend
from watch.store import Store


class Connections:
    """The calling thread's Store and search backend, opened on first use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._local = threading.local()

    def store(self) -> Store:
        """This thread's connection to the store."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.config.db_path)
            self._local.store = store
        return store

    def backend(self) -> SearchBackend:
        """This thread's search backend (whichever veille.yaml configures)."""
        backend = getattr(self._local, "backend", None)
        if backend is None:
            backend = open_backend(self.config, self.store())
            self._local.backend = backend
        return backend


def connections() -> Connections:
    """The running app's per-thread store and backend (inside a request)."""
    return current_app.extensions["veille"]
