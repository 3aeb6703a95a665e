"""A crawl run whose processes were all killed is closed as interrupted, not left 'running'."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.crawler.helpers import db_rows, write_config
from tests.httpserver import FixtureServer
from tests.watch.test_crawl_kill import serve_slow_sitemap
from watch.store import Store

# Opens a run the way `veille crawl` does, says so, then waits to be killed.
OWNER = """
import sys, time
from watch.store import Store
store = Store(sys.argv[1])
print(store.start_run(), flush=True)
time.sleep(120)
"""


def _status(db: Path, run_id: int) -> str:
    return db_rows(db, f"SELECT status FROM crawl_runs WHERE id = {run_id}")[0][0]


def _wait_for(check, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigkilled_crawl_and_its_crawl_process_leave_an_interrupted_run(
    site: FixtureServer, tmp_path: Path
) -> None:
    serve_slow_sitemap(site, delay=0.5)
    config_path = write_config(
        tmp_path, site.url, [{"name": "slow", "type": "sitemap", "url": "/slow/sitemap.xml"}],
        per_domain_concurrency=1,
    )  # fmt: skip
    db = tmp_path / "data" / "veille.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "watch", "crawl", "--config", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for(lambda: any(r.path.startswith("/slow/") for r in list(site.requests)))
    family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    assert len(family) >= 2, "the crawl process must be running"
    for pid in family:
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    [(run_id, status)] = db_rows(db, "SELECT id, status FROM crawl_runs")
    assert status == "running"  # nobody was left to close it

    # Listing runs notices it ...
    with Store(db) as store:
        last = store.last_run()
        assert last is not None and (last["id"], last["status"]) == (run_id, "interrupted")
    # ... and so does the next crawl, which opens its own run with start_run().
    with Store(db) as store:
        with store.transaction():
            store.conn.execute("UPDATE crawl_runs SET status = 'running' WHERE id = ?", (run_id,))
        assert store.start_run() == run_id + 1
    assert _status(db, run_id) == "interrupted"


def test_a_run_stays_running_while_its_owner_lives(tmp_path: Path) -> None:
    db = tmp_path / "veille.db"
    Store(db).close()
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert owner.stdout is not None
        run_id = int(owner.stdout.readline())
        with Store(db) as store:
            assert store.close_abandoned_runs() == []
            assert _status(db, run_id) == "running"
            owner.send_signal(signal.SIGKILL)
            owner.wait()
            assert store.close_abandoned_runs() == [run_id]
            assert _status(db, run_id) == "interrupted"
            assert store.close_abandoned_runs() == []
    finally:
        owner.kill()
        owner.wait()


def test_a_reused_pid_does_not_keep_a_dead_run_open(tmp_path: Path) -> None:
    with Store(tmp_path / "veille.db") as store:
        run_id = store.start_run()
        assert store.close_abandoned_runs() == []
        # Pid reuse cannot be produced on demand: this run's pid (ours, alive)
        # is recorded with another start time, as if a new process had taken it.
        with store.transaction():
            store.conn.execute(
                "UPDATE crawl_runs SET pid_started = pid_started - 3600 WHERE id = ?", (run_id,)
            )
        assert store.close_abandoned_runs() == [run_id]


def test_runs_recorded_before_owners_were_kept_are_left_alone(tmp_path: Path) -> None:
    with Store(tmp_path / "veille.db") as store:
        with store.transaction():
            store.conn.execute("INSERT INTO crawl_runs (started_at) VALUES ('2026-01-01')")
        assert store.close_abandoned_runs() == []
        assert store.last_run()["status"] == "running"  # type: ignore[index]
