"""The item pipelines: pages go to the worker pool in batches, and a crash costs one page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.crawler.helpers import feed, make_config, rss
from tests.fresh_python import run_snippet
from tests.httpserver import FixtureServer, Response
from watch.crawl import run_crawl
from watch.store import Store

PAGES = 10
CRASHING_PAGE = 7

# A FAKE FAULT, because a worker crash cannot be produced on demand otherwise (a real one
# is a segfault in a C parser or the out-of-memory killer). Loaded by the crawl process at
# start-up through PYTHONPATH; the forked workers inherit it. Each page takes a moment so
# that the pages queue up behind the busy workers and leave as one batch.
SITECUSTOMIZE = f"""
import os
import time

import crawler.pipelines as pipelines

_finish_article = pipelines.finish_article


def finish_article(item):
    if item.article.url.endswith("/crash/p{CRASHING_PAGE}.html"):
        os._exit(70)
    time.sleep(0.2)
    return _finish_article(item)


pipelines.finish_article = finish_article
"""


def article_page(n: int) -> bytes:
    """An article page, different enough from the others not to be a near-duplicate."""
    words = " ".join(f"{topic}{n}x{i}" for i in range(120) for topic in ("fee", "seller"))
    return (
        f"<html lang='en'><head><title>Fee notice {n}</title></head><body><article>"
        f"<h1>Fee notice {n}</h1><p>Marketplace fees change: {words}.</p></article></body></html>"
    ).encode()


def test_a_page_that_kills_its_worker_is_dropped_alone_and_the_rest_are_stored(
    site: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    links = [(f"Fee notice {n}", f"{site.url}/crash/p{n}.html", "") for n in range(1, PAGES + 1)]
    site.route(
        "/crash/feed.rss", Response(200, rss(links), {"Content-Type": "application/rss+xml"})
    )
    for n in range(1, PAGES + 1):
        site.route(
            f"/crash/p{n}.html", Response(200, article_page(n), {"Content-Type": "text/html"})
        )
    config = make_config(tmp_path, [feed("fees", "/crash/feed.rss", site)])

    report = run_crawl(config, progress=False)

    stats = report.source("fees").stats
    assert stats.new == PAGES - 1, stats.messages
    assert stats.messages == [
        f"source 'fees': {site.url}/crash/p{CRASHING_PAGE}.html: "
        "extraction crashed a worker process"
    ]
    store = Store(config.db_path)
    try:
        titles = {item.title for item in store.iter_items()}
    finally:
        store.close()
    assert titles == {f"Fee notice {n}" for n in range(1, PAGES + 1) if n != CRASHING_PAGE}


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_the_crawl_process_runs_as_batch_and_its_workers_do_not() -> None:
    code = (
        "import os; from watch.crawl import _run_as_batch; import crawler.pipelines as p; "
        "_run_as_batch(); crawl = os.sched_getscheduler(0) == os.SCHED_BATCH; "
        "p._worker_init(); print(crawl, os.sched_getscheduler(0) == os.SCHED_OTHER)"
    )
    assert run_snippet(code).split() == ["True", "True"]
