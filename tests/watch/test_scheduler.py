"""Unattended runs: locks, polling plans, `veille run` cycles and the APScheduler service.

Where a test needs to control how long a crawl takes or whether it fails, it
passes `StoreCrawl` as the crawl function: it writes items and source results
to the store exactly as `watch.crawl.run_crawl` does, without the network.
Everything else (store, locks, search backend, SMTP server, scheduler,
signals) is real.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from tests.smtp import add_item, make_watch, to
from watch.config import Config, ConfigError, SchedulerSettings
from watch.locks import LockHeld, Locks, source_lock
from watch.polling import WEEK, adaptive_interval, backoff_interval, check_schedules, plan
from watch.scheduler import Service, run_cycle
from watch.smtpsink import SmtpSink
from watch.store import Store

REPO = Path(__file__).resolve().parents[2]


class StoreCrawl:
    """A crawl function that stores one new item per source per call (or records a failure)."""

    def __init__(self, delay: float = 0.0, fail: set[str] | None = None) -> None:
        self.delay = delay
        self.fail = fail or set()
        self.calls: list[tuple[list[str], float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, config, source_names, *, progress: bool = False) -> None:
        start = time.monotonic()
        time.sleep(self.delay)
        with Store(config.db_path) as store:
            for name in source_names:
                if name in self.fail:
                    store.record_source_result(name, "HTTP 500 on the feed")
                    continue
                add_item(store, f"Marketplace news from {name}", source=name)
                store.record_source_result(name, None)
        with self.lock:
            self.calls.append((list(source_names), start, time.monotonic()))

    def runs_of(self, name: str) -> list[tuple[float, float]]:
        """(start, end) of every crawl that included `name`."""
        with self.lock:
            return [(s, e) for names, s, e in self.calls if name in names]


SOURCES = """
sources:
  - {name: alpha, type: feed, url: "https://alpha.example/feed"}
  - {name: beta, type: feed, url: "https://beta.example/feed", interval: 2h}
  - {name: gamma, type: feed, url: "https://gamma.example/feed", enabled: false}
"""


def one_source(name: str, extra: str = "") -> str:
    """sources.yaml with one feed source."""
    options = f", {extra}" if extra else ""
    return f'sources:\n  - {{name: {name}, type: feed, url: "https://{name}.example/x"{options}}}\n'


RULE = "alerts:\n  - {name: market, query: marketplace, recipients: [pm@shop.test]}\n"
NO_ALERTS = "alerts: []\n"


class WatchFactory(Protocol):
    def __call__(
        self,
        sources: str = SOURCES,
        alerts: str = NO_ALERTS,
        sink: SmtpSink | None = None,
        settings: str = "",
    ) -> Config: ...


@pytest.fixture
def watch(tmp_path: Path) -> WatchFactory:
    """Writes the test's watch into tmp_path: SOURCES, no alert rules and no mail unless given."""

    def make(
        sources: str = SOURCES,
        alerts: str = NO_ALERTS,
        sink: SmtpSink | None = None,
        settings: str = "",
    ) -> Config:
        return make_watch(tmp_path, sink, alerts, sources=sources, settings=settings)

    return make


@pytest.fixture
def start_service() -> Iterator[Callable[[Config, StoreCrawl], Service]]:
    """Starts resident schedulers; each is stopped after the test, even when it fails."""
    started: list[Service] = []

    def start(config: Config, crawl: StoreCrawl) -> Service:
        service = Service(config, crawl=crawl).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


# -- locks ---------------------------------------------------------------------------


def test_a_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        locks = Locks(store)
        token = locks.acquire("source:a")
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            locks.acquire("source:a")
        locks.release("source:a", "not-the-token")
        assert locks.try_acquire("source:a") is None
        locks.release("source:a", token)
        assert locks.try_acquire("source:a") is not None


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    code = (
        "import os, sys; from watch.store import Store; from watch.locks import Locks; "
        f"Locks(Store({str(db)!r})).acquire('source:a'); os._exit(0)"
    )
    # The holder exits without releasing, as after SIGKILL or a crash.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    with Store(db) as store:
        locks = Locks(store)
        holder = locks.holder("source:a")
        assert holder is not None and holder.pid != os.getpid()
        assert locks.is_stale(holder)
        assert locks.try_acquire("source:a") is not None


