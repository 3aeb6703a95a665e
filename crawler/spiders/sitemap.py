"""The `sitemap` spider: XML sitemaps and indexes (gzipped too), Google News sitemaps."""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from crawler.spiders.base import PageItem, SourceSpider, failure_url, parse_w3c_date
from watch.store import UrlState
from watch.urls import canonicalize, is_http_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class SitemapEntry:
    """One <url> of a sitemap, with its Google News fields when present."""

    loc: str
    lastmod: str | None = None
    news_title: str | None = None
    news_published: str | None = None
    news_keywords: list[str] = field(default_factory=list)


class TooLarge(ValueError):
    """A compressed body expands beyond the download size cap."""


def gunzip_capped(data: bytes, max_size: int) -> bytes:
    """Decompress gzip data, refusing to expand past `max_size` bytes (gzip bombs)."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out = inflater.decompress(data, max_size + 1)
    if len(out) > max_size:
        raise TooLarge(f"expands beyond {max_size} bytes")
    return out


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _text(elem: etree._Element) -> str:
    return (elem.text or "").strip()


def parse_sitemap(body: bytes) -> tuple[str, list[Any]]:
    """The kind of a sitemap document ("urlset", "sitemapindex" or "") and its entries.

    For an index the entries are (loc, lastmod) pairs; for a urlset,
    SitemapEntry objects. The parser never resolves entities or touches the
    network, and recovers what it can from a broken document.
    """
    parser = etree.XMLParser(
        recover=True, remove_comments=True, resolve_entities=False, no_network=True
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return "", []
    if root is None:
        return "", []
    kind = _local(root.tag)
    if kind == "sitemapindex":
        found = []
        for node in root:
            if _local(node.tag) != "sitemap":
                continue
            fields = {_local(c.tag): _text(c) for c in node}
            if fields.get("loc"):
                found.append((fields["loc"], fields.get("lastmod") or None))
        return kind, found
    if kind != "urlset":
        return kind, []
    entries = []
    for node in root:
        if _local(node.tag) != "url":
            continue
        entry = SitemapEntry(loc="")
        for child in node:
            name = _local(child.tag)
            if name == "loc":
                entry.loc = _text(child)
            elif name == "lastmod":
                entry.lastmod = _text(child) or None
            elif name == "news":
                _read_news(child, entry)
        if entry.loc:
            entries.append(entry)
    return kind, entries


def _read_news(news: etree._Element, entry: SitemapEntry) -> None:
    for item in news:
        name = _local(item.tag)
        if name == "title":
            entry.news_title = _text(item) or None
        elif name == "publication_date":
            entry.news_published = _text(item) or None
        elif name == "keywords":
            entry.news_keywords = [k.strip() for k in _text(item).split(",") if k.strip()]


# Below the pages' priority (0): the next listed sitemap is fetched once every page
# request already queued has gone to the downloader.
NEXT_SITEMAP_PRIORITY = -1


class SitemapSpider(SourceSpider):
    """Fetches the pages a sitemap lists that are new since the last run or whose lastmod moved.

    The sitemaps an index lists are read one at a time, each when the pages of
    the previous one are all on their way. Expanding every sitemap up front
    would keep the crawl process busy queueing thousands of requests (about
    0.15 ms each) while nothing is downloaded and the extraction workers wait,
    and would hold them all in memory.
    """

    name = "sitemap"
    source_type = "sitemap"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_sitemaps: deque[str] = deque()
        self.listed_sitemaps = {canonicalize(self.source.url)}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SitemapSpider:
        """The spider, set to go on with the waiting sitemaps whenever it runs dry."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.resume_sitemaps, signal=signals.spider_idle)
        return spider

    async def start(self) -> Any:
        """Fetch the sitemap (conditionally)."""
        self.load_known()
        yield self.root_request(self.parse_sitemap, veille_root=True)

    def resume_sitemaps(self) -> None:
        """Request the next waiting sitemap when the crawl would otherwise end.

        A sitemap request dropped on its way without a callback or an errback
        (Scrapy silently drops URLs over its length limit) would end the chain.
        """
        request = next(self.next_sitemap(), None)
        if request is not None:
            self.crawler.engine.crawl(request)
            raise DontCloseSpider

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        """Follow an index's sitemaps, or request a urlset's new and changed pages."""
        yield from self._read_sitemap(response)
        # After this sitemap's pages, whatever became of it (empty, broken, not a sitemap).
        yield from self.next_sitemap()

    def _read_sitemap(self, response: Response) -> Iterator[Request]:
        root = bool(response.meta.get("veille_root"))
        report = self.fail if root else self.note_error
        if response.status == 304:
            self.run_stats.not_modified += 1
            return
        body = self._body(response, report)
        if body is None:
            return
        kind, entries = parse_sitemap(body)
        if kind not in ("urlset", "sitemapindex"):
            report(response.url, "not an XML sitemap (no <urlset> or <sitemapindex>)")
            return
        if root:
            self.remember_validators(response)
        if kind == "sitemapindex":
            for loc, _lastmod in entries:
                url = canonicalize(loc, response.url)
                if is_http_url(url) and url not in self.listed_sitemaps:
                    self.listed_sitemaps.add(url)
                    self.waiting_sitemaps.append(url)
            return
        for entry in entries:
            request = self._page_request(entry, response.url)
            if request is not None:
                yield request

    def next_sitemap(self) -> Iterator[Request]:
        """The request for the next sitemap an index listed, if any is waiting."""
        if self.waiting_sitemaps:
            url = self.waiting_sitemaps.popleft()
            request = self.page_request(
                url, self.parse_sitemap, self.sitemap_failed, priority=NEXT_SITEMAP_PRIORITY
            )
            # Listed once (see listed_sitemaps): the duplicate filter must not end the chain.
            yield request.replace(dont_filter=True)

    def _body(self, response: Response, report: Any) -> bytes | None:
        body = response.body
        if body[:2] != _GZIP_MAGIC:
            return body
        try:
            return gunzip_capped(body, self.settings.getint("DOWNLOAD_MAXSIZE"))
        except TooLarge:
            report(
                response.url,
                "gzipped sitemap expands beyond the download size cap "
                f"({self.settings.getint('DOWNLOAD_MAXSIZE')} bytes); not read",
            )
        except zlib.error as exc:
            report(response.url, f"gzipped sitemap cannot be decompressed ({exc})")
        return None

    def _page_request(self, entry: SitemapEntry, sitemap_url: str) -> Request | None:
        url = canonicalize(entry.loc, sitemap_url)
        if not is_http_url(url):
            self.note_error(url, "sitemap URL is not http(s); skipped")
            return None
        if self.is_known_unchanged(url, entry.lastmod):
            return None
        hint = self.base_article(
            url,
            title=entry.news_title or "",
            published=parse_w3c_date(entry.news_published),
            keywords=entry.news_keywords,
        )
        return self.page_request(
            url,
            self.parse_page,
            self.page_failed,
            veille_hint=hint,
            veille_state=UrlState(url, self.source.name, lastmod=entry.lastmod),
            veille_lastmod=parse_w3c_date(entry.lastmod),
        )

    def parse_page(self, response: Response) -> Iterator[PageItem]:
        """Hand a listed page to extraction."""
        if not self.is_html(response):
            self.note_error(response.url, "listed page is not HTML; skipped")
            return
        yield self.page_item(
            response,
            response.meta["veille_hint"],
            state=response.meta["veille_state"],
            fallback_published=response.meta.get("veille_lastmod"),
        )

    def page_failed(self, failure: Failure) -> None:
        """A listed page failed; it is tried again next run."""
        self.note_error(failure_url(failure, self.source.url), self.describe(failure))

    def sitemap_failed(self, failure: Failure) -> Iterator[Request]:
        """A sitemap listed in the index failed; the next one is read all the same."""
        url = failure_url(failure, self.source.url)
        self.note_error(url, f"sitemap from the index failed: {self.describe(failure)}")
        yield from self.next_sitemap()
