"""Bad input and faults: each is reported by source and URL, and never stops the others."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.crawler.helpers import add_fault_routes, db_rows, feed, make_config, rss
from tests.httpserver import FixtureServer, Response
from watch.config import Source
from watch.crawl import CrawlReport, run_crawl
from watch.store import Store


def messages(report: CrawlReport, source: str) -> str:
    return "\n".join(report.source(source).stats.messages)


def test_faults_are_reported_by_source_and_url_while_other_sources_complete(
    site: FixtureServer, tmp_path: Path
) -> None:
    sources = [
        feed("blog", "/blog/feed.rss", site),
        feed("pages", "/faults/pages.rss", site),
        feed("truncated", "/faults/truncated.rss", site, fetch_full_text=False),
        feed("garbage", "/faults/garbage.xml", site),
        feed("html-as-feed", "/faults/html-feed.xml", site),
        feed("latin1", "/faults/latin1.rss", site),
        feed("cp1252", "/faults/cp1252.rss", site, fetch_full_text=False),
        feed("disallowed", "/faults/private/feed.rss", site),
        Source(name="bomb-sitemap", type="sitemap", url=site.url + "/faults/sitemap.xml.gz"),
        feed("formats", "/feeds/rss20.xml", site, fetch_full_text=False),
    ]
    # A short timeout for the slow page (8 s), long enough for a busy machine otherwise.
    config = make_config(tmp_path, sources, timeout=3.0)
    assert run_crawl(config, ["blog"], progress=False).source("blog").stats.new == 4
    stored_before = db_rows(config.db_path, "SELECT id, content_hash FROM items ORDER BY id")

    add_fault_routes(site)
    # The blog now fails; what it stored before must survive.
    site.route("/blog/feed.rss", Response(500, b"<h1>down</h1>", {"Content-Type": "text/html"}))
    inflated = b"<?xml version='1.0'?><urlset>" + b" " * (40 * 1024 * 1024) + b"</urlset>"
    site.route(
        "/faults/sitemap.xml.gz",
        Response(200, gzip.compress(inflated, 9), {"Content-Type": "application/x-gzip"}),
    )
    report = run_crawl(config, progress=False)
    url = site.url

    # Sources whose feed or sitemap is unusable fail, each with its own reason.
    failed = {s.name: s.error for s in report.sources if not s.ok}
    assert set(failed) == {"blog", "garbage", "html-as-feed", "disallowed", "bomb-sitemap"}
    assert failed["blog"] == f"{url}/blog/feed.rss: HTTP 500 (after 1 retries)"
    assert "malformed XML" in failed["garbage"]
    assert "not a feed: the server sent an HTML page" in failed["html-as-feed"]
    assert f"links to a feed at {url}/blog/feed.rss" in failed["html-as-feed"]
    assert "disallowed by robots.txt" in failed["disallowed"]
    assert "expands beyond the download size cap" in failed["bomb-sitemap"]
    assert report.status == "partial"

    # Entry pages that fail are reported one by one; the feed's summary is kept for each.
    pages = messages(report, "pages")
    for path, reason in [
        ("missing.html", "HTTP 404"),
        ("error.html", "HTTP 500 (after 1 retries)"),
        ("slow.html", "timed out after 3 s"),
        ("loop.html", "redirect loop"),
        ("bomb.html", "the compressed body expands beyond the download size cap"),
        ("big.html", "the response is larger than the download size cap"),
        ("private/secret.html", "disallowed by robots.txt"),
    ]:
        assert f"source 'pages': {url}/faults/{path}: {reason}" in pages, (path, pages)
    assert report.source("pages").ok and report.source("pages").stats.errors == 7
    assert report.source("pages").stats.new == 8
    store = Store(config.db_path)
    kept = store.get_by_url(f"{url}/faults/error.html")
    assert kept is not None and kept.text == "Summary kept when the server answers 500."
    good = store.get_by_url(f"{url}/faults/ok.html")
    assert good is not None and "free delivery threshold" in good.text

    # A truncated feed keeps the entries before the cut and says the XML is malformed.
    assert report.source("truncated").stats.new == 2
    assert "malformed feed XML" in messages(report, "truncated")

    # ISO-8859-1 feed, ISO-8859-1 page and windows-1252 page all decode correctly.
    latin = store.get_by_url(f"{url}/faults/latin1.html")
    cp1252 = store.get_by_url(f"{url}/faults/cp1252.html")
    assert latin is not None and cp1252 is not None
    assert latin.author == "Hélène Garçon" and "À l'approche des soldes d'été" in latin.text
    assert latin.language == "fr"
    assert "“premium”" in cp1252.text and "5 €" in cp1252.text and "d’abord" in cp1252.text
    assert cp1252.title == "Les marchés de l'été : fraîcheur et prix bas"  # the feed's title
    # A windows-1252 feed: curly quotes, the euro sign and the oe ligature survive.
    titles = {
        t for (t,) in db_rows(config.db_path, "SELECT title FROM items WHERE source = 'cp1252'")
    }
    assert titles == {
        "Prix “barrés” : 30 € de remise, vraiment ?",
        "Œuvres d’art et frais de port : le casse-tête des marchands",
    }

    # The healthy source completed; nothing stored before was lost or changed.
    assert report.source("formats").ok and report.source("formats").stats.new == 2
    assert set(stored_before) <= set(db_rows(config.db_path, "SELECT id, content_hash FROM items"))
    state = store.source_state("blog")
    assert state.consecutive_failures == 1 and "HTTP 500" in (state.last_error or "")
    assert store.source_state("formats").consecutive_failures == 0


def test_discovered_links_to_private_addresses_are_refused(
    site: FixtureServer, tmp_path: Path
) -> None:
    entries = [
        ("Metadata service", "http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("Loopback by name", f"http://localhost:{site.port}/blog/posts/internal-search-pages.html",
         "loopback through a host name"),
        ("Private network", "http://10.0.0.7/admin", "a private network address"),
        ("Not http", "ftp://127.0.0.1/file.txt", "another scheme"),
        ("Same host as the feed", "/blog/posts/product-structured-data.html", "allowed"),
    ]  # fmt: skip
    site.route("/t/hostile.rss", Response(200, rss(entries), {"Content-Type": "application/xml"}))
    config = make_config(tmp_path, [feed("hostile", "/t/hostile.rss", site)],
                         allow_private_addresses=False)  # fmt: skip

    report = run_crawl(config, progress=False)

    text = messages(report, "hostile")
    assert "169.254.169.254 is a private, loopback or link-local address" in text
    assert "localhost is a private, loopback or link-local address (127.0.0.1)" in text
    assert "10.0.0.7 is a private" in text
    assert "ftp://127.0.0.1/file.txt: entry link is not an http(s) URL" in text
    assert "set crawl.allow_private_addresses" in text
    assert not site.hits("/latest/meta-data/")
    # The configured feed's own host is the user's choice: its pages are fetched.
    assert site.hits("/blog/posts/product-structured-data.html")
    assert not any(h.headers.get("Host", "").startswith("localhost") for h in site.requests)