def test_an_expired_lock_is_taken_over(tmp_path: Path) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    with Store(tmp_path / "s.db") as store:
        Locks(store, clock=lambda: now).acquire("x", ttl=timedelta(minutes=5))
        assert Locks(store, clock=lambda: now + timedelta(minutes=4)).try_acquire("x") is None
        assert Locks(store, clock=lambda: now + timedelta(minutes=6)).try_acquire("x")


# -- polling plans ----------------------------------------------------------------------


def test_adaptive_interval_follows_the_publishing_rate_within_bounds() -> None:
    settings = SchedulerSettings(min_interval="10m", max_interval="24h")
    assert adaptive_interval(0, settings) == 86400  # silent feed: the maximum
    assert adaptive_interval(7, settings) == 86400  # one a day
    assert adaptive_interval(14, settings) == WEEK / 14  # twice a day: every 12 h
    assert adaptive_interval(10_000, settings) == 600  # very busy: the minimum


def test_failing_sources_back_off_exponentially_after_the_threshold() -> None:
    settings = SchedulerSettings(failure_threshold=3, max_backoff="24h")
    hour = 3600.0
    assert [backoff_interval(hour, n, settings) for n in range(7)] == [
        hour,
        hour,
        hour,
        2 * hour,
        4 * hour,
        8 * hour,
        16 * hour,
    ]
    assert backoff_interval(hour, 12, settings) == 24 * hour


def test_plans_for_adaptive_fixed_cron_and_failing_sources(watch: WatchFactory) -> None:
    config = watch(
        sources="""
        sources:
          - {name: busy, type: feed, url: "https://a.example/f"}
          - {name: fixed, type: feed, url: "https://b.example/f", interval: 45m}
          - {name: nightly, type: feed, url: "https://c.example/f", cron: "30 2 * * *"}
        """,
    )
    now = datetime.now(UTC)
    with Store(config.db_path) as store:
        fresh = plan(config, store, config.source("busy"), store.source_state("busy"), now)
        assert fresh.interval == 3600 and "no successful crawl yet" in fresh.reason
        for _ in range(28):
            add_item(store, "busy item", source="busy")
        state = store.record_source_result("busy", None)
        busy = plan(config, store, config.source("busy"), state, now)
        assert busy.interval == WEEK / 28 and "28 item(s)" in busy.reason
        fixed = plan(config, store, config.source("fixed"), store.source_state("fixed"), now)
        assert fixed.interval == 45 * 60
        nightly = plan(config, store, config.source("nightly"), store.source_state("nightly"), now)
        assert (nightly.next_due_at.hour, nightly.next_due_at.minute) == (2, 30)
        assert timedelta(0) < nightly.next_due_at - now <= timedelta(days=1)
        for _ in range(4):
            state = store.record_source_result("fixed", "timeout")
        failing = plan(config, store, config.source("fixed"), state, now)
        assert failing.interval == 45 * 60 * 4 and "backing off after 4 failures" in failing.reason


def test_bad_intervals_and_cron_expressions_are_reported_up_front(watch: WatchFactory) -> None:
    config = watch(
        sources="""
        sources:
          - {name: a, type: feed, url: "https://a.example/f", interval: soon}
          - {name: b, type: feed, url: "https://b.example/f", cron: "every day"}
          - {name: c, type: feed, url: "https://c.example/f", cron: "0 * * * *", interval: 1h}
        """,
    )
    with pytest.raises(ConfigError) as err:
        check_schedules(config)
    message = str(err.value)
    assert "source 'a', field 'interval'" in message and "'soon'" in message
    assert "source 'b', field 'cron'" in message
    assert "source 'c': set either 'interval' or 'cron'" in message


# -- one cycle (veille run) ----------------------------------------------------------------


def test_a_cycle_crawls_due_sources_then_alerts_and_the_next_cycle_waits(
    watch: WatchFactory, smtp_sink: SmtpSink
) -> None:
    config = watch(alerts=RULE, sink=smtp_sink)
    crawl = StoreCrawl()

    first = run_cycle(config, crawl=crawl)

    assert [c[0] for c in crawl.calls] == [["alpha", "beta"]]  # gamma is disabled
    assert {s.source: s.status for s in first.sources} == {"alpha": "crawled", "beta": "crawled"}
    assert to(smtp_sink.messages) == ["pm@shop.test"]
    assert smtp_sink.messages[0].message["Subject"] == "[Veille] market: 2 new items"
    with Store(config.db_path) as store:
        beta = store.source_state("beta")
        assert beta.current_interval == 7200
        assert store.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0

    second = run_cycle(config, crawl=crawl)
    assert second.sources == [] and len(crawl.calls) == 1
    assert len(smtp_sink.messages) == 1

    later = datetime.now(UTC) + timedelta(hours=2, minutes=1)
    run_cycle(config, crawl=crawl, clock=lambda: later)
    assert crawl.calls[-1][0] == ["beta"]  # alpha polls adaptively, every 24 h at most


