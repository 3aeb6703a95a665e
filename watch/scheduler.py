"""Unattended runs: one cycle for cron (`veille run`), or a resident scheduler (`veille schedule`).

A cycle crawls the sources that are due (tagging happens in the crawl
pipeline), brings the search index up to date, evaluates the alert rules and
sends mail. Each crawl of a source holds a lock in the store (watch/locks.py),
so two processes never crawl the same source at once and a crashed one never
blocks it. After each crawl the source's next poll is planned
(watch/polling.py) and recorded, which is also how a restarted scheduler knows
what it missed: overdue sources run once at start, not once per missed slot.

The crawl itself is injectable: by default `watch.crawl.run_crawl(config,
source_names, progress=...)`, which runs Scrapy in a child process.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from watch.alerts import AlertRunReport, load_rules, run_alerts
from watch.config import Config, SmtpSettings, Source
from watch.errors import UserError
from watch.locks import Locks, source_lock
from watch.polling import PollPlan, check_schedules, cron_trigger, due_sources, plan
from watch.store import Store, to_iso

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CrawlFn = Callable[..., Any]
# A crawl lock outlives any sane crawl; a dead holder frees it sooner (pid check).
CRAWL_LOCK_TTL = timedelta(hours=3)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def default_crawl() -> CrawlFn:
    """The real crawl runner (Scrapy in a child process)."""
    try:
        from watch.crawl import run_crawl
    except ImportError as exc:
        raise UserError(f"The crawler is not available in this installation ({exc}).") from None
    return run_crawl


@dataclass
class SourceOutcome:
    """What a cycle did for one source."""

    source: str
    status: str
    error: str | None = None
    plan: PollPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {"source": self.source, "status": self.status, "error": self.error}
        if self.plan is not None:
            out.update(
                next_due_at=to_iso(self.plan.next_due_at),
                interval=self.plan.interval,
                reason=self.plan.reason,
            )
        return out


@dataclass
class CycleReport:
    """What one `veille run` did."""

    started_at: datetime
    finished_at: datetime | None = None
    sources: list[SourceOutcome] = field(default_factory=list)
    indexed: int = 0
    index_error: str | None = None
    alerts: AlertRunReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "started_at": to_iso(self.started_at),
            "finished_at": to_iso(self.finished_at),
            "sources": [s.to_dict() for s in self.sources],
            "indexed": self.indexed,
            "index_error": self.index_error,
            "alerts": self.alerts.to_dict() if self.alerts else None,
        }


def crawl_sources(
    config: Config,
    store: Store,
    sources: Iterable[Source],
    crawl: CrawlFn,
    clock: Clock = utcnow,
    *,
    progress: bool = False,
) -> list[SourceOutcome]:
    """Crawl these sources (those not locked by another live process) and plan their next poll."""
    locks = Locks(store, clock=clock)
    outcomes: list[SourceOutcome] = []
    held: dict[str, str] = {}
    for source in sources:
        token = locks.try_acquire(source_lock(source.name), CRAWL_LOCK_TTL)
        if token is None:
            holder = locks.holder(source_lock(source.name))
            who = f"pid {holder.pid}" if holder else "another process"
            outcomes.append(SourceOutcome(source.name, "skipped", f"being crawled by {who}"))
        else:
            held[source.name] = token
    if not held:
        return outcomes
    names = list(held)
    before = {n: store.source_state(n).last_run_at for n in names}
    try:
        crawl_error: str | None = None
        try:
            crawl(config, names, progress=progress)
        except UserError as exc:
            crawl_error = str(exc)
        except Exception as exc:  # a crawler bug must not stop alerts or the scheduler
            log.exception("crawl of %s failed", ", ".join(names))
            crawl_error = f"crawl failed: {type(exc).__name__}: {exc}"
        now = clock()
        for name in names:
            state = store.source_state(name)
            if crawl_error is not None and state.last_run_at == before[name]:
                # The crawler died before recording this source: count it as a failure.
                state = store.record_source_result(name, crawl_error)
            source = config.source(name)
            next_poll = plan(config, store, source, state, now)
            store.set_schedule(name, next_poll.next_due_at, next_poll.interval)
            failed = state.consecutive_failures > 0 and state.last_error_at == state.last_run_at
            outcomes.append(
                SourceOutcome(
                    name,
                    "failed" if failed else "crawled",
                    state.last_error if failed else None,
                    next_poll,
                )
            )
    finally:
        for name, token in held.items():
            locks.release(source_lock(name), token)
    return outcomes


def sync_index(config: Config, store: Store) -> tuple[int, str | None]:
    """Send pending items to the search engine; a failure is reported, not raised."""
    from watch.indexer import sync_pending

    try:
        return sync_pending(config, store), None
    except UserError as exc:
        return 0, str(exc)
    except Exception as exc:  # the engine may be down; the outbox keeps the items
        log.warning("index sync failed: %s", exc)
        return 0, f"{type(exc).__name__}: {exc}"


def run_cycle(
    config: Config,
    *,
    crawl: CrawlFn | None = None,
    clock: Clock = utcnow,
    sources: Iterable[str] | None = None,
    force: bool = False,
    alerts: bool = True,
    crawl_enabled: bool = True,
    smtp: SmtpSettings | None = None,
    progress: bool = False,
) -> CycleReport:
    """One full cycle for cron: crawl what is due, index, evaluate alerts, send; then return."""
    check_schedules(config)
    load_rules(config)  # a broken alerts.yaml fails before any crawling
    report = CycleReport(started_at=clock())
    with Store(config.db_path) as store:
        if crawl_enabled:
            if sources:
                chosen = [config.source(n) for n in sources]
            elif force:
                chosen = [s for s in config.sources if s.enabled]
            else:
                chosen = due_sources(config, store, clock())
            if chosen:
                report.sources = crawl_sources(
                    config, store, chosen, crawl or default_crawl(), clock, progress=progress
                )
        report.indexed, report.index_error = sync_index(config, store)
        if alerts:
            report.alerts = run_alerts(config, store=store, now=clock(), smtp=smtp)
    report.finished_at = clock()
    return report


class Service:
    """`veille schedule`: APScheduler jobs for each source, digest and the outbox."""

    def __init__(
        self,
        config: Config,
        *,
        crawl: CrawlFn | None = None,
        clock: Clock = utcnow,
        smtp: SmtpSettings | None = None,
        outbox_every: float = 60.0,
        crawl_workers: int = 2,
        misfire_grace: float = 3600.0,
    ) -> None:
        check_schedules(config)
        self.config = config
        self.rules = load_rules(config)
        self.crawl = crawl or default_crawl()
        self.clock = clock
        self.smtp = smtp
        self.outbox_every = outbox_every
        self.stopping = threading.Event()
        self._stopped = threading.Event()
        # One alert pass at a time in this process (the store lock covers other processes).
        self._alerts_lock = threading.Lock()
        # The latest polls, for tests and debugging (bounded: the service runs for months).
        self.runs: deque[tuple[str, datetime]] = deque(maxlen=200)
        tz = config.settings.scheduler.timezone
        self.scheduler = BackgroundScheduler(
            timezone=tz,
            executors={
                "default": ThreadPoolExecutor(2),
                "crawl": ThreadPoolExecutor(crawl_workers),
            },
            # coalesce: slots missed while busy or suspended run once, not N times;
            # max_instances=1: a source never overlaps itself inside this process.
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(misfire_grace),
            },
        )

    # -- set-up -----------------------------------------------------------

    def start(self) -> Service:
        """Add the jobs and start the scheduler thread (overdue sources run right away)."""
        now = self.clock()
        tz = self.config.settings.scheduler.timezone
        with Store(self.config.db_path) as store:
            states = store.source_states()
        for source in self.config.sources:
            if not source.enabled:
                continue
            state = states.get(source.name)
            due = state.next_due_at if state else None
            first = now if due is None or due <= now else due
            if source.cron:
                trigger: Any = cron_trigger(source, tz)
            else:
                interval = (state.current_interval if state else None) or self._base_interval(
                    source
                )
                trigger = IntervalTrigger(seconds=max(interval, 1.0), timezone=tz)
            self.scheduler.add_job(
                self.poll_source,
                trigger,
                args=[source.name],
                id=f"source:{source.name}",
                name=f"crawl {source.name}",
                executor="crawl",
                next_run_time=first,
                replace_existing=True,
            )
        from watch.digest import cron_fields

        for rule in self.rules.rules:
            if rule.enabled and rule.is_digest:
                self.scheduler.add_job(
                    self.send_digest,
                    CronTrigger(timezone=tz, **cron_fields(rule)),
                    args=[rule.name],
                    id=f"digest:{rule.name}",
                    name=f"digest {rule.name}",
                )
        # Digests missed while stopped go out once now; the outbox is retried regularly.
        self.scheduler.add_job(self.catch_up, id="catch-up", name="catch up", next_run_time=now)
        self.scheduler.add_job(
            self.deliver,
            IntervalTrigger(seconds=self.outbox_every, timezone=tz),
            id="outbox",
            name="send pending mail",
        )
        self.scheduler.start()
        log.info("scheduler started: %d job(s)", len(self.scheduler.get_jobs()))
        return self

    def _base_interval(self, source: Source) -> float:
        from watch.config import parse_duration

        return parse_duration(source.interval or self.config.settings.scheduler.default_interval)

    # -- jobs -------------------------------------------------------------

    def poll_source(self, name: str) -> None:
        """Crawl one source, plan its next poll, then evaluate the instant alerts."""
        if self.stopping.is_set():
            return
        self.runs.append((name, self.clock()))
        with Store(self.config.db_path) as store:
            outcome = crawl_sources(
                self.config, store, [self.config.source(name)], self.crawl, self.clock
            )[0]
            log.info(
                "source %s: %s%s",
                name,
                outcome.status,
                f" ({outcome.error})" if outcome.error else "",
            )
            if outcome.plan is not None:
                self._reschedule(outcome.plan)
            if outcome.status == "skipped":
                return
            _, index_error = sync_index(self.config, store)
            if index_error:
                log.warning("index: %s", index_error)
            self._alerts(store, digests="none")

    def _reschedule(self, next_poll: PollPlan) -> None:
        job_id = f"source:{next_poll.source}"
        if self.stopping.is_set() or self.scheduler.get_job(job_id) is None:
            return
        source = self.config.source(next_poll.source)
        changes: dict[str, Any] = {"next_run_time": next_poll.next_due_at}
        if not source.cron:
            changes["trigger"] = IntervalTrigger(
                seconds=max(next_poll.interval, 1.0),
                timezone=self.config.settings.scheduler.timezone,
            )
        self.scheduler.modify_job(job_id, **changes)

    def send_digest(self, name: str) -> None:
        """Send one digest rule if it is due."""
        if self.stopping.is_set():
            return
        with Store(self.config.db_path) as store:
            self._alerts(store, digests="due", only=[name])

    def catch_up(self) -> None:
        """At start: send the digests missed while stopped (once), and pending mail."""
        with Store(self.config.db_path) as store:
            names = [r.name for r in self.rules.rules if r.is_digest]
            self._alerts(store, digests="due", only=names)

    def deliver(self) -> None:
        """Retry pending mail whose backoff has passed."""
        if self.stopping.is_set():
            return
        with Store(self.config.db_path) as store:
            self._alerts(store, digests="none", only=[])

    def _alerts(self, store: Store, *, digests: str, only: list[str] | None = None) -> None:
        with self._alerts_lock:
            try:
                report = run_alerts(
                    self.config,
                    store=store,
                    now=self.clock(),
                    digests=digests,  # type: ignore[arg-type]
                    only=only,
                    smtp=self.smtp,
                )
            except UserError as exc:
                log.error("alerts: %s", exc)
                return
        for outcome in report.rules:
            if outcome.status in ("sent", "queued"):
                log.info(
                    "alert %s: %s, %d new item(s)", outcome.rule, outcome.status, outcome.total
                )
            elif outcome.status == "error":
                log.error("alert %s: %s", outcome.rule, outcome.error)
        if report.delivery and report.delivery.errors:
            log.warning("mail: %s", "; ".join(report.delivery.errors[:3]))

    # -- stopping ---------------------------------------------------------

    def stop(self, wait: bool = True) -> None:
        """Stop taking new work; with `wait`, let running jobs finish first."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self._stopped.set()

    def request_stop(self, *_: object) -> None:
        """Signal handler: ask the main loop to stop after the current work."""
        if not self.stopping.is_set():
            log.info("stop requested; finishing the current work")
        self.stopping.set()

    def run_forever(self) -> None:
        """Start, then block until SIGTERM/SIGINT; stop cleanly after the current work."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.start()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self.stop(wait=True)
            log.info("scheduler stopped")
