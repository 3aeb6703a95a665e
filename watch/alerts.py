"""Alert rules: what people watch, evaluated against what is new since last time.

Rules live in `alerts.yaml` (the path is `alerts_file` in veille.yaml). Each
rule is a saved search (query text plus filters) with recipients and a mode:
`instant` (mailed after each crawl), `daily` at HH:MM, or `weekly` on DAY at
HH:MM (digests). Evaluation goes through the configured search backend, so it
works the same on SQLite and Elasticsearch.

Each rule keeps a cursor in the store: the highest item id it has seen. A run
looks only at items above it, collapses near-duplicate clusters, skips items
(and clusters) already sent to that rule, and then, in one transaction, queues
the message in the mail outbox, records the (rule, item) deliveries and moves
the cursor. Sending happens afterwards from the outbox (watch/mailer.py), so an
SMTP outage delays mail but never loses it, and a rerun never duplicates it.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from watch.config import Config, ConfigError, read_yaml, validate
from watch.errors import UserError
from watch.search.backend import Hit, SearchQuery
from watch.store import Store, from_iso, to_iso

if TYPE_CHECKING:
    from watch.config import SmtpSettings
    from watch.mailer import DeliveryReport
    from watch.search.backend import SearchBackend

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Mode = Literal["instant", "daily", "weekly"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The first evaluation of a rule looks back this far (then the cursor takes over).
FIRST_LOOKBACK = {
    "instant": timedelta(days=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
}
_MODE_TEXT = re.compile(
    r"^\s*(?P<mode>instant|daily|weekly)"
    r"(?:\s+on\s+(?P<day>[a-z]+))?"
    r"(?:\s+at\s+(?P<at>\d{1,2}:\d{2}))?\s*$",
    re.IGNORECASE,
)
# Searches run on this many threads when a run evaluates at least PARALLEL_MIN_RULES rules.
# SQLite searches are CPU work (one thread per core helps); Elasticsearch ones mostly
# wait on the network and the node, so more requests in flight help.
SQLITE_WORKERS = min(4, os.cpu_count() or 1)
ELASTIC_WORKERS = 4
PARALLEL_MIN_RULES = 16
# The backends' paging limits (see watch/search/query.py).
PAGE_SIZE = 100
SEARCH_WINDOW = 10_000
_TIME = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class AlertRule(BaseModel):
    """One alert rule from alerts.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    query: str = ""
    tags: list[str] = []
    categories: list[str] = []
    sources: list[str] = []
    language: list[str] = []
    min_opportunity: float | None = Field(None, ge=0, le=1)
    recipients: list[str] = Field(min_length=1)
    mode: Mode = "instant"
    at: str = "08:00"
    day: str = "monday"
    max_items: int = Field(25, ge=1, le=500)
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _mode_shorthand(cls, data: Any) -> Any:
        # Accept "daily at 08:00" and "weekly on friday at 17:30" as well as
        # separate mode/at/day keys.
        if isinstance(data, dict) and isinstance(data.get("mode"), str):
            found = _MODE_TEXT.match(data["mode"])
            if found and (found["day"] or found["at"]):
                data = dict(data)
                data["mode"] = found["mode"].lower()
                if found["day"]:
                    data.setdefault("day", found["day"])
                if found["at"]:
                    data.setdefault("at", found["at"])
        return data

    @field_validator("tags", "categories", "sources", "language", "recipients", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        found = _TIME.match(value.strip())
        if not found or int(found["h"]) > 23 or int(found["m"]) > 59:
            raise ValueError("expected a time of day as HH:MM, e.g. '08:00'")
        return f"{int(found['h']):02d}:{found['m']}"

    @field_validator("day")
    @classmethod
    def _weekday(cls, value: str) -> str:
        day = value.strip().lower()
        for full in WEEKDAYS:
            if day in (full, full[:3]):
                return full
        raise ValueError(f"expected a day of the week ({', '.join(WEEKDAYS)})")

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            address = parseaddr(entry)[1]
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", address or ""):
                raise ValueError(f"{entry!r} is not an email address (expected name@domain)")
        return value

    @property
    def is_digest(self) -> bool:
        """Whether the rule mails a periodic digest rather than instant alerts."""
        return self.mode != "instant"

    @property
    def schedule_text(self) -> str:
        """The mode as people say it: 'instant', 'daily at 08:00', 'weekly on monday at 08:00'."""
        if self.mode == "daily":
            return f"daily at {self.at}"
        if self.mode == "weekly":
            return f"weekly on {self.day} at {self.at}"
        return "instant"

    def search_query(self) -> SearchQuery:
        """The rule as a search (without the evaluation window)."""
        return SearchQuery(
            text=self.query,
            tags=list(self.tags),
            categories=list(self.categories),
            sources=list(self.sources),
            languages=list(self.language),
            min_opportunity=self.min_opportunity,
            collapse=True,
            sort="date",
        )


class AlertsFile(BaseModel):
    """The contents of alerts.yaml."""

    model_config = ConfigDict(extra="forbid")

    # A folder of Jinja2 templates overriding the bundled ones, relative to alerts.yaml.
    templates_dir: Path | None = None
    alerts: list[AlertRule] = []


@dataclass
class AlertsConfig:
    """The loaded alert rules and where they came from."""

    path: Path
    rules: list[AlertRule]
    templates_dir: Path | None = None
    exists: bool = True

    def rule(self, name: str) -> AlertRule:
        """The rule called `name`, or a UserError listing the known ones."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        known = ", ".join(r.name for r in self.rules) or "none"
        raise UserError(f"No alert rule named {name!r} in {self.path}. Known rules: {known}.")


def alerts_path(config: Config) -> Path:
    """Where the alert rules live (alerts_file, relative to veille.yaml)."""
    return config.resolve(config.settings.alerts_file)


_loaded: dict[Path, tuple[tuple[int, int], AlertsConfig]] = {}


def load_rules(config: Config) -> AlertsConfig:
    """Load and validate alerts.yaml; a missing file means no rules.

    The scheduler reloads the rules after every crawl, so edits apply without a
    restart; an unchanged file (same size and mtime) is not parsed again.
    """
    path = alerts_path(config)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return AlertsConfig(path=path, rules=[], exists=False)
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _loaded.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    loaded = _parse_rules(path)
    _loaded[path] = (key, loaded)
    return loaded


def _parse_rules(path: Path) -> AlertsConfig:
    raw, lines = read_yaml(path)
    for key, line in list(lines.items()):
        # `at` and `day` may come from the mode shorthand: point errors at that line.
        if len(key) == 3 and key[0] == "alerts" and key[2] == "mode":
            lines.setdefault((*key[:2], "at"), line)
            lines.setdefault((*key[:2], "day"), line)
    parsed = validate(AlertsFile, raw, path, lines)
    seen: dict[str, int] = {}
    for i, rule in enumerate(parsed.alerts):
        if rule.name in seen:
            line = lines.get(("alerts", i, "name"))
            where = f"{path}, line {line}" if line else str(path)
            raise ConfigError(
                f"{where}: alert rule {rule.name!r} is defined twice (also rule "
                f"#{seen[rule.name] + 1}); rule names must be unique."
            )
        seen[rule.name] = i
    templates = parsed.templates_dir
    if templates is not None and not templates.is_absolute():
        templates = (path.parent / templates).resolve()
    if templates is not None and not templates.is_dir():
        raise ConfigError(
            f"{path}: field 'templates_dir': {templates} is not a directory; create it "
            "or remove the setting to use the bundled templates."
        )
    return AlertsConfig(path=path, rules=parsed.alerts, templates_dir=templates)


# -- cursors --------------------------------------------------------------------


@dataclass
class Cursor:
    """Where a rule's evaluation stands."""

    rule: str
    last_item_id: int = 0
    evaluated_at: datetime | None = None
    last_digest_at: datetime | None = None
    created_at: datetime | None = None


def get_cursor(store: Store, rule: str) -> Cursor | None:
    """A rule's cursor, or None if it was never evaluated or scheduled."""
    row = store.conn.execute("SELECT * FROM alert_cursors WHERE rule = ?", (rule,)).fetchone()
    if row is None:
        return None
    return Cursor(
        rule=row["rule"],
        last_item_id=row["last_item_id"],
        evaluated_at=from_iso(row["evaluated_at"]),
        last_digest_at=from_iso(row["last_digest_at"]),
        created_at=from_iso(row["created_at"]),
    )


def ensure_cursor(store: Store, rule: str, now: datetime) -> Cursor:
    """A rule's cursor, created (not yet evaluated) if it is new."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO alert_cursors (rule, created_at) VALUES (?, ?)",
            (rule, to_iso(now)),
        )
    cursor = get_cursor(store, rule)
    assert cursor is not None
    return cursor


def newest_id(store: Store) -> int:
    """The highest item id in the store (0 when empty)."""
    return int(store.conn.execute("SELECT COALESCE(max(id), 0) FROM items").fetchone()[0])


def high_water(store: Store, config: Config) -> int:
    """The item id up to which every item is searchable on the configured backend.

    With Elasticsearch an item is searchable only once the index outbox has
    sent it, so the cursor must not pass the oldest item still waiting.
    """
    top = newest_id(store)
    if config.settings.search.backend != "sqlite":
        row = store.conn.execute("SELECT min(item_id) FROM index_outbox").fetchone()
        if row[0] is not None:
            top = min(top, int(row[0]) - 1)
    return top


# -- evaluation -----------------------------------------------------------------


@dataclass
class Match:
    """One item a rule will send."""

    id: int
    cluster_id: int | None
    title: str
    url: str
    source: str
    category: str
    published: datetime | None
    first_seen: datetime | None
    tags: list[str]
    opportunity: float | None
    snippet: str

    @classmethod
    def from_hit(cls, hit: Hit) -> Match:
        """A match from a search hit (the snippet is HTML-escaped with <mark> tags)."""
        return cls(
            id=hit.id,
            cluster_id=hit.cluster_id,
            title=hit.title,
            url=hit.url,
            source=hit.source,
            category=hit.category,
            published=hit.published,
            first_seen=hit.first_seen,
            tags=list(hit.tags),
            opportunity=hit.opportunity,
            snippet=hit.snippet,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = dict(self.__dict__)
        out["published"] = to_iso(self.published)
        out["first_seen"] = to_iso(self.first_seen)
        return out


@dataclass
class Evaluation:
    """What one rule would send now."""

    rule: AlertRule
    items: list[Match]
    total: int
    cursor_from: int | None
    cursor_to: int
    period_start: datetime
    period_end: datetime
    tag_counts: list[tuple[str, int]] = field(default_factory=list)
    day_counts: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None

    @property
    def more(self) -> int:
        """New matches beyond max_items, counted but not listed."""
        return max(0, self.total - len(self.items))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rule": self.rule.name,
            "mode": self.rule.schedule_text,
            "total": self.total,
            "shown": len(self.items),
            "more": self.more,
            "recipients": list(self.rule.recipients),
            "period_start": to_iso(self.period_start),
            "period_end": to_iso(self.period_end),
            "cursor_from": self.cursor_from,
            "cursor_to": self.cursor_to,
            "tag_counts": [{"tag": t, "count": n} for t, n in self.tag_counts],
            "day_counts": [{"day": d, "count": n} for d, n in self.day_counts],
            "items": [m.to_dict() for m in self.items],
            "error": self.error,
        }


def _delivered(store: Store, rule: str, hits: list[Hit]) -> tuple[set[int], set[int]]:
    """Which of these hits' items and clusters this rule has already sent."""
    if not hits:
        return set(), set()
    ids = [h.id for h in hits]
    clusters = [h.cluster_id for h in hits if h.cluster_id is not None]
    marks_i = ",".join("?" * len(ids))
    sql = (
        "SELECT item_id, cluster_id FROM alert_deliveries "
        f"WHERE rule = ? AND (item_id IN ({marks_i})"
    )
    params: list[Any] = [rule, *ids]
    if clusters:
        sql += f" OR cluster_id IN ({','.join('?' * len(clusters))})"
        params.extend(clusters)
    rows = store.conn.execute(sql + ")", params).fetchall()
    return {r[0] for r in rows}, {r[1] for r in rows if r[1] is not None}


def evaluate(
    rule: AlertRule,
    store: Store,
    backend: SearchBackend,
    config: Config,
    now: datetime,
) -> Evaluation:
    """What `rule` would send now: new matches since its cursor, one per cluster, not yet sent."""
    cursor = get_cursor(store, rule.name)
    top = high_water(store, config)
    query = rule.search_query()
    if cursor is not None and cursor.evaluated_at is not None:
        query.min_id = cursor.last_item_id + 1
        cursor_from: int | None = cursor.last_item_id
        period_start = cursor.last_digest_at if rule.is_digest else cursor.evaluated_at
        period_start = period_start or cursor.evaluated_at
        if cursor.last_item_id >= newest_id(store):
            # Nothing stored since the last evaluation: no need to ask the engine.
            return Evaluation(rule, [], 0, cursor_from, cursor_from, period_start, now)
    else:
        period_start = now - FIRST_LOOKBACK[rule.mode]
        query.first_seen_after = period_start
        cursor_from = None
    # Exactly what the email lists: every hit costs a snippet. Items already sent
    # (only after a stalled cursor) are made up from the next page.
    query.per_page = min(rule.max_items, PAGE_SIZE)
    if rule.is_digest:
        query.facets = ["tags", "day"]
        query.facet_size = 15
    items: list[Match] = []
    skipped = 0
    total = 0
    tag_counts: list[tuple[str, int]] = []
    day_counts: list[tuple[str, int]] = []
    page = 1
    while True:
        query.page = page
        result = backend.search(query)
        if page == 1:
            total = result.total
            tag_counts = [(b.value, b.count) for b in result.facets.get("tags", [])]
            day_counts = [(b.value, b.count) for b in result.facets.get("day", [])]
            query.facets = []
        seen_items, seen_clusters = _delivered(store, rule.name, result.hits)
        for hit in result.hits:
            if hit.id in seen_items or (
                hit.cluster_id is not None and hit.cluster_id in seen_clusters
            ):
                skipped += 1
            elif len(items) < rule.max_items:
                items.append(Match.from_hit(hit))
        if len(items) >= rule.max_items or page * query.per_page >= result.total:
            break
        if (page + 1) * query.per_page > SEARCH_WINDOW:
            break
        page += 1
    return Evaluation(
        rule=rule,
        items=items,
        total=max(len(items), total - skipped),
        cursor_from=cursor_from,
        cursor_to=max(top, cursor_from or 0),
        period_start=period_start,
        period_end=now,
        tag_counts=tag_counts,
        day_counts=day_counts,
    )


def record(
    store: Store, evaluation: Evaluation, outbox_rows: Iterable[dict[str, Any]], now: datetime
) -> None:
    """Queue the messages, record the deliveries and move the cursor, all in one transaction."""
    from watch.mailer import enqueue

    rule = evaluation.rule
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO alert_cursors (rule, created_at) VALUES (?, ?)",
            (rule.name, to_iso(now)),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO alert_deliveries (rule, item_id, cluster_id, queued_at) "
            "VALUES (?, ?, ?, ?)",
            [(rule.name, m.id, m.cluster_id, to_iso(now)) for m in evaluation.items],
        )
        for row in outbox_rows:
            enqueue(store, **row, now=now)
        conn.execute(
            "UPDATE alert_cursors SET last_item_id = ?, evaluated_at = ? WHERE rule = ?",
            (evaluation.cursor_to, to_iso(now), rule.name),
        )
        if rule.is_digest:
            conn.execute(
                "UPDATE alert_cursors SET last_digest_at = ? WHERE rule = ?",
                (to_iso(now), rule.name),
            )