def test_a_source_being_crawled_elsewhere_is_skipped(watch: WatchFactory) -> None:
    config = watch()
    crawl = StoreCrawl()
    with Store(config.db_path) as store:
        # Held by a live process (this one), as by a concurrent `veille schedule`.
        token = Locks(store).acquire(source_lock("alpha"))
        report = run_cycle(config, crawl=crawl, alerts=False)
        Locks(store).release(source_lock("alpha"), token)
    assert [c[0] for c in crawl.calls] == [["beta"]]
    alpha = next(s for s in report.sources if s.source == "alpha")
    assert alpha.status == "skipped" and f"pid {os.getpid()}" in alpha.error


def test_a_crashing_crawler_is_recorded_and_alerts_still_run(
    watch: WatchFactory, smtp_sink: SmtpSink
) -> None:
    config = watch(alerts=RULE, sink=smtp_sink)
    with Store(config.db_path) as store:
        add_item(store, "Marketplace fees change")

    def broken(config, names, *, progress=False):
        raise RuntimeError("spider exploded")

    report = run_cycle(config, crawl=broken)
    assert {s.status for s in report.sources} == {"failed"}
    assert "spider exploded" in report.sources[0].error
    with Store(config.db_path) as store:
        assert store.source_state("alpha").consecutive_failures == 1
    assert len(smtp_sink.messages) == 1  # the stored item was still alerted on


def test_a_failing_source_backs_off_and_the_admin_is_told_once(
    watch: WatchFactory, smtp_sink: SmtpSink
) -> None:
    config = watch(
        sink=smtp_sink,
        settings="""
        scheduler:
          failure_threshold: 2
        """,
    )
    config.settings.smtp.admin_email = "admin@shop.test"
    crawl = StoreCrawl(fail={"beta"})
    now = datetime.now(UTC)
    intervals = []
    for i in range(4):
        at = now + timedelta(days=i)
        report = run_cycle(config, crawl=crawl, sources=["beta"], clock=lambda at=at: at)
        intervals.append(report.sources[0].plan.interval)
    assert intervals == [7200, 14400, 28800, 57600]

    [notice] = smtp_sink.messages
    assert to([notice]) == ["admin@shop.test"]
    assert notice.message["Subject"] == "[Veille] 1 source failing: beta"
    assert "HTTP 500 on the feed" in notice.part("plain")

    crawl.fail.clear()
    run_cycle(config, crawl=crawl, sources=["beta"])
    crawl.fail.add("beta")
    for _ in range(2):
        run_cycle(config, crawl=crawl, sources=["beta"])
    assert len(smtp_sink.messages) == 2  # a new failing streak, a new notice


