"""The mail outbox and SMTP delivery: at-least-once, never silently lost.

Alerts are rendered into complete messages and written to `mail_outbox` in
the same transaction that records what they contain, so nothing is decided
twice. Delivery then sends each pending row over SMTP. A failure (server down,
4xx answer) leaves the row pending with a growing backoff (1 min, 2, 4 ... up
to 6 h); a permanent refusal of the recipient (5xx) marks it failed with the
server's reason, shown by `veille alerts list`. The SMTP password comes from
the environment variable named in the config and is never logged or stored.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from watch.config import SmtpSettings
from watch.store import Store, from_iso, to_iso

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# Sent messages are kept this long (for `alerts list` and debugging), then pruned.
KEEP_SENT = timedelta(days=30)


class SmtpFailure(Exception):
    """Sending failed; `permanent` when retrying cannot help (the recipient was refused)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def backoff(attempts: int) -> timedelta:
    """How long to wait after the n-th failed attempt (1 min doubling, capped at 6 h)."""
    return min(BACKOFF_MAX, BACKOFF_BASE * (2 ** min(max(attempts - 1, 0), 20)))


def enqueue(
    store: Store,
    *,
    rule: str | None,
    kind: str,
    recipient: str,
    subject: str,
    message: bytes,
    item_count: int = 0,
    now: datetime,
) -> int:
    """Add a rendered message to the outbox (joins the caller's transaction); return its id."""
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO mail_outbox (rule, kind, recipient, subject, message, item_count, "
            "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rule, kind, recipient, subject, message, item_count, to_iso(now), to_iso(now)),
        )
    return int(cur.lastrowid)


@dataclass
class OutboxEntry:
    """A message in the outbox."""

    id: int
    rule: str | None
    kind: str
    recipient: str
    subject: str
    message: bytes
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        rule=row["rule"],
        kind=row["kind"],
        recipient=row["recipient"],
        subject=row["subject"],
        message=bytes(row["message"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=from_iso(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=from_iso(row["created_at"]),
        sent_at=from_iso(row["sent_at"]),
    )


def due_entries(store: Store, now: datetime, limit: int = 500) -> list[OutboxEntry]:
    """Pending messages whose next attempt is due, oldest first."""
    rows = store.conn.execute(
        "SELECT * FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= ? "
        "ORDER BY id LIMIT ?",
        (to_iso(now), limit),
    )
    return [_entry(r) for r in rows]


def entries(store: Store, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
    """Outbox messages, newest first, optionally of one status."""
    sql, params = "SELECT * FROM mail_outbox", []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    rows = store.conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
    return [_entry(r) for r in rows]


def outbox_counts(store: Store) -> dict[str, dict[str, int]]:
    """Messages per rule and status: {rule: {"pending": n, "sent": n, "failed": n}}."""
    out: dict[str, dict[str, int]] = {}
    rows = store.conn.execute(
        "SELECT COALESCE(rule, ''), status, count(*) FROM mail_outbox GROUP BY 1, 2"
    )
    for rule, status, n in rows:
        out.setdefault(rule, {"pending": 0, "sent": 0, "failed": 0})[status] = n
    return out


def mark_sent(store: Store, entry_id: int, now: datetime) -> None:
    """Record a message as delivered."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE mail_outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
            "last_error = NULL WHERE id = ?",
            (to_iso(now), entry_id),
        )


def mark_failed(store: Store, entry: OutboxEntry, error: str, now: datetime, permanent: bool):
    """Record a failed attempt: retry later with backoff, or give up when permanent."""
    attempts = entry.attempts + 1
    with store.transaction() as conn:
        conn.execute(
            "UPDATE mail_outbox SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ? "
            "WHERE id = ?",
            (
                "failed" if permanent else "pending",
                attempts,
                error,
                to_iso(now + backoff(attempts)),
                entry.id,
            ),
        )


def retry_failed(store: Store, now: datetime) -> int:
    """Queue refused messages again (after fixing an address); return how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE mail_outbox SET status = 'pending', next_attempt_at = ? "
            "WHERE status = 'failed'",
            (to_iso(now),),
        )
    return cur.rowcount


def prune_sent(store: Store, now: datetime, keep: timedelta = KEEP_SENT) -> int:
    """Delete sent messages older than `keep` (deliveries stay recorded); return how many."""
    with store.transaction() as conn:
        cur = conn.execute(
            "DELETE FROM mail_outbox WHERE status = 'sent' AND sent_at < ?", (to_iso(now - keep),)
        )
    return cur.rowcount


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)
    sent_rules: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "pending": self.pending,
            "errors": self.errors,
        }


