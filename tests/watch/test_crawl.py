"""`run_crawl` end to end against the real loopback server: feeds, sitemaps, sites, re-runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crawler.helpers import db_rows, feed, make_config, rss
from tests.httpserver import FixtureServer, Response
from watch.config import ConfigError, Source
from watch.crawl import run_crawl
from watch.errors import UserError
from watch.store import Store


def main_sources(site: FixtureServer) -> list[Source]:
    return [
        feed("search-desk", "/blog/feed.rss", site, category="seo"),
        feed("search-desk-atom", "/blog/atom.xml", site, category="seo"),
        Source(name="market-wire", type="sitemap", url=site.url + "/news/sitemap-index.xml",
               category="market"),
        Source(name="monitor", type="site", url=site.url + "/market/", category="distribution",
               allow=["/market/"], deny=["/private-deals/"], max_depth=2),
    ]  # fmt: skip


def test_each_source_type_is_collected_then_a_second_run_adds_nothing(
    site: FixtureServer, tmp_path: Path
) -> None:
    config = make_config(tmp_path, main_sources(site))
    first = run_crawl(config, progress=False)

    assert first.status == "ok", first.to_dict()
    new = {s.name: s.stats.new for s in first.sources}
    # The Atom feed lists two posts the RSS feed also lists (with utm_* parameters there):
    # whichever source gets them first stores them, the other counts duplicates.
    assert new["search-desk"] + new["search-desk-atom"] == 4
    assert first.totals()["duplicates"] == 2
    assert (new["market-wire"], new["monitor"]) == (3, 2)
    store = Store(config.db_path)
    urls = {row[0] for row in db_rows(config.db_path, "SELECT canonical_url FROM items")}
    assert len(urls) == 9
    assert all("utm_" not in u and "#" not in u for u in urls)
    assert not any("private-deals" in u or "warehouse" in u for u in urls)  # deny, max_depth
    # A post only the RSS feed lists: feed title, date and categories, the page's text.
    post = store.get_by_url(f"{site.url}/blog/posts/internal-search-pages.html")
    assert post is not None and post.source == "search-desk"
    assert post.title == "Should internal search result pages be indexed?"
    assert post.author == "Priya Natarajan" and post.language == "en"
    assert post.published is not None and post.published.isoformat().startswith("2025-05-06T11:45")
    assert post.category == "seo" and post.keywords == ["SEO"]
    assert "A safer approach is to mine internal search logs" in post.text
    assert len(post.content_hash) == 64 and post.fetched_at is not None
    news = store.get_by_url(f"{site.url}/news/articles/marketplace-referral-fees.html")
    assert news is not None and news.keywords == ["fees", "marketplace", "home and garden"]
    assert news.published is not None and news.published.isoformat().startswith("2025-05-12T07")
    gz = store.get_by_url(f"{site.url}/news/articles/fashion-returns-window.html")
    assert gz is not None  # listed only in the gzipped sitemap
    assert store.source_state("monitor").last_success_at is not None

    site.requests.clear()
    second = run_crawl(config, progress=False)

    assert second.status == "ok"
    totals = second.totals()
    assert totals["new"] == totals["updated"] == totals["errors"] == 0
    assert second.source("search-desk").stats.not_modified == 1
    assert second.source("search-desk-atom").stats.not_modified == 1
    assert second.source("market-wire").stats.not_modified == 1
    # The site's start page is refetched for its links; its stored articles answer 304.
    assert second.source("monitor").stats.not_modified == 2
    feed_hits = site.hits("/blog/feed.rss")
    assert feed_hits and all(h.headers.get("If-None-Match") for h in feed_hits)
    assert not site.hits("/blog/posts/faceted-navigation-crawl-budget.html")
    assert Store(config.db_path).count() == 9
    runs = db_rows(config.db_path, "SELECT id, status FROM crawl_runs ORDER BY id")
    assert runs == [(first.run_id, "ok"), (second.run_id, "ok")]


def test_every_feed_format_becomes_items(site: FixtureServer, tmp_path: Path) -> None:
    files = {"rss091": "rss091.xml", "rss10": "rss10.rdf", "rss20": "rss20.xml",
             "atom03": "atom03.xml", "atom10": "atom10.xml"}  # fmt: skip
    sources = [
        feed(kind, f"/feeds/{name}", site, fetch_full_text=False) for kind, name in files.items()
    ]
    config = make_config(tmp_path, sources)

    report = run_crawl(config, progress=False)

    assert report.ok
    assert {s.name: s.stats.new for s in report.sources} == dict.fromkeys(files, 2)
    rows = db_rows(config.db_path, "SELECT source, title, text, published FROM items")
    assert all(title and len(text) > 60 for _s, title, text, _p in rows)
    dated = {s for s, _t, _x, published in rows if published}
    assert dated == {"rss10", "rss20", "atom03", "atom10"}  # RSS 0.91 items carry no date


def test_changed_entry_page_updates_the_item_and_keeps_first_seen(
    site: FixtureServer, tmp_path: Path
) -> None:
    body = "Original body text about loyalty programmes in online grocery shops. " * 20
    page = (
        "<html><head><title>Loyalty</title></head><body><article><h1>Loyalty</h1>"
        f"<p>{body}</p></article></body></html>"
    )
    site.route("/t/loyalty.html", Response(200, page.encode(), {"Content-Type": "text/html"}))
    feed_v1 = rss([("Loyalty", "/t/loyalty.html", "v1")])
    site.route("/t/feed.rss", Response(200, feed_v1, {"Content-Type": "application/xml"}))
    config = make_config(tmp_path, [feed("t", "/t/feed.rss", site)])
    assert run_crawl(config, progress=False).source("t").stats.new == 1
    before = Store(config.db_path).get_by_url(f"{site.url}/t/loyalty.html")

    changed = page.replace("Original body", "Rewritten body")
    site.route("/t/loyalty.html", Response(200, changed.encode(), {"Content-Type": "text/html"}))
    feed_v2 = feed_v1.replace(b"<item>", b"<item><pubDate>Mon, 02 Jun 2025 10:00:00 GMT</pubDate>")
    site.route("/t/feed.rss", Response(200, feed_v2, {"Content-Type": "application/xml"}))
    report = run_crawl(config, progress=False)

    assert report.source("t").stats.updated == 1
    after = Store(config.db_path).get_by_url(f"{site.url}/t/loyalty.html")
    assert before is not None and after is not None
    assert after.id == before.id and after.first_seen == before.first_seen
    assert "Rewritten body" in after.text


def test_unknown_source_name_is_a_clear_error(site: FixtureServer, tmp_path: Path) -> None:
    config = make_config(tmp_path, main_sources(site))

    with pytest.raises(ConfigError, match=r"No source named 'nope'.*Known sources: search-desk"):
        run_crawl(config, ["nope"], progress=False)


def test_no_enabled_source_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, [])

    with pytest.raises(UserError, match="No enabled sources"):
        run_crawl(config, progress=False)
