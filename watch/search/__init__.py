"""Search backends behind one interface: SQLite FTS5 (embedded) and Elasticsearch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watch.config import Config
    from watch.search.backend import SearchBackend
    from watch.store import Store


def open_backend(config: Config, store: Store) -> SearchBackend:
    """The search backend `search.backend` in veille.yaml names, reading from `store`.

    Elasticsearch is imported only when configured, so the embedded backend
    never pays for the client. `watch.search.elastic` provides
    `open_backend(config, store)` in turn.
    """
    name = config.settings.search.backend
    if name == "sqlite":
        from watch.search.sqlite import SqliteBackend

        return SqliteBackend(store)
    if name == "elasticsearch":
        elastic = importlib.import_module("watch.search.elastic")
        return elastic.open_backend(config, store)
    from watch.config import ConfigError

    raise ConfigError(
        f"{config.path}: search.backend is {name!r}; expected sqlite or elasticsearch."
    )
