"""Named locks in the store that survive a crash of their holder.

A lock is a row with the holder's pid, host and an expiry. Another process may
take it over once it is stale: expired, or held on this host by a pid that no
longer runs. So a crawl killed with SIGKILL never blocks its source for good,
while two live `veille run`/`veille schedule` processes never crawl one source
at the same time.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from watch.store import Store, from_iso, to_iso

Clock = Callable[[], datetime]

DEFAULT_TTL = timedelta(hours=6)


@dataclass
class LockInfo:
    """Who holds a lock, as recorded in the store."""

    name: str
    token: str
    pid: int
    host: str
    acquired_at: datetime
    expires_at: datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # It exists but belongs to another user.
        return True
    return True


class LockHeld(Exception):
    """The lock is held by a live holder."""

    def __init__(self, info: LockInfo) -> None:
        super().__init__(
            f"lock {info.name!r} is held by pid {info.pid} on {info.host} "
            f"until {to_iso(info.expires_at)}"
        )
        self.info = info


class Locks:
    """Acquire and release named locks in a store."""

    def __init__(self, store: Store, clock: Clock = utcnow) -> None:
        self.store = store
        self.clock = clock
        self.host = socket.gethostname()

    def holder(self, name: str) -> LockInfo | None:
        """The recorded holder of a lock, stale or not."""
        row = self.store.conn.execute("SELECT * FROM locks WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return LockInfo(
            name=row["name"],
            token=row["token"],
            pid=row["pid"],
            host=row["host"],
            acquired_at=from_iso(row["acquired_at"]),
            expires_at=from_iso(row["expires_at"]),
        )

    def is_stale(self, info: LockInfo) -> bool:
        """Whether a recorded holder can be overridden: expired, or a dead pid on this host."""
        if info.expires_at <= self.clock():
            return True
        return info.host == self.host and not pid_alive(info.pid)

    def acquire(self, name: str, ttl: timedelta = DEFAULT_TTL) -> str:
        """Take the lock and return its token, or raise LockHeld."""
        token = uuid.uuid4().hex
        now = self.clock()
        with self.store.transaction() as conn:
            current = self.holder(name)
            if current is not None and not self.is_stale(current):
                raise LockHeld(current)
            conn.execute(
                "INSERT OR REPLACE INTO locks (name, token, pid, host, acquired_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, token, os.getpid(), self.host, to_iso(now), to_iso(now + ttl)),
            )
        return token

    def try_acquire(self, name: str, ttl: timedelta = DEFAULT_TTL) -> str | None:
        """Take the lock and return its token, or None when a live holder has it."""
        try:
            return self.acquire(name, ttl)
        except LockHeld:
            return None

    def release(self, name: str, token: str) -> None:
        """Release a lock we hold (a lock taken over by someone else is left alone)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM locks WHERE name = ? AND token = ?", (name, token))

    @contextmanager
    def hold(self, name: str, ttl: timedelta = DEFAULT_TTL) -> Iterator[str]:
        """Hold a lock for the duration of a with-block (raises LockHeld if taken)."""
        token = self.acquire(name, ttl)
        try:
            yield token
        finally:
            self.release(name, token)


def source_lock(name: str) -> str:
    """The lock name that guards crawling one source."""
    return f"source:{name}"


ALERTS_LOCK = "alerts"
