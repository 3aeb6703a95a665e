"""The crawl runner: one Scrapy CrawlerProcess per run, in a child process.

Twisted's reactor cannot be restarted, yet the scheduler and the tests call
`run_crawl` many times in one Python process. So each run starts
`python -m watch.crawl`, which runs every selected source as its own spider in
one CrawlerProcess, writes items and the run's counts to the store, and
streams progress events (JSON lines) on its stdout. The parent shows them,
then reads the run back from the store, which stays the system of record.

If the parent dies, the child sees its stdin close and stops cleanly. If the
child dies (SIGKILL, out of memory), every batch it committed is complete and
the next run simply continues.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from watch.config import Config, Source
from watch.errors import UserError
from watch.store import SourceRunStats, Store

# Seconds between progress events from the crawl process.
PROGRESS_INTERVAL = 0.5
# After its parent is gone, how long the crawl process may take to stop cleanly.
ORPHAN_GRACE = 30.0
COUNT_FIELDS = ("requests", "new", "updated", "unchanged", "duplicates", "not_modified", "errors")


@dataclass
class SourceReport:
    """How one source did in a run."""

    name: str
    type: str
    ok: bool
    error: str | None
    stats: SourceRunStats

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "type": self.type, "ok": self.ok, "error": self.error,
                **{k: v for k, v in asdict(self.stats).items() if k != "source"}}  # fmt: skip


@dataclass
class CrawlReport:
    """The outcome of one `run_crawl`: the run's id and status, and each source's counts."""

    run_id: int
    status: str
    started_at: str | None
    finished_at: str | None
    sources: list[SourceReport] = field(default_factory=list)
    indexed: int = 0
    index_error: str | None = None
    log_path: str | None = None
    # The crawl process died before recording the run (killed, out of memory, a bug).
    crashed: bool = False

    @property
    def ok(self) -> bool:
        """Whether every source succeeded."""
        return all(s.ok for s in self.sources)

    def totals(self) -> dict[str, int]:
        """Counts summed over the sources."""
        return {k: sum(getattr(s.stats, k) for s in self.sources) for k in COUNT_FIELDS}

    def source(self, name: str) -> SourceReport:
        """One source's report."""
        for report in self.sources:
            if report.name == name:
                return report
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what `veille crawl --json` prints)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "totals": self.totals(),
            "sources": [s.to_dict() for s in self.sources],
            "indexed": self.indexed,
            "index_error": self.index_error,
            "log": self.log_path,
            "crashed": self.crashed,
        }


def select_sources(config: Config, names: list[str] | tuple[str, ...] | None) -> list[Source]:
    """The sources to crawl: those named (disabled ones included), else every enabled one."""
    if names:
        chosen: list[Source] = []
        for name in names:
            source = config.source(name)  # ConfigError naming the known sources
            if source not in chosen:
                chosen.append(source)
        return chosen
    enabled = [s for s in config.sources if s.enabled]
    if not enabled:
        raise UserError(
            f"No enabled sources in {config.sources_path}: add one (see `veille init`) "
            "or name one with --source."
        )
    return enabled


ProgressCallback = Callable[[dict[str, Any]], None]


