"""Helpers for crawl tests: configs pointing at the fixture server, and fault routes."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path
from typing import Any

from tests.httpserver import FixtureServer, Response
from watch.config import Config, CrawlSettings, SearchSettings, Settings, Source

# No politeness delays, one retry and a 256 KB cap so faults show up fast. The timeout
# stays generous: the test machine may be busy (fault tests set a short one themselves).
FAST_CRAWL = {
    "per_domain_concurrency": 8,
    "per_domain_delay": 0.0,
    "autothrottle": False,
    "timeout": 10.0,
    "retries": 1,
    "allow_private_addresses": True,
    "max_download_size": 256 * 1024,
}


def make_config(tmp_path: Path, sources: list[Source], **crawl: Any) -> Config:
    """A config with its data under tmp_path, crawling the given sources politely but fast."""
    search = crawl.pop("search", None)
    settings = Settings(
        data_dir=tmp_path / "data",
        crawl=CrawlSettings(**{**FAST_CRAWL, **crawl}),
        search=search or SearchSettings(),
    )
    return Config(path=tmp_path / "veille.yaml", settings=settings, sources=sources)


def write_config(
    tmp_path: Path, site_url: str, sources: list[dict[str, Any]], **crawl: Any
) -> Path:
    """Write veille.yaml + sources.yaml for CLI tests; return the veille.yaml path."""
    import yaml

    settings = {"data_dir": "data", "crawl": {**FAST_CRAWL, **crawl}}
    (tmp_path / "veille.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    entries = [{**s, "url": site_url + s["url"]} for s in sources]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": entries}), encoding="utf-8")
    return tmp_path / "veille.yaml"


def feed(name: str, path: str, site: FixtureServer, **fields: Any) -> Source:
    """A feed source on the fixture server."""
    return Source(name=name, type="feed", url=site.url + path, **fields)


def add_fault_routes(site: FixtureServer) -> None:
    """The scripted faults the fixture feeds point at (see tests/fixtures/sites/faults/)."""
    html = {"Content-Type": "text/html"}
    site.route(
        "/robots.txt",
        Response(
            200, b"User-agent: *\nDisallow: /faults/private/\n", {"Content-Type": "text/plain"}
        ),
    )
    site.route("/faults/error.html", Response(500, b"<h1>Server error</h1>", html))
    site.route("/faults/slow.html", Response(200, b"<html>too late</html>", html, delay=8))
    site.route("/faults/loop.html", Response(302, b"", {"Location": "/faults/loop2.html"}))
    site.route("/faults/loop2.html", Response(302, b"", {"Location": "/faults/loop.html"}))
    # 50 MB of zeros gzip to ~50 KB: under the cap on the wire, far over it once inflated.
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    site.route("/faults/bomb.html", Response(200, bomb, {**html, "Content-Encoding": "gzip"}))
    big = b"<html><body>" + b"<p>filler words </p>" * 40_000 + b"</body></html>"
    site.route("/faults/big.html", Response(200, big, html))


def rss(entries: list[tuple[str, str, str]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 document with (title, link, description) entries."""
    from xml.sax.saxutils import escape

    items = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        f"<description>{escape(d)}</description></item>"
        for t, link, d in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>/</link><description>test</description>"
        f"{items}</channel></rss>"
    ).encode()


def db_rows(db: Path, sql: str, *args: Any) -> list[tuple]:
    """Rows from the store, read with a plain sqlite3 connection."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
