"""Downloader middlewares, on real Scrapy requests and responses and through a crawl."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawler.middlewares import RawMetaRefreshMiddleware
from tests.crawler.helpers import db_rows, make_config
from tests.httpserver import FixtureServer, Response
from watch.config import Source
from watch.crawl import run_crawl

HTML = {"Content-Type": "text/html"}
REFRESH = '<html><head><meta http-equiv="Refresh" content="0; url=/moved/story.html"></head></html>'


def meta_refresh() -> RawMetaRefreshMiddleware:
    return RawMetaRefreshMiddleware.from_crawler(get_crawler())


def test_page_without_refresh_passes_through_unchanged() -> None:
    request = Request("http://example.com/story.html")
    body = b"<html><head><title>Story</title></head><body>" + b"<p>words</p>" * 2000
    response = HtmlResponse(request.url, body=body, request=request)

    assert meta_refresh().process_response(request, response) is response


def test_refresh_is_followed_in_ascii_compatible_and_utf16_pages() -> None:
    request = Request("http://example.com/story.html")
    utf8 = HtmlResponse(request.url, body=REFRESH.encode(), request=request)
    # UTF-16 spells "refresh" with NULs between the letters: the byte test must not skip it.
    utf16 = HtmlResponse(
        request.url, body=REFRESH.encode("utf-16"), encoding="utf-16", request=request
    )

    for response in (utf8, utf16):
        followed = meta_refresh().process_response(request, response)
        assert isinstance(followed, Request)
        assert urlsplit(followed.url).path == "/moved/story.html"


def test_crawl_stores_the_page_a_meta_refresh_leads_to(site: FixtureServer, tmp_path: Path) -> None:
    body = " ".join(f"Parcel locker note {i} for rural delivery." for i in range(80))
    story = (
        "<html><head><title>Lockers</title></head><body>"
        f"<article><h1>Lockers</h1><p>{body}</p></article></body></html>"
    )
    site.route(
        "/r/", Response(200, b'<html><body><a href="/r/old.html">old</a></body></html>', HTML)
    )
    site.route("/r/old.html", Response(200, REFRESH.replace("/moved/", "/r/").encode(), HTML))
    site.route("/r/story.html", Response(200, story.encode(), HTML))
    source = Source(name="r", type="site", url=site.url + "/r/", max_depth=1)
    config = make_config(tmp_path, [source])

    report = run_crawl(config, progress=False)

    assert report.ok
    rows = db_rows(config.db_path, "SELECT canonical_url FROM items")
    assert [url.removeprefix(site.url) for (url,) in rows] == ["/r/story.html"]