def run_crawl(
    config: Config,
    source_names: list[str] | tuple[str, ...] | None = None,
    *,
    progress: bool = True,
    on_event: ProgressCallback | None = None,
) -> CrawlReport:
    """Crawl the selected sources once, store what is new, and return the run's report.

    Safe to call many times in one process. Records the run (per-source
    counts) and each source's success or failure in the store, then sends
    pending items to the search engine (`watch.indexer.sync_pending`).
    """
    sources = select_sources(config, source_names)
    store = Store(config.db_path)
    try:
        run_id = store.start_run()
        log_path = config.data_dir / "logs" / f"crawl-{run_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        job = {
            "config": config.model_dump(mode="json"),
            "run_id": run_id,
            "sources": [s.name for s in sources],
        }
        display = _ProgressDisplay(sources) if progress else None
        try:
            done, code = _run_child(job, log_path, display, on_event)
        finally:
            if display is not None:
                display.stop()
        report = _read_report(store, run_id, sources, done, code, log_path)
        _sync_index(config, store, report)
        return report
    finally:
        store.close()


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very checkout, wherever the caller runs from.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _run_child(
    job: dict[str, Any],
    log_path: Path,
    display: _ProgressDisplay | None,
    on_event: ProgressCallback | None,
) -> tuple[dict[str, Any], int]:
    """Run the crawl process; return its final event (or {}) and its exit code."""
    done: dict[str, Any] = {}
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "watch.crawl"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=_child_env(),
            # Its own session: Ctrl-C reaches it once, forwarded by us, as a clean stop.
            start_new_session=True,
        )
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(json.dumps(job).encode() + b"\n")
            child.stdin.flush()
            interrupted = False
            while True:
                try:
                    for event in _events(child):
                        if event.get("event") == "done":
                            done = event
                        if display is not None:
                            display.update(event)
                        if on_event is not None:
                            on_event(event)
                    break
                except KeyboardInterrupt:
                    if interrupted:
                        child.kill()
                        raise
                    interrupted = True
                    child.send_signal(signal.SIGINT)
            code = child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            for stream in (child.stdin, child.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
    return done, code


def _events(child: subprocess.Popen[bytes]) -> Iterator[dict[str, Any]]:
    """The crawl process's event lines, until it closes its stdout or exits."""
    assert child.stdout is not None
    fd = child.stdout.fileno()
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                event = _parse_event(line)
                if event is not None:
                    yield event
        elif child.poll() is not None:
            # Gone, and the pipe drained: an orphan still holding it must not keep us waiting.
            return


def _parse_event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _read_report(
    store: Store,
    run_id: int,
    sources: list[Source],
    done: dict[str, Any],
    code: int,
    log_path: Path,
) -> CrawlReport:
    """The run as the store has it; a crashed crawl process is recorded as a failed run."""
    run = store.get_run(run_id) or {}
    outcomes: dict[str, dict[str, Any]] = done.get("sources", {})
    crashed = run.get("status") in (None, "running")
    if crashed:
        # The crawl process died before recording the run: record it here.
        reason = f"the crawl process stopped unexpectedly (exit code {code}); see {log_path}"
        stats = [SourceRunStats(source=s.name, messages=[reason]) for s in sources]
        for s in stats:
            s.errors = 1
        store.finish_run(run_id, stats, status="failed")
        for s in sources:
            store.record_source_result(s.name, reason)
        outcomes = {s.name: {"ok": False, "error": reason} for s in sources}
        run = store.get_run(run_id) or {}
    by_name = {row["source"]: row for row in run.get("sources", [])}
    reports = []
    for src in sources:
        row = by_name.get(src.name, {})
        stats = SourceRunStats(source=src.name)
        for key in COUNT_FIELDS:
            setattr(stats, key, int(row.get(key, 0) or 0))
        stats.messages = list(row.get("messages", []))
        outcome = outcomes.get(src.name, {"ok": False, "error": "no result recorded"})
        reports.append(
            SourceReport(src.name, src.type, bool(outcome.get("ok")), outcome.get("error"), stats)
        )
    return CrawlReport(
        run_id=run_id,
        status=str(run.get("status", "failed")),
        started_at=run.get("started_at"),
        finished_at=run.get("finished_at"),
        sources=reports,
        log_path=str(log_path),
        crashed=crashed,
    )


def _sync_index(config: Config, store: Store, report: CrawlReport) -> None:
    from watch.indexer import sync_pending

    try:
        report.indexed = sync_pending(config, store)
    except Exception as exc:  # the items are stored and stay queued: say so, do not crash
        report.index_error = (
            f"items are stored but were not sent to the search engine ({exc}); "
            "they stay queued for the next run"
        )


class _ProgressDisplay:
    """A rich live display: one line per source with its running counts."""

    def __init__(self, sources: list[Source]) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[items]} items"),
            TextColumn("[dim]{task.fields[requests]} requests"),
            TextColumn("{task.fields[errors]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.tasks = {
            s.name: self.progress.add_task(s.name, total=None, items=0, requests=0, errors="")
            for s in sources
        }
        self.progress.start()

    def update(self, event: dict[str, Any]) -> None:
        """Apply one event from the crawl process."""
        kind = event.get("event")
        if kind == "progress":
            for name, counts in event.get("sources", {}).items():
                task = self.tasks.get(name)
                if task is None:
                    continue
                items = sum(counts.get(k, 0) for k in ("new", "updated", "unchanged", "duplicates"))
                errors = counts.get("errors", 0)
                self.progress.update(
                    task,
                    items=items,
                    requests=counts.get("requests", 0),
                    errors=f"[red]{errors} errors" if errors else "",
                )
        elif kind == "source_done":
            task = self.tasks.get(event.get("source", ""))
            if task is not None:
                self.progress.update(task, total=1, completed=1)

    def stop(self) -> None:
        """Finish the display."""
        for task in self.tasks.values():
            self.progress.update(task, total=1, completed=1)
        self.progress.stop()


