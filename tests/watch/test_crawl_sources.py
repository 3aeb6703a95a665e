"""Source-type details against the loopback server: site limits, rel=canonical, lastmod, outbox."""

from __future__ import annotations

from pathlib import Path

from tests.crawler.helpers import db_rows, feed, make_config, rss
from tests.httpserver import FixtureServer, Response
from watch.config import Config, ElasticsearchSettings, SearchSettings, Source
from watch.crawl import run_crawl
from watch.store import Store

XML = {"Content-Type": "application/xml"}
HTML = {"Content-Type": "text/html"}


def page(title: str, canonical: str | None = None, words: str = "shipping") -> bytes:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = " ".join(f"{words} note {i} about parcel lockers and rural delivery" for i in range(60))
    return (
        f"<html><head><title>{title}</title>{link}"
        f'<meta property="og:type" content="article"></head>'
        f"<body><article><h1>{title}</h1><p>{body}.</p></article></body></html>"
    ).encode()


def test_site_crawl_keeps_within_max_depth_and_max_pages(
    site: FixtureServer, tmp_path: Path
) -> None:
    deep = Source(name="deep", type="site", url=site.url + "/market/", allow=["/market/"],
                  deny=["/private-deals/"], max_depth=3)  # fmt: skip
    few = Source(name="few", type="site", url=site.url + "/market/news/", max_pages=2)
    config = make_config(tmp_path, [deep, few])
    robots = b"User-agent: *\nDisallow: /market/about.html\n"
    site.route("/robots.txt", Response(200, robots, {"Content-Type": "text/plain"}))

    report = run_crawl(config, progress=False)

    rows = db_rows(config.db_path, "SELECT canonical_url FROM items WHERE source = 'deep'")
    stored = {url.removeprefix(site.url) for (url,) in rows}
    assert stored == {
        "/market/news/seller-survey-retail-media.html",
        "/market/news/cross-border-vat-one-stop-shop.html",
        "/market/news/archive/warehouse-automation.html",  # depth 3 is reached now
    }
    assert not site.hits("/market/private-deals/partner-terms.html")  # deny
    # Links robots.txt disallows are skipped quietly: sites routinely close some off.
    assert not site.hits("/market/about.html") and report.source("deep").stats.errors == 0
    # The start page plus one followed link: max_pages counts every page requested.
    assert report.source("few").stats.requests - 1 == 2  # minus robots.txt
    assert report.ok


def test_rel_canonical_stores_a_page_once_and_only_on_its_own_site(
    site: FixtureServer, tmp_path: Path
) -> None:
    site.route("/c/story.html", Response(200, page("Lockers"), HTML))
    site.route("/c/amp/story.html", Response(200, page("Lockers", "/c/story.html"), HTML))
    site.route(
        "/c/copied.html",
        Response(200, page("Copy", "https://elsewhere.example/c/story.html", "rural"), HTML),
    )
    entries = [
        ("Lockers", "/c/story.html", "original"),
        ("Lockers (AMP)", "/c/amp/story.html", "amp"),
        ("A copy", "/c/copied.html", "claims another site's URL"),
    ]
    site.route("/c/feed.rss", Response(200, rss(entries), XML))
    config = make_config(tmp_path, [feed("c", "/c/feed.rss", site)])

    report = run_crawl(config, progress=False)

    urls = sorted(u.removeprefix(site.url) for (u,) in
                  db_rows(config.db_path, "SELECT canonical_url FROM items"))  # fmt: skip
    assert urls == ["/c/copied.html", "/c/story.html"]
    assert report.source("c").stats.new == 2 and report.source("c").stats.duplicates == 1


def test_sitemap_refetches_only_new_urls_and_moved_lastmods(
    site: FixtureServer, tmp_path: Path
) -> None:
    def sitemap(lastmods: dict[str, str]) -> bytes:
        urls = "".join(f"<url><loc>/s/{n}.html</loc><lastmod>{d}</lastmod></url>"
                       for n, d in lastmods.items())  # fmt: skip
        return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()

    for n, words in (("a", "pallet"), ("b", "voucher"), ("c", "courier")):
        site.route(f"/s/{n}.html", Response(200, page(f"Story {n}", words=words), HTML))
    site.route(
        "/s/sitemap.xml", Response(200, sitemap({"a": "2025-01-01", "b": "2025-01-01"}), XML)
    )
    config = make_config(
        tmp_path, [Source(name="s", type="sitemap", url=site.url + "/s/sitemap.xml")]
    )
    assert run_crawl(config, progress=False).source("s").stats.new == 2

    site.route("/s/b.html", Response(200, page("Story b, revised", words="voucher"), HTML))
    site.route(
        "/s/sitemap.xml",
        Response(200, sitemap({"a": "2025-01-01", "b": "2025-02-01", "c": "2025-02-01"}), XML),
    )
    site.requests.clear()
    report = run_crawl(config, progress=False)

    stats = report.source("s").stats
    assert (stats.new, stats.updated) == (1, 1)
    assert not site.hits("/s/a.html")  # unchanged lastmod: not fetched again
    assert site.hits("/s/b.html") and site.hits("/s/c.html")
    assert Store(config.db_path).get_by_url(f"{site.url}/s/b.html").title == "Story b, revised"


SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def serve_index(site: FixtureServer, listed: list[str], sitemaps: dict[str, str]) -> Source:
    """/lz/index.xml listing `listed`; each sitemap /lz/NAME.xml lists pages /lz/X.html."""
    locs = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in listed)
    index = f'<sitemapindex xmlns="{SITEMAP_NS}">{locs}</sitemapindex>'
    site.route("/lz/index.xml", Response(200, index.encode(), XML))
    for name, pages in sitemaps.items():
        urls = "".join(f"<url><loc>/lz/{n}.html</loc></url>" for n in pages)
        body = f'<urlset xmlns="{SITEMAP_NS}">{urls}</urlset>'
        site.route(f"/lz/{name}.xml", Response(200, body.encode(), XML))
        for n in pages:
            site.route(f"/lz/{n}.html", Response(200, page(f"Story {n}", words=f"w{n}"), HTML))
    return Source(name="lz", type="sitemap", url=site.url + "/lz/index.xml")


def stored_paths(config: Config, site: FixtureServer) -> list[str]:
    rows = db_rows(config.db_path, "SELECT canonical_url FROM items")
    return sorted(url.removeprefix(site.url) for (url,) in rows)


def test_an_index_s_sitemaps_are_read_in_turn_past_a_broken_one(
    site: FixtureServer, tmp_path: Path
) -> None:
    listed = ["/lz/one.xml", "/lz/gone.xml", "/lz/two.xml"]
    source = serve_index(site, listed, {"one": "abc", "two": "de"})
    site.route("/lz/gone.xml", Response(404, b"gone", HTML))
    # One request at a time, so the server sees them in the order the crawl sends them.
    config = make_config(tmp_path, [source], per_domain_concurrency=1)

    report = run_crawl(config, progress=False)

    assert stored_paths(config, site) == [f"/lz/{n}.html" for n in "abcde"]
    assert any("gone.xml" in m for m in report.source("lz").stats.messages)
    order = [r.path for r in site.requests if r.path.startswith("/lz/")]
    # Each sitemap is fetched once every page of the one before is sent.
    assert order.index("/lz/gone.xml") > max(order.index(f"/lz/{n}.html") for n in "abc")
    assert order.index("/lz/two.xml") > order.index("/lz/gone.xml")


def test_a_sitemap_listed_twice_or_dropped_by_scrapy_does_not_end_the_index(
    site: FixtureServer, tmp_path: Path
) -> None:
    too_long = "/lz/" + "x" * 2100 + ".xml"  # over Scrapy's URL length limit: dropped silently
    listed = ["/lz/index.xml", "/lz/one.xml", "/lz/one.xml", too_long, "/lz/two.xml"]
    config = make_config(tmp_path, [serve_index(site, listed, {"one": "ab", "two": "c"})])

    report = run_crawl(config, progress=False)

    assert stored_paths(config, site) == [f"/lz/{n}.html" for n in "abc"]
    assert len(site.hits("/lz/index.xml")) == 1 and len(site.hits("/lz/one.xml")) == 1
    assert report.ok


def test_with_elasticsearch_new_items_wait_in_the_outbox_when_it_is_down(
    site: FixtureServer, tmp_path: Path
) -> None:
    es = SearchSettings(
        backend="elasticsearch",
        elasticsearch=ElasticsearchSettings(url="http://127.0.0.1:9", timeout=2),
    )
    config = make_config(tmp_path, [feed("f", "/feeds/atom10.xml", site, fetch_full_text=False)],
                         search=es)  # fmt: skip

    report = run_crawl(config, progress=False)

    assert report.ok and report.source("f").stats.new == 2
    assert report.index_error is not None and "not sent to the search engine" in report.index_error
    store = Store(config.db_path)
    assert sorted(store.pending_index()) == sorted(
        i for (i,) in db_rows(config.db_path, "SELECT id FROM items")
    )
