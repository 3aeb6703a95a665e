"""The SQLite store: Veille's system of record.

It holds the items, each source's state (HTTP validators, last success, last
error, consecutive failures) and the crawl runs with their counts. It runs in
WAL mode so readers (search, the web page) never block the crawler, and every
write is a short transaction, so a crawl killed midway leaves a consistent
store that the next run simply continues.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from crawler.items import Article
from watch import dedupe
from watch.migrations import MIGRATIONS

UpsertStatus = Literal["new", "updated", "unchanged", "duplicate"]


def now_iso() -> str:
    """The current UTC time in the store's text format."""
    return to_iso(datetime.now(UTC))


def to_iso(value: datetime | None) -> str | None:
    """A datetime as the store's sortable UTC text (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(value: str | None) -> datetime | None:
    """The inverse of to_iso."""
    return datetime.fromisoformat(value) if value else None


def process_started(pid: int) -> float | None:
    """When the process `pid` started (seconds since the epoch), or None if it does not run."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def process_running(pid: int, started: float | None) -> bool:
    """Whether `pid` still runs and is the process that started at `started` (not a reuse)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it runs, as another user
    # Start times are derived from clock ticks since boot: allow for rounding.
    return started is None or abs(created - started) < 1.0


@dataclass
class StoredItem:
    """An item as the store holds it."""

    id: int
    canonical_url: str
    url: str
    source: str
    category: str
    title: str
    text: str
    summary: str
    author: str | None
    published: datetime | None
    language: str | None
    keywords: list[str]
    content_hash: str
    cluster_id: int | None
    tags: list[str]
    tag_reasons: dict[str, list[str]]
    opportunity: float | None
    fetched_at: datetime
    first_seen: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO text)."""
        out = dict(self.__dict__)
        for key in ("published", "fetched_at", "first_seen", "updated_at"):
            out[key] = to_iso(out[key])
        return out


@dataclass
class UpsertResult:
    """What storing one article did."""

    status: UpsertStatus
    item_id: int
    cluster_id: int | None


@dataclass
class SourceState:
    """A source's health as the store records it."""

    name: str
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_due_at: datetime | None = None
    current_interval: float | None = None


@dataclass
class UrlState:
    """What the last fetch of a URL told us: validators for conditional GET."""

    url: str
    source: str
    etag: str | None = None
    last_modified: str | None = None
    lastmod: str | None = None


@dataclass
class SourceRunStats:
    """Counts for one source in one crawl run."""

    source: str
    requests: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    not_modified: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)


_ITEM_COLUMNS = (
    "id, canonical_url, url, source, category, title, text, summary, author, published, "
    "language, keywords, content_hash, cluster_id, tags, tag_reasons, opportunity, "
    "fetched_at, first_seen, updated_at"
)