# -- the crawl process ----------------------------------------------------------------


def _child_main() -> int:
    """Entry point of `python -m watch.crawl`: read the job on stdin, crawl, report."""
    # Events go to the real stdout; anything else printed (by any library) goes to the log.
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    _run_as_batch()
    line = sys.stdin.readline()
    if not line:
        return 2
    job = json.loads(line)
    config = Config.model_validate(job["config"])
    sources = [config.source(name) for name in job["sources"]]
    code = _ChildRun(config, sources, int(job["run_id"]), events).execute()
    # Everything is committed and closed: skip the slow interpreter teardown
    # (thread joins, module finalisers) that the parent would otherwise wait for.
    events.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_as_batch() -> None:
    """Let this process's wake-ups wait for the extraction workers' time slices.

    The crawl process wakes for every network event, and as an ordinary task each
    wake-up preempts a busy worker, whose caches it then refills. As a batch task
    (Linux SCHED_BATCH, open to any user) it waits for the scheduler's tick
    instead; downloads are buffered, so nothing waits on it. The workers go back to
    the ordinary policy when they start. Measured on the crawl benchmark (3 runs
    each, interleaved): 7.7 to 7.3 ms of CPU per item, 22.4 to 21.4 s.
    """
    if hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _log_cpu(when: str) -> None:
    """Log where the crawl process's CPU time went: its own threads, and the workers."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    logging.getLogger("watch.crawl").info(
        "CPU seconds %s: crawl process %.1f (user %.1f), extraction workers %.1f",
        when,
        own.ru_utime + own.ru_stime,
        own.ru_utime,
        workers.ru_utime + workers.ru_stime,
    )


class _ChildRun:
    """One CrawlerProcess with a spider per source, reporting to the parent and the store."""

    def __init__(self, config: Config, sources: list[Source], run_id: int, events: IO[str]):
        self.config = config
        self.sources = sources
        self.run_id = run_id
        self.events = events
        self.crawlers: dict[str, Any] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.start_errors: dict[str, str] = {}
        self.finished = threading.Event()

    def emit(self, event: dict[str, Any]) -> None:
        """Send one event line to the parent (gone parents are ignored)."""
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self.events.write(json.dumps(event, default=str) + "\n")

    def execute(self) -> int:
        """Crawl, then record the run; the exit code says whether the process worked."""
        from scrapy import signals
        from scrapy.crawler import CrawlerProcess
        from scrapy.settings import Settings as ScrapySettings

        from crawler.pipelines import StoreWriter, WorkerPool
        from crawler.settings import settings_from_config
        from crawler.spiders import SPIDERS

        # Scrapy would import its HTTP handler deep inside the crawl's start-up, and the
        # module builds deprecated aliases with inspect.stack(), whose cost grows with
        # the stack's depth: imported from here it takes 60 ms instead of 140.
        importlib.import_module("scrapy.core.downloader.handlers.http11")

        settings = ScrapySettings()
        settings.setmodule("crawler.settings", priority="project")
        settings.setdict(settings_from_config(self.config), priority="cmdline")
        settings.set("VEILLE_RUNNER", True, priority="cmdline")
        # Fork the extraction workers now, while this process is still single-threaded.
        WorkerPool.start(self.config)
        process = CrawlerProcess(settings)
        for source in self.sources:
            crawler = process.create_crawler(SPIDERS[source.type])
            crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
            self.crawlers[source.name] = crawler
            started = process.crawl(crawler, source=source, config=self.config)
            started.addErrback(self._start_failed, source)
        # Scrapy sets its loggers to DEBUG and filters in its handler only, so a record
        # was built for every page's DEBUG lines ("Crawled", "Scraped from") just to be
        # dropped there. Set after the crawlers start: each resets the root's level.
        for name in ("", "scrapy"):
            logging.getLogger(name).setLevel(settings.get("LOG_LEVEL"))
        from twisted.internet import reactor
        from twisted.internet.task import LoopingCall

        reactor.callWhenRunning(_log_cpu, "at start")
        ticker = LoopingCall(self._progress)
        reactor.callWhenRunning(ticker.start, PROGRESS_INTERVAL, True)
        threading.Thread(target=self._watch_parent, args=(process,), daemon=True).start()
        try:
            process.start()
        finally:
            self.finished.set()
            StoreWriter.close_all()
            WorkerPool.stop()
        self._record()
        _log_cpu("at the end")
        return 0

    def _spider_closed(self, spider: Any, reason: str) -> None:
        name = spider.source.name
        error = spider.failure
        if error is None and reason != "finished":
            error = f"the crawl stopped before the end ({reason})"
        self.outcomes[name] = {"ok": error is None, "error": error, "reason": reason}
        self._progress()
        self.emit({"event": "source_done", "source": name, **self.outcomes[name]})

    def _start_failed(self, failure: Any, source: Source) -> None:
        message = f"source {source.name!r} could not start: {failure.getErrorMessage()}"
        self.start_errors[source.name] = message
        self.outcomes[source.name] = {"ok": False, "error": message, "reason": "error"}
        self.emit({"event": "source_done", "source": source.name, **self.outcomes[source.name]})

    def _stats(self, name: str) -> SourceRunStats:
        crawler = self.crawlers.get(name)
        spider = getattr(crawler, "spider", None)
        stats = getattr(spider, "run_stats", None)
        if stats is None:
            stats = SourceRunStats(source=name)
            if name in self.start_errors:
                stats.errors = 1
                stats.messages = [self.start_errors[name]]
        return stats

    def _progress(self) -> None:
        counts = {}
        for source in self.sources:
            stats = self._stats(source.name)
            counts[source.name] = {k: getattr(stats, k) for k in COUNT_FIELDS}
        self.emit({"event": "progress", "sources": counts})

    def _watch_parent(self, process: Any) -> None:
        # stdin stays open as long as the parent lives: EOF means it is gone.
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.read()
        if self.finished.is_set():
            return
        from twisted.internet import reactor

        reactor.callFromThread(process.stop)
        if not self.finished.wait(ORPHAN_GRACE):
            os._exit(3)

    def _record(self) -> None:
        stats = [self._stats(s.name) for s in self.sources]
        for source in self.sources:
            self.outcomes.setdefault(
                source.name, {"ok": False, "error": "the source never finished", "reason": "?"}
            )
        oks = [self.outcomes[s.name]["ok"] for s in self.sources]
        reasons = {o.get("reason") for o in self.outcomes.values()}
        if reasons & {"shutdown", "cancelled"}:
            status = "interrupted"
        elif all(oks):
            status = "ok"
        elif any(oks):
            status = "partial"
        else:
            status = "failed"
        store = Store(self.config.db_path)
        try:
            store.finish_run(self.run_id, stats, status=status)
            for source in self.sources:
                outcome = self.outcomes[source.name]
                store.record_source_result(source.name, None if outcome["ok"] else outcome["error"])
        finally:
            store.close()
        self.emit({"event": "done", "status": status, "sources": self.outcomes})


if __name__ == "__main__":
    sys.exit(_child_main())