# -- a run: evaluate, queue, deliver ----------------------------------------------


@dataclass
class RuleOutcome:
    """What a run did for one rule."""

    rule: str
    mode: str
    status: Literal["sent", "queued", "nothing new", "not due", "error", "dry run", "disabled"]
    items: int = 0
    total: int = 0
    messages: int = 0
    error: str | None = None
    evaluation: Evaluation | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "evaluation"}
        if self.evaluation is not None:
            out["items_detail"] = [m.to_dict() for m in self.evaluation.items]
        return out


@dataclass
class AlertRunReport:
    """What `alerts run` did: per rule, and the delivery of the outbox."""

    rules: list[RuleOutcome] = field(default_factory=list)
    notices: int = 0
    delivery: DeliveryReport | None = None
    skipped_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rules": [r.to_dict() for r in self.rules],
            "notices": self.notices,
            "delivery": self.delivery.to_dict() if self.delivery else None,
            "skipped_reason": self.skipped_reason,
        }


DigestPolicy = Literal["due", "all", "none"]


def run_alerts(
    config: Config,
    *,
    store: Store | None = None,
    backend: SearchBackend | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    digests: DigestPolicy = "due",
    only: Iterable[str] | None = None,
    smtp: SmtpSettings | None = None,
    deliver: bool = True,
) -> AlertRunReport:
    """Evaluate the rules, queue what is new, then send the outbox.

    Instant rules are evaluated every time; digests when due (`digests="all"`
    forces them, `"none"` skips them). `dry_run` evaluates and reports but
    changes nothing and sends nothing. `smtp` overrides the configured server
    (the demo delivers to its own sink this way).
    """
    from watch.locks import ALERTS_LOCK, Locks

    alerts = load_rules(config)
    now = now or utcnow()
    own_store = store is None
    store = store or Store(config.db_path)
    try:
        if dry_run:
            return _evaluate_all(config, alerts, store, backend, now, digests, only, dry_run=True)
        locks = Locks(store, clock=lambda: now)
        token = locks.try_acquire(ALERTS_LOCK, ttl=timedelta(hours=1))
        if token is None:
            holder = locks.holder(ALERTS_LOCK)
            who = f"pid {holder.pid} on {holder.host}" if holder else "another process"
            return AlertRunReport(skipped_reason=f"alerts are being sent by {who}")
        try:
            report = _evaluate_all(config, alerts, store, backend, now, digests, only, False)
            report.notices = queue_source_notices(config, store, alerts, now)
            if deliver:
                from watch.mailer import deliver_pending

                report.delivery = deliver_pending(store, smtp or config.settings.smtp, now=now)
                sent_rules = report.delivery.sent_rules
                for outcome in report.rules:
                    if outcome.status == "queued" and outcome.rule in sent_rules:
                        outcome.status = "sent"
        finally:
            locks.release(ALERTS_LOCK, token)
        return report
    finally:
        if own_store:
            store.close()


