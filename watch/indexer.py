"""Keeps Elasticsearch in step with the store through the store's outbox.

With `search.backend: elasticsearch`, the crawler queues every new or updated
item id in the store's `index_outbox` in the same transaction that stores it.
After each crawl `sync_pending` sends that backlog; an item leaves the outbox
only once Elasticsearch has accepted it. When Elasticsearch is down or rejects
a document, the item stays queued with the reason, so nothing is ever lost:
the next crawl, or `veille reindex --pending`, sends it again.

SQLite FTS5 is updated by triggers inside the store, so with the embedded
backend there is nothing to send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from watch.config import Config
from watch.errors import UserError
from watch.store import Store, StoredItem, now_iso

if TYPE_CHECKING:
    from watch.search.elastic import ElasticBackend

log = logging.getLogger(__name__)

# Items read from the store and sent per round (each round ends with one refresh).
SYNC_BATCH = 2000


@dataclass
class SyncReport:
    """What one pass over the outbox did."""

    sent: int = 0
    rejected: dict[int, str] = field(default_factory=dict)
    removed: int = 0
    # Set when Elasticsearch could not be reached: what is left stays queued.
    error: str | None = None
    pending: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "sent": self.sent,
            "rejected": {str(k): v for k, v in self.rejected.items()},
            "removed": self.removed,
            "error": self.error,
            "pending": self.pending,
        }


def uses_outbox(config: Config) -> bool:
    """Whether stored items must also be sent to a search engine."""
    return config.settings.search.backend == "elasticsearch"


def enqueue_changed(config: Config, store: Store, item_ids: Iterable[int]) -> None:
    """Queue new or updated items for the search engine, when one is configured."""
    if uses_outbox(config):
        store.enqueue_index(item_ids)


def open_elastic(config: Config) -> ElasticBackend:
    """The Elasticsearch backend for `config` (imported only when configured)."""
    from watch.search.elastic import ElasticBackend

    return ElasticBackend(config.settings.search.elasticsearch)


def sync(
    config: Config,
    store: Store,
    backend: ElasticBackend | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Send the outbox to Elasticsearch and report; never raises for an unreachable engine."""
    report = SyncReport()
    if not uses_outbox(config):
        return report
    queued = store.pending_index(limit=max(store.pending_index_count(), 1))
    if not queued:
        return report
    backend = backend or open_elastic(config)
    for start in range(0, len(queued), SYNC_BATCH):
        ids = queued[start : start + SYNC_BATCH]
        items = store.get_many(ids)
        found = {item.id for item in items}
        # Deleted from the store since they were queued: remove them from the index too.
        gone = [i for i in ids if i not in found]
        try:
            if gone:
                backend.delete(gone)
            rejected = backend.index(items)
        except UserError as exc:
            report.error = str(exc)
            store.mark_index_failed(dict.fromkeys(ids, _short(str(exc))))
            break
        store.mark_indexed([i for i in ids if i not in rejected])
        if rejected:
            store.mark_index_failed(rejected)
            for item_id, reason in rejected.items():
                log.warning("Elasticsearch rejected item %s: %s", item_id, reason)
        report.sent += len(items) - len(rejected)
        report.removed += len(gone)
        report.rejected.update(rejected)
        if on_progress:
            on_progress(len(ids))
    report.pending = store.pending_index_count()
    return report


@dataclass
class RebuildReport:
    """What `veille reindex` did: the new index, the old ones and the documents."""

    index: str
    previous: list[str]
    indexed: int
    rejected: dict[int, str]
    seconds: float
    catch_up: SyncReport

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "index": self.index,
            "previous": self.previous,
            "indexed": self.indexed,
            "rejected": {str(k): v for k, v in self.rejected.items()},
            "seconds": round(self.seconds, 3),
            "catch_up": self.catch_up.to_dict(),
        }


def rebuild(
    config: Config,
    store: Store,
    backend: ElasticBackend | None = None,
    on_progress: Callable[[int], None] | None = None,
    keep_previous: bool = False,
) -> RebuildReport:
    """Build a new index from the whole store, switch the alias to it, then catch up.

    Items stored or updated while the build ran may have gone to the old index;
    they are queued again and sent to the new one once the alias points there.
    Documents the new index rejected stay queued in the outbox with the reason.
    """
    if not uses_outbox(config):
        raise UserError(
            f"search.backend is {config.settings.search.backend!r} in {config.path}: the "
            "embedded index is kept up to date by the store itself, so there is nothing to "
            "reindex. Set search.backend: elasticsearch to index in Elasticsearch."
        )
    backend = backend or open_elastic(config)
    started = now_iso()
    built = backend.build(_read_items(store.path), on_done=on_progress, keep_previous=keep_previous)
    rows = store.conn.execute("SELECT id FROM items WHERE updated_at >= ?", (started,))
    store.enqueue_index([r[0] for r in rows if r[0] not in built.rejected])
    catch_up = sync(config, store, backend)
    if built.rejected:
        store.enqueue_index(built.rejected)
        store.mark_index_failed(built.rejected)
    return RebuildReport(
        index=built.index,
        previous=built.previous,
        indexed=built.indexed,
        rejected=built.rejected,
        seconds=built.seconds,
        catch_up=catch_up,
    )


def _read_items(path: Path) -> Iterator[StoredItem]:
    """Every stored item, read through a connection of the thread that iterates."""
    with Store(path) as store:
        yield from store.iter_items(batch=SYNC_BATCH)


def sync_pending(config: Config, store: Store) -> int:
    """Send items waiting in the store's outbox to the search engine; return how many went.

    Raises a UserError (after keeping every unsent item queued) when the engine is
    unreachable, so the crawl summary can say so.
    """
    report = sync(config, store)
    if report.error:
        raise UserError(report.error)
    return report.sent


def _short(message: str) -> str:
    return message if len(message) <= 500 else message[:497] + "..."
