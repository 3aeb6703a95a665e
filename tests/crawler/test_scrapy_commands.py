"""`scrapy list` and `scrapy crawl <spider>` work from the repository root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.crawler.helpers import db_rows, write_config
from tests.httpserver import FixtureServer

REPO = Path(__file__).resolve().parents[2]
SCRAPY = [sys.executable, "-m", "scrapy"]


def scrapy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCRAPY, *args], cwd=REPO, capture_output=True, text=True, timeout=240,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_scrapy_list_shows_one_spider_per_source_type() -> None:
    result = scrapy("list")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["feed", "site", "sitemap"]


def test_scrapy_crawl_runs_a_spider_with_the_default_config(
    site: FixtureServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, site.url, [])
    out = tmp_path / "items.jsonl"

    result = scrapy(
        "crawl", "feed", "-a", f"url={site.url}/feeds/atom10.xml", "-a", "source_name=notes",
        "-a", "category=market", "-O", str(out),
        env={"VEILLE_CONFIG": str(config)},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(i["title"] for i in items) == [
        "Marketplaces test paid returns for heavy items",
        "Price tracking tools reach small merchants",
    ]
    assert {i["source"] for i in items} == {"notes"} and {i["category"] for i in items} == {
        "market"
    }
    rows = db_rows(tmp_path / "data" / "veille.db", "SELECT source, language FROM items")
    assert rows == [("notes", "en"), ("notes", "en")]
