"""Keeps the search engine in step with the store (Elasticsearch lands with its issue).

SQLite FTS5 is updated by triggers inside the store, so with the embedded
backend there is nothing to send.
"""

from __future__ import annotations

from watch.config import Config
from watch.store import Store


def sync_pending(config: Config, store: Store) -> int:
    """Send items waiting in the store's outbox to the search engine; return how many went."""
    return 0
