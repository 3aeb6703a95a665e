"""A `veille crawl` killed with SIGKILL midway leaves a sound store that the next run completes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.crawler.helpers import db_rows, write_config
from tests.httpserver import FixtureServer, Response
from watch.config import load_config
from watch.crawl import run_crawl

PAGES = 40
WORDS = [
    "catalogue",
    "checkout",
    "courier",
    "margin",
    "basket",
    "voucher",
    "listing",
    "seller",
    "refund",
    "warehouse",
    "pricing",
    "shipping",
    "review",
    "ranking",
    "category",
    "brand",
]


def article(n: int) -> bytes:
    # Distinct words per page, so no two pages are near-duplicates of each other.
    words = [WORDS[(n * 7 + i * (n + 3)) % len(WORDS)] + str(i % (n + 5)) for i in range(260)]
    body = " ".join(words)
    return (
        f"<html><head><title>Slow story {n}</title>"
        f'<meta property="og:type" content="article"></head>'
        f"<body><article><h1>Slow story {n}</h1><p>{body}.</p></article></body></html>"
    ).encode()


def serve_slow_sitemap(site: FixtureServer, delay: float) -> None:
    locs = "".join(f"<url><loc>/slow/{n}.html</loc></url>" for n in range(PAGES))
    sitemap = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'
    site.route(
        "/slow/sitemap.xml", Response(200, sitemap.encode(), {"Content-Type": "application/xml"})
    )
    for n in range(PAGES):
        site.route(
            f"/slow/{n}.html", Response(200, article(n), {"Content-Type": "text/html"}, delay=delay)
        )


def count_items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_sigkill_midway_then_rerun_leaves_no_duplicate_and_no_corruption(
    site: FixtureServer, tmp_path: Path
) -> None:
    serve_slow_sitemap(site, delay=0.2)
    config_path = write_config(
        tmp_path, site.url, [{"name": "slow", "type": "sitemap", "url": "/slow/sitemap.xml"}],
        per_domain_concurrency=2,
    )  # fmt: skip
    db = tmp_path / "data" / "veille.db"
    cli = [sys.executable, "-c", "from watch.cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "crawl", "--config", str(config_path), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while count_items(db) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    stored = count_items(db)
    # Kill the command and its crawl process at once, in the middle of the crawl.
    family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    for pid in family:
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= stored < PAGES, "the crawl must be killed midway"

    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    after_kill = count_items(db)

    serve_slow_sitemap(site, delay=0.0)
    site.requests.clear()
    report = run_crawl(load_config(config_path), progress=False)

    assert report.ok, report.to_dict()
    total = db_rows(
        db, "SELECT count(*), count(DISTINCT canonical_url), count(DISTINCT title) FROM items"
    )
    assert total == [(PAGES, PAGES, PAGES)]
    # Pages stored before the kill are skipped, not fetched and stored again.
    assert report.source("slow").stats.new == PAGES - after_kill
    assert report.source("slow").stats.unchanged == 0
    page_hits = [r for r in site.requests if r.path.endswith(".html")]
    assert len(page_hits) == PAGES - after_kill
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(db, "SELECT count(*) FROM items_fts") == [(PAGES,)]


def test_a_crawl_process_that_dies_is_recorded_as_a_failed_run(
    site: FixtureServer, tmp_path: Path
) -> None:
    serve_slow_sitemap(site, delay=0.2)
    config_path = write_config(
        tmp_path, site.url, [{"name": "slow", "type": "sitemap", "url": "/slow/sitemap.xml"}]
    )
    killed: list[int] = []

    def kill_crawl_process(event: dict) -> None:
        # The fault a test cannot produce otherwise: the crawl process dying (OOM killer).
        if killed or event.get("event") != "progress":
            return
        for proc in psutil.Process().children():
            if "watch.crawl" in " ".join(proc.cmdline()):
                workers = proc.children()
                proc.kill()
                killed.extend([proc.pid, *(w.pid for w in workers)])

    report = run_crawl(load_config(config_path), progress=False, on_event=kill_crawl_process)

    assert killed and report.crashed and report.status == "failed"
    assert "the crawl process stopped unexpectedly" in (report.source("slow").error or "")
    store_state = db_rows(
        tmp_path / "data" / "veille.db",
        "SELECT consecutive_failures, last_error FROM source_state WHERE name = 'slow'",
    )
    assert store_state[0][0] == 1 and "stopped unexpectedly" in store_state[0][1]
    # The orphaned extraction workers notice and exit.
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in killed[1:]):
        assert time.monotonic() < deadline, "extraction workers outlived their crawl process"
        time.sleep(0.1)