def test_veille_run_command_prints_the_cycle(watch: WatchFactory, smtp_sink: SmtpSink) -> None:
    from click.testing import CliRunner

    from watch.cli import cli

    config = watch(sources="sources: []\n", alerts=RULE, sink=smtp_sink)
    with Store(config.db_path) as store:
        add_item(store, "Marketplace opens in Poland")
    result = CliRunner().invoke(
        cli, ["run", "--config", str(config.path), "--no-crawl"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "No source was due" in result.output and "1 sent" in result.output
    assert len(smtp_sink.messages) == 1


# -- the resident scheduler --------------------------------------------------------------


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_sources_run_on_their_interval_without_overlapping(
    watch: WatchFactory, start_service: Callable[[Config, StoreCrawl], Service]
) -> None:
    config = watch(sources=one_source("fast", "interval: 1s"))
    crawl = StoreCrawl(delay=0.6)
    service = start_service(config, crawl)
    assert _wait(lambda: len(crawl.runs_of("fast")) >= 3, timeout=10)
    service.stop()
    runs = crawl.runs_of("fast")
    for (_, end), (start, _) in itertools.pairwise(runs):
        assert start >= end  # never two crawls of one source at once
    with Store(config.db_path) as store:
        assert store.source_state("fast").current_interval == 1.0


def test_a_source_missed_while_stopped_runs_once_at_start(
    watch: WatchFactory, start_service: Callable[[Config, StoreCrawl], Service]
) -> None:
    config = watch(
        sources="""
        sources:
          - {name: hourly, type: feed, url: "https://h.example/x", interval: 1h}
          - {name: later, type: feed, url: "https://l.example/x", interval: 1h}
        """,
    )
    now = datetime.now(UTC)
    with Store(config.db_path) as store:
        # Stopped for three days: 72 hourly slots missed.
        store.set_schedule("hourly", now - timedelta(days=3), 3600)
        store.set_schedule("later", now + timedelta(minutes=30), 3600)
    crawl = StoreCrawl()
    service = start_service(config, crawl)
    assert _wait(lambda: len(crawl.calls) >= 1)
    time.sleep(1.0)
    jobs = {j.id: j.next_run_time for j in service.scheduler.get_jobs()}
    service.stop()
    assert [c[0] for c in crawl.calls] == [["hourly"]]
    assert jobs["source:hourly"] - now > timedelta(minutes=59)
    assert abs(jobs["source:later"] - (now + timedelta(minutes=30))) < timedelta(seconds=2)


def test_the_scheduler_skips_a_source_locked_by_another_process(
    watch: WatchFactory, start_service: Callable[[Config, StoreCrawl], Service]
) -> None:
    config = watch(sources=one_source("shared"))
    Store(config.db_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from watch.store import Store; from watch.locks import Locks; "
            f"Locks(Store({str(config.db_path)!r})).acquire('source:shared'); "
            "print('held', flush=True); time.sleep(30)",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        crawl = StoreCrawl()
        service = start_service(config, crawl)
        assert _wait(lambda: len(service.runs) >= 1)
        time.sleep(0.5)
        service.stop()
        assert crawl.calls == []
    finally:
        holder.kill()
        holder.wait()
    # Its holder is gone (killed): the lock is stale and the next run takes it.
    assert run_cycle(config, crawl=crawl, alerts=False).sources[0].status == "crawled"


def test_missed_digest_is_sent_once_at_start(
    watch: WatchFactory,
    smtp_sink: SmtpSink,
    start_service: Callable[[Config, StoreCrawl], Service],
) -> None:
    config = watch(
        sources="sources: []\n",
        alerts="alerts:\n  - {name: morning, recipients: [pm@shop.test], mode: daily at 08:00}\n",
        sink=smtp_sink,
    )
    with Store(config.db_path) as store:
        store.conn.execute(
            "INSERT INTO alert_cursors (rule, created_at) VALUES ('morning', ?)",
            ((datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds"),),
        )
        add_item(store, "Checkout news")
    for _ in range(2):
        service = start_service(config, StoreCrawl())
        _wait(lambda: len(smtp_sink.messages) >= 1, timeout=5)
        time.sleep(0.3)
        service.stop()
    [digest] = smtp_sink.messages
    assert digest.message["Subject"] == "[Veille] morning (daily digest): 1 item"


SERVICE_SCRIPT = """
import logging, sys, time
from pathlib import Path
from watch.config import load_config
from watch.scheduler import Service
from tests.watch.test_scheduler import StoreCrawl

logging.basicConfig(level=logging.INFO)
marks = Path(sys.argv[2])

class Marked(StoreCrawl):
    def __call__(self, config, names, *, progress=False):
        with marks.open("a") as f:
            f.write("start\\n")
        super().__call__(config, names, progress=progress)
        with marks.open("a") as f:
            f.write("end\\n")

Service(load_config(sys.argv[1]), crawl=Marked(delay=2.0)).run_forever()
"""


def test_sigterm_stops_after_the_current_crawl(watch: WatchFactory, tmp_path: Path) -> None:
    config = watch(sources=one_source("slow", "interval: 1s"))
    marks = tmp_path / "marks.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SERVICE_SCRIPT), str(config.path), str(marks)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait(lambda: marks.exists() and "start" in marks.read_text(), timeout=20)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert marks.read_text().split() == ["start", "end"]  # finished, and started nothing new
    assert "stop requested" in stderr and "scheduler stopped" in stderr
    with Store(config.db_path) as store:
        assert store.count() == 1
        assert store.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0