class SmtpClient:
    """One SMTP session per delivery pass: connect, optionally STARTTLS/SSL and log in."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        cafile = self.settings.ca_certs
        return ssl.create_default_context(cafile=str(cafile) if cafile else None)

    def open(self) -> None:
        """Connect (raises SmtpFailure with a message free of secrets)."""
        s = self.settings
        try:
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    conn.starttls(context=self._context())
            if s.username:
                password = s.password()
                if password is None:
                    conn.close()
                    raise SmtpFailure(
                        f"smtp.username is set but the environment variable {s.password_env} "
                        "is empty; export the SMTP password there."
                    )
                conn.login(s.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpFailure(f"SMTP login as {s.username!r} refused ({exc.smtp_code})") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise SmtpFailure(
                f"cannot reach SMTP server {s.host}:{s.port}: {_reason(exc)}"
            ) from None
        self.conn = conn

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Send one message to one recipient (raises SmtpFailure)."""
        assert self.conn is not None
        try:
            refused = self.conn.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            raise SmtpFailure(
                f"{recipient} refused: {code} {_text(reason)}", permanent=500 <= code < 600
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise SmtpFailure(
                f"SMTP error {exc.smtp_code}: {_text(exc.smtp_error)}",
                permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 552,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.conn = None
            raise SmtpFailure(f"connection lost: {_reason(exc)}") from None
        if refused:
            code, reason = refused.get(recipient, (0, b""))
            raise SmtpFailure(f"{recipient} refused: {code} {_text(reason)}", permanent=True)

    def close(self) -> None:
        """End the session politely."""
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def deliver_pending(
    store: Store, settings: SmtpSettings, *, now: datetime | None = None, limit: int = 500
) -> DeliveryReport:
    """Send the due messages of the outbox; failures stay queued with backoff."""
    now = now or datetime.now(UTC)
    report = DeliveryReport()
    due = due_entries(store, now, limit)
    if due:
        sender = parseaddr(settings.from_addr)[1] or settings.from_addr
        client = SmtpClient(settings)
        try:
            client.open()
        except SmtpFailure as exc:
            # Nothing can go out: every due message waits for the next try.
            log.info("mail delivery postponed: %s", exc)
            report.errors.append(str(exc))
            for entry in due:
                mark_failed(store, entry, str(exc), now, permanent=False)
            report.retrying = len(due)
            due = []
        for entry in due:
            if client.conn is None:
                try:
                    client.open()
                except SmtpFailure as exc:
                    mark_failed(store, entry, str(exc), now, permanent=False)
                    report.retrying += 1
                    report.errors.append(str(exc))
                    continue
            try:
                client.send(sender, entry.recipient, entry.message)
            except SmtpFailure as exc:
                mark_failed(store, entry, str(exc), now, exc.permanent)
                log.info("mail %s to %s not sent: %s", entry.id, entry.recipient, exc)
                report.errors.append(f"{entry.recipient}: {exc}")
                if exc.permanent:
                    report.failed += 1
                else:
                    report.retrying += 1
                continue
            mark_sent(store, entry.id, now)
            report.sent += 1
            if entry.rule:
                report.sent_rules.add(entry.rule)
        client.close()
    prune_sent(store, now)
    report.errors = list(dict.fromkeys(report.errors))
    report.pending = int(
        store.conn.execute("SELECT count(*) FROM mail_outbox WHERE status = 'pending'").fetchone()[
            0
        ]
    )
    return report