def _evaluate_all(
    config: Config,
    alerts: AlertsConfig,
    store: Store,
    backend: SearchBackend | None,
    now: datetime,
    digests: DigestPolicy,
    only: Iterable[str] | None,
    dry_run: bool,
) -> AlertRunReport:
    from watch.digest import digest_due
    from watch.emails import Composer

    wanted = set(only) if only is not None else None
    report = AlertRunReport()
    # One slot per rule in file order; evaluated rules fill theirs as results arrive.
    slots: list[RuleOutcome | None] = []
    todo: list[AlertRule] = []
    where: list[int] = []
    for rule in alerts.rules:
        if wanted is not None and rule.name not in wanted:
            continue
        if not rule.enabled:
            slots.append(RuleOutcome(rule.name, rule.schedule_text, "disabled"))
            continue
        if rule.is_digest:
            if digests == "none":
                continue
            cursor = get_cursor(store, rule.name)
            if cursor is None and not dry_run:
                cursor = ensure_cursor(store, rule.name, now)
            if digests == "due" and not digest_due(rule, cursor, now, _tz(config)):
                slots.append(RuleOutcome(rule.name, rule.schedule_text, "not due"))
                continue
        where.append(len(slots))
        slots.append(None)
        todo.append(rule)
    composer = Composer(config, alerts.templates_dir) if todo else None
    unchanged: list[Evaluation] = []
    # Searches run on worker threads (they only read); this thread renders and
    # records the results, one rule per transaction. With Elasticsearch it does so
    # as they arrive, overlapping the network waits; SQLite searches are CPU work
    # in this process, and rendering beside them only adds contention for the GIL.
    results: Iterable[tuple[int, Evaluation | str]] = (
        evaluate_stream(config, todo, store, backend, now) if todo else ()
    )
    if config.settings.search.backend == "sqlite":
        results = list(results)
    for n, result in results:
        rule, i = todo[n], where[n]
        if isinstance(result, str):
            slots[i] = RuleOutcome(rule.name, rule.schedule_text, "error", error=result)
            continue
        outcome = RuleOutcome(
            rule.name,
            rule.schedule_text,
            "nothing new",
            items=len(result.items),
            total=result.total,
            evaluation=result,
        )
        slots[i] = outcome
        if dry_run:
            outcome.status = "dry run"
        elif result.items:
            assert composer is not None
            rows = composer.outbox_rows(result)
            outcome.status = "queued"
            outcome.messages = len(rows)
            record(store, result, rows, now)
        else:
            unchanged.append(result)
    if unchanged:
        record_unchanged(store, unchanged, now)
    report.rules.extend(o for o in slots if o is not None)
    return report


