"""`veille crawl` on the command line: progress, the summary table, --json, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.crawler.helpers import write_config
from tests.httpserver import FixtureServer

CLI = [sys.executable, "-c", "from watch.cli import main; main()"]
SOURCES = [
    {"name": "search-desk", "type": "feed", "url": "/blog/feed.rss", "category": "seo"},
    {"name": "broken", "type": "feed", "url": "/faults/garbage.xml"},
    {"name": "off", "type": "feed", "url": "/feeds/rss20.xml", "enabled": False},
]


def veille(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=240)


def test_crawl_prints_a_summary_per_source_then_json_on_request(
    site: FixtureServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, site.url, SOURCES)

    table = veille("crawl", "--config", str(config))

    assert table.returncode == 0, table.stderr
    out = table.stdout
    for column in ("requests", "new", "updated", "unchanged", "duplicates", "errors"):
        assert column in out
    assert "search-desk" in out and "broken" in out and "off" not in out
    assert "failed" in out and "malformed XML" in out  # the broken source says why
    assert "/faults/garbage.xml" in out
    assert "search-desk" in table.stderr  # the live progress display

    again = veille("crawl", "--config", str(config), "--source", "search-desk", "--source", "off",
                   "--json")  # fmt: skip

    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    by_name = {s["name"]: s for s in report["sources"]}
    assert set(by_name) == {"search-desk", "off"}  # a disabled source runs when named
    assert by_name["search-desk"]["not_modified"] == 1 and by_name["search-desk"]["new"] == 0
    assert by_name["off"]["new"] == 2 and by_name["off"]["ok"] is True
    assert report["status"] == "ok" and report["totals"]["new"] == 2


def test_unknown_source_is_a_clear_error_without_traceback(
    site: FixtureServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, site.url, SOURCES)

    result = veille("crawl", "--config", str(config), "--source", "nope")

    assert result.returncode == 2
    assert "No source named 'nope'" in result.stderr and "search-desk" in result.stderr
    assert "Traceback" not in result.stderr