class Store:
    """A connection to the SQLite store, migrated on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions ourselves, explicitly.
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        self.conn.row_factory = sqlite3.Row
        _enable_wal(self.conn)
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {r[0] for r in self.conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for name, step in sorted(MIGRATIONS, key=lambda migration: migration[0]):
            if name in done:
                continue
            with self.transaction():
                # Another connection may have applied it since `done` was read (two
                # threads opening a new store at once): check again under the write lock.
                if self.conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE name = ?", (name,)
                ).fetchone():
                    continue
                if callable(step):
                    step(self.conn)
                else:
                    for statement in _split_sql(step):
                        self.conn.execute(statement)
                self.conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now_iso()))
            applied.append(name)
        return applied

    def transaction(self) -> _Transaction:
        """A context manager for one write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        return _Transaction(self.conn)

    # -- items ------------------------------------------------------------

    def upsert(self, article: Article, signature: Any = None) -> UpsertResult:
        """Store an article by canonical URL: insert it, update it, or leave it as it is.

        A changed body updates the item and keeps its `first_seen`. A new item
        whose text is a near-duplicate of a stored one joins that cluster.
        `signature` is the article's `dedupe.signature` when the caller already
        computed it (the crawler does, in its worker processes).
        """
        canonical = article.canonical_url or article.url
        with self.transaction():
            row = self.conn.execute(
                "SELECT id, content_hash, cluster_id FROM items WHERE canonical_url = ?",
                (canonical,),
            ).fetchone()
            if row is not None:
                if row["content_hash"] == article.content_hash:
                    return UpsertResult("unchanged", row["id"], row["cluster_id"])
                self._update(row["id"], article)
                return UpsertResult("updated", row["id"], row["cluster_id"])
            sig = signature
            if sig is None:
                sig = dedupe.signature(
                    dedupe.signed_text(article.title, article.text, article.summary)
                )
            cluster = self._find_cluster(sig) if sig is not None else None
            item_id = self._insert(canonical, article, sig)
            cluster_id = cluster if cluster is not None else item_id
            self.conn.execute("UPDATE items SET cluster_id = ? WHERE id = ?", (cluster_id, item_id))
            if sig is not None:
                self.conn.executemany(
                    "INSERT OR IGNORE INTO item_bands VALUES (?, ?)",
                    [(key, item_id) for key in dedupe.band_keys(sig)],
                )
            return UpsertResult("duplicate" if cluster is not None else "new", item_id, cluster_id)

    def _insert(self, canonical: str, a: Article, sig: Any) -> int:
        now = now_iso()
        cur = self.conn.execute(
            "INSERT INTO items (canonical_url, url, source, category, title, text, summary, "
            "author, published, language, keywords, content_hash, signature, tags, "
            "tag_reasons, opportunity, fetched_at, first_seen, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                canonical,
                a.url,
                a.source,
                a.category,
                a.title,
                a.text,
                a.summary,
                a.author,
                to_iso(a.published),
                a.language,
                json.dumps(a.keywords),
                a.content_hash,
                dedupe.to_blob(sig) if sig is not None else None,
                json.dumps(sorted(set(a.tags))),
                json.dumps(a.tag_reasons),
                a.opportunity,
                to_iso(a.fetched_at) or now,
                now,
                now,
            ),
        )
        item_id = int(cur.lastrowid)
        self._write_tags(item_id, a.tags)
        return item_id

    def _update(self, item_id: int, a: Article) -> None:
        self.conn.execute(
            "UPDATE items SET url = ?, title = ?, text = ?, summary = ?, author = ?, "
            "published = COALESCE(?, published), language = ?, keywords = ?, content_hash = ?, "
            "tags = ?, tag_reasons = ?, opportunity = ?, fetched_at = ?, updated_at = ? "
            "WHERE id = ?",
            (
                a.url,
                a.title,
                a.text,
                a.summary,
                a.author,
                to_iso(a.published),
                a.language,
                json.dumps(a.keywords),
                a.content_hash,
                json.dumps(sorted(set(a.tags))),
                json.dumps(a.tag_reasons),
                a.opportunity,
                to_iso(a.fetched_at) or now_iso(),
                now_iso(),
                item_id,
            ),
        )
        self._write_tags(item_id, a.tags)

    def _write_tags(self, item_id: int, tags: Iterable[str]) -> None:
        self.conn.execute("DELETE FROM item_tags WHERE item_id = ?", (item_id,))
        self.conn.executemany(
            "INSERT OR IGNORE INTO item_tags VALUES (?, ?)", [(item_id, t) for t in set(tags)]
        )

    def _find_cluster(self, sig: Any) -> int | None:
        keys = dedupe.band_keys(sig)
        marks = ",".join("?" * len(keys))
        candidates = self.conn.execute(
            f"SELECT DISTINCT i.id, i.cluster_id, i.signature FROM item_bands b "
            f"JOIN items i ON i.id = b.item_id WHERE b.band_key IN ({marks}) ORDER BY i.id",
            keys,
        ).fetchall()
        for row in candidates:
            if row["signature"] is None:
                continue
            if dedupe.similarity(sig, dedupe.from_blob(row["signature"])) >= dedupe.THRESHOLD:
                return int(row["cluster_id"] or row["id"])
        return None

    def set_tags(
        self,
        item_id: int,
        tags: Iterable[str],
        opportunity: float | None,
        reasons: dict[str, list[str]] | None = None,
    ) -> None:
        """Replace an item's tags and opportunity score (after a retrain, say)."""
        tags = sorted(set(tags))
        with self.transaction():
            self.conn.execute(
                "UPDATE items SET tags = ?, opportunity = ?, tag_reasons = ? WHERE id = ?",
                (json.dumps(tags), opportunity, json.dumps(reasons or {}), item_id),
            )
            self._write_tags(item_id, tags)

    def get(self, item_id: int) -> StoredItem | None:
        """One item by id."""
        row = self.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        return _item(row) if row else None

    def get_many(self, ids: Iterable[int]) -> list[StoredItem]:
        """Items by id, in the order given (missing ids are skipped)."""
        ids = list(ids)
        if not ids:
            return []
        found: dict[int, StoredItem] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE id IN ({marks})", chunk
            ):
                found[row["id"]] = _item(row)
        return [found[i] for i in ids if i in found]

    def get_by_url(self, canonical_url: str) -> StoredItem | None:
        """One item by canonical URL."""
        row = self.conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE canonical_url = ?", (canonical_url,)
        ).fetchone()
        return _item(row) if row else None

    def iter_items(self, batch: int = 1000, after_id: int = 0) -> Iterator[StoredItem]:
        """Every item in id order, read in batches so memory stays flat."""
        last = after_id
        while True:
            rows = self.conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _item(row)
            last = rows[-1]["id"]

    def count(self) -> int:
        """How many items are stored."""
        return int(self.conn.execute("SELECT count(*) FROM items").fetchone()[0])

    def delete(self, item_ids: Iterable[int]) -> None:
        """Remove items."""
        with self.transaction():
            self.conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in item_ids])

    # -- URL validators (conditional GET, sitemap lastmod) ------------------

    def url_state(self, url: str) -> UrlState | None:
        """Saved validators for a URL."""
        row = self.conn.execute(
            "SELECT url, source, etag, last_modified, lastmod FROM url_state WHERE url = ?",
            (url,),
        ).fetchone()
        return UrlState(**dict(row)) if row else None

    def url_states(self, source: str) -> dict[str, UrlState]:
        """All saved validators for a source, by URL."""
        rows = self.conn.execute(
            "SELECT url, source, etag, last_modified, lastmod FROM url_state WHERE source = ?",
            (source,),
        )
        return {r["url"]: UrlState(**dict(r)) for r in rows}

    def save_url_state(self, state: UrlState) -> None:
        """Remember a URL's validators (fields left None keep their saved value)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO url_state (url, source, etag, last_modified, lastmod, checked_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET "
                "source = excluded.source, "
                "etag = COALESCE(excluded.etag, etag), "
                "last_modified = COALESCE(excluded.last_modified, last_modified), "
                "lastmod = COALESCE(excluded.lastmod, lastmod), "
                "checked_at = excluded.checked_at",
                (
                    state.url,
                    state.source,
                    state.etag,
                    state.last_modified,
                    state.lastmod,
                    now_iso(),
                ),
            )

    # -- source state -------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        """A source's recorded health (a blank state if never run)."""
        row = self.conn.execute("SELECT * FROM source_state WHERE name = ?", (name,)).fetchone()
        if row is None:
            return SourceState(name=name)
        data = dict(row)
        for key in ("last_run_at", "last_success_at", "last_error_at", "next_due_at"):
            data[key] = from_iso(data[key])
        return SourceState(**data)

    def source_states(self) -> dict[str, SourceState]:
        """Every recorded source state, by name."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM source_state")]
        return {n: self.source_state(n) for n in names}

    def record_source_result(self, name: str, error: str | None) -> SourceState:
        """Record a source's outcome for this run: success resets failures, error counts one."""
        now = now_iso()
        with self.transaction():
            self.conn.execute("INSERT OR IGNORE INTO source_state (name) VALUES (?)", (name,))
            if error is None:
                self.conn.execute(
                    "UPDATE source_state SET last_run_at = ?, last_success_at = ?, "
                    "consecutive_failures = 0 WHERE name = ?",
                    (now, now, name),
                )
            else:
                self.conn.execute(
                    "UPDATE source_state SET last_run_at = ?, last_error = ?, last_error_at = ?, "
                    "consecutive_failures = consecutive_failures + 1 WHERE name = ?",
                    (now, error, now, name),
                )
        return self.source_state(name)

    def set_schedule(self, name: str, next_due_at: datetime | None, interval: float | None) -> None:
        """Record when a source is next due, and its current polling interval."""
        with self.transaction():
            self.conn.execute("INSERT OR IGNORE INTO source_state (name) VALUES (?)", (name,))
            self.conn.execute(
                "UPDATE source_state SET next_due_at = ?, current_interval = ? WHERE name = ?",
                (to_iso(next_due_at), interval, name),
            )

    def source_item_counts(self) -> dict[str, int]:
        """How many items each source has in the store."""
        rows = self.conn.execute("SELECT source, count(*) FROM items GROUP BY source")
        return {r[0]: r[1] for r in rows}

    # -- crawl runs ---------------------------------------------------------

    def start_run(self) -> int:
        """Open a crawl run owned by this process; return its id.

        Runs left 'running' by processes that are gone are closed first.
        """
        self.close_abandoned_runs()
        pid = os.getpid()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO crawl_runs (started_at, pid, pid_started, host) VALUES (?, ?, ?, ?)",
                (now_iso(), pid, process_started(pid), socket.gethostname()),
            )
        return int(cur.lastrowid)

    def close_abandoned_runs(self) -> list[int]:
        """Mark 'interrupted' the runs still 'running' whose owning process is gone; return them.

        The owner is the process that opened the run: it closes the run itself
        even when its crawl process dies, and a crawl process whose owner died
        stops within seconds. So a 'running' run whose owner no longer runs (or
        whose pid now belongs to a newer process) was killed with its crawl
        process. Only runs opened on this host can be checked; `finished_at`
        stays empty, since when the run died is unknown.
        """
        rows = self.conn.execute(
            "SELECT id, pid, pid_started FROM crawl_runs "
            "WHERE status = 'running' AND pid IS NOT NULL AND host = ?",
            (socket.gethostname(),),
        ).fetchall()
        gone = [r["id"] for r in rows if not process_running(r["pid"], r["pid_started"])]
        if gone:
            with self.transaction():
                self.conn.executemany(
                    "UPDATE crawl_runs SET status = 'interrupted' "
                    "WHERE id = ? AND status = 'running'",
                    [(run_id,) for run_id in gone],
                )
        return gone

    def finish_run(self, run_id: int, stats: Iterable[SourceRunStats], status: str = "ok") -> None:
        """Close a crawl run with its per-source counts."""
        with self.transaction():
            self.conn.execute(
                "UPDATE crawl_runs SET finished_at = ?, status = ? WHERE id = ?",
                (now_iso(), status, run_id),
            )
            for s in stats:
                self.conn.execute(
                    "INSERT OR REPLACE INTO crawl_run_sources VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        run_id,
                        s.source,
                        s.requests,
                        s.new,
                        s.updated,
                        s.unchanged,
                        s.duplicates,
                        s.not_modified,
                        s.errors,
                        json.dumps(s.messages),
                    ),
                )

    def last_run(self) -> dict[str, Any] | None:
        """The latest crawl run with its per-source counts (a killed run shows as interrupted)."""
        self.close_abandoned_runs()
        row = self.conn.execute("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        sources = [
            {**dict(r), "messages": json.loads(r["messages"])}
            for r in self.conn.execute(
                "SELECT * FROM crawl_run_sources WHERE run_id = ? ORDER BY source", (row["id"],)
            )
        ]
        return {**dict(row), "sources": sources}

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        """One crawl run with its per-source counts (as `last_run` gives them)."""
        row = self.conn.execute("SELECT * FROM crawl_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        sources = [
            {**dict(r), "messages": json.loads(r["messages"])}
            for r in self.conn.execute(
                "SELECT * FROM crawl_run_sources WHERE run_id = ? ORDER BY source", (run_id,)
            )
        ]
        return {**dict(row), "sources": sources}

    # -- search-engine outbox ---------------------------------------------

    def enqueue_index(self, item_ids: Iterable[int]) -> None:
        """Mark items as waiting to be sent to the search engine."""
        now = now_iso()
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO index_outbox (item_id, queued_at) VALUES (?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET queued_at = excluded.queued_at",
                [(i, now) for i in item_ids],
            )

    def pending_index(self, limit: int = 1000) -> list[int]:
        """Item ids waiting for the search engine, oldest first."""
        rows = self.conn.execute(
            "SELECT item_id FROM index_outbox ORDER BY queued_at, item_id LIMIT ?", (limit,)
        )
        return [r[0] for r in rows]

    def pending_index_count(self) -> int:
        """How many items wait for the search engine."""
        return int(self.conn.execute("SELECT count(*) FROM index_outbox").fetchone()[0])

    def mark_indexed(self, item_ids: Iterable[int]) -> None:
        """Remove items from the outbox once the search engine has them."""
        with self.transaction():
            self.conn.executemany(
                "DELETE FROM index_outbox WHERE item_id = ?", [(i,) for i in item_ids]
            )

    def mark_index_failed(self, failures: dict[int, str]) -> None:
        """Keep items in the outbox with the engine's reason, for the next try."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE index_outbox SET attempts = attempts + 1, last_error = ? WHERE item_id = ?",
                [(reason, i) for i, reason in failures.items()],
            )


def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch the database to WAL mode (once per file; later opens find it set)."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            # The switch takes an exclusive lock without waiting on the busy timeout:
            # two connections opening a new store at once must take turns.
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.nested = False

    def __enter__(self) -> sqlite3.Connection:
        self.nested = self.conn.in_transaction
        if not self.nested:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.nested:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _item(row: sqlite3.Row) -> StoredItem:
    return StoredItem(
        id=row["id"],
        canonical_url=row["canonical_url"],
        url=row["url"],
        source=row["source"],
        category=row["category"],
        title=row["title"],
        text=row["text"],
        summary=row["summary"],
        author=row["author"],
        published=from_iso(row["published"]),
        language=row["language"],
        keywords=json.loads(row["keywords"]),
        content_hash=row["content_hash"],
        cluster_id=row["cluster_id"],
        tags=json.loads(row["tags"]),
        tag_reasons=json.loads(row["tag_reasons"]),
        opportunity=row["opportunity"],
        fetched_at=from_iso(row["fetched_at"]),
        first_seen=from_iso(row["first_seen"]),
        updated_at=from_iso(row["updated_at"]),
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