def record_unchanged(store: Store, evaluations: list[Evaluation], now: datetime) -> None:
    """Move the cursors of rules that found nothing to send, all in one transaction."""
    with store.transaction() as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO alert_cursors (rule, created_at) VALUES (?, ?)",
            [(e.rule.name, to_iso(now)) for e in evaluations],
        )
        conn.executemany(
            "UPDATE alert_cursors SET last_item_id = ?, evaluated_at = ?, "
            "last_digest_at = CASE WHEN ? THEN ? ELSE last_digest_at END WHERE rule = ?",
            [
                (e.cursor_to, to_iso(now), e.rule.is_digest, to_iso(now), e.rule.name)
                for e in evaluations
            ],
        )


def evaluate_stream(
    config: Config,
    rules: list[AlertRule],
    store: Store,
    backend: SearchBackend | None,
    now: datetime,
    workers: int | None = None,
) -> Iterator[tuple[int, Evaluation | str]]:
    """Evaluate rules, yielding (index, result) as each finishes; errors come as messages.

    With no backend given and enough rules, the searches run on `workers`
    threads, each with its own store connection and backend (SQLite and the
    Elasticsearch client both release the GIL while they wait).
    """
    from watch.search import open_backend

    if workers is None:
        sqlite = config.settings.search.backend == "sqlite"
        workers = SQLITE_WORKERS if sqlite else ELASTIC_WORKERS

    def one(rule: AlertRule, st: Store, be: SearchBackend) -> Evaluation | str:
        try:
            return evaluate(rule, st, be, config, now)
        except UserError as exc:
            return str(exc)
        except Exception as exc:  # one rule's failure must not stop the others
            log.exception("alert rule %r failed", rule.name)
            return f"{type(exc).__name__}: {exc}"

    if backend is not None or workers <= 1 or len(rules) < PARALLEL_MIN_RULES:
        be = backend or open_backend(config, store)
        for i, rule in enumerate(rules):
            yield i, one(rule, store, be)
        return

    todo: queue.SimpleQueue[tuple[int, AlertRule]] = queue.SimpleQueue()
    for pair in enumerate(rules):
        todo.put(pair)
    done: queue.SimpleQueue[tuple[int, Evaluation | str]] = queue.SimpleQueue()

    def worker() -> None:
        # A connection per thread, opened and closed in that thread (sqlite3 insists).
        try:
            with Store(config.db_path) as own:
                be = open_backend(config, own)
                while True:
                    try:
                        i, rule = todo.get_nowait()
                    except queue.Empty:
                        return
                    done.put((i, one(rule, own, be)))
        except Exception as exc:  # cannot open the store or backend: fail the rest
            while True:
                try:
                    i, _ = todo.get_nowait()
                except queue.Empty:
                    return
                done.put((i, f"{type(exc).__name__}: {exc}"))

    threads = [
        threading.Thread(target=worker, name=f"alerts-{n}", daemon=True) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    for _ in rules:
        yield done.get()
    for thread in threads:
        thread.join()


def _tz(config: Config) -> str:
    return config.settings.scheduler.timezone


def deliver_to(
    config: Config,
    host: str,
    port: int,
    *,
    now: datetime | None = None,
    digests: DigestPolicy = "all",
) -> AlertRunReport:
    """Evaluate the rules and send their mail to the SMTP server at host:port (no TLS, no login).

    The demo's hook: it delivers to its own local sink (watch.smtpsink.SmtpSink),
    or to the server `veille demo --smtp HOST:PORT` names. Digests are sent
    whether due or not, so every kind of rule shows something.
    """
    smtp = config.settings.smtp.model_copy(
        update={"host": host, "port": port, "security": "none", "username": None}
    )
    return run_alerts(config, now=now, smtp=smtp, digests=digests)


def preview(config: Config, name: str, *, now: datetime | None = None) -> Evaluation:
    """What rule `name` would send now (`alerts test`): evaluates, records and sends nothing."""
    alerts = load_rules(config)
    rule = alerts.rule(name)
    with Store(config.db_path) as store:
        from watch.search import open_backend

        return evaluate(rule, store, open_backend(config, store), config, now or utcnow())


# -- admin notices ------------------------------------------------------------------


def queue_source_notices(config: Config, store: Store, alerts: AlertsConfig, now: datetime) -> int:
    """Queue one "source failing" email to smtp.admin_email per failing streak; return how many."""
    from watch.emails import Composer

    admin = config.settings.smtp.admin_email
    threshold = config.settings.scheduler.failure_threshold
    states = store.source_states()
    recovered = [n for n, s in states.items() if s.consecutive_failures < threshold]
    with store.transaction() as conn:
        conn.executemany("DELETE FROM source_notices WHERE source = ?", [(n,) for n in recovered])
    if not admin:
        return 0
    notified = {r[0] for r in store.conn.execute("SELECT source FROM source_notices")}
    failing = [
        s
        for n, s in sorted(states.items())
        if s.consecutive_failures >= threshold and n not in notified
    ]
    if not failing:
        return 0
    composer = Composer(config, alerts.templates_dir)
    row = composer.source_failing_row(failing, admin, now)
    from watch.mailer import enqueue

    with store.transaction() as conn:
        enqueue(store, **row, now=now)
        conn.executemany(
            "INSERT OR REPLACE INTO source_notices (source, failures, notified_at) VALUES (?,?,?)",
            [(s.name, s.consecutive_failures, to_iso(now)) for s in failing],
        )
    return 1
