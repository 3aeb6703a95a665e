"""The `site` spider: crawl a site section from its start URL and keep the article pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Request, Response
from scrapy.linkextractors import LinkExtractor
from twisted.python.failure import Failure

from crawler.spiders.base import PageItem, SourceSpider, failure_url
from watch.store import UrlState
from watch.urls import canonicalize, is_http_url


class SiteSpider(SourceSpider):
    """Follows links from the start URL within allow/deny, max_depth and max_pages.

    Every fetched page goes to extraction; it becomes an item only if it looks
    like an article (article metadata, or a long enough body). Without `allow`
    patterns the crawl stays on the start URL's host. Pages stored before are
    fetched conditionally, so an unchanged article costs a 304.
    """

    name = "site"
    source_type = "site"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_host = (urlsplit(self.source.url).hostname or "").lower()
        self.requested: set[str] = set()
        self.links: LinkExtractor | None = None
        try:
            for pattern in [*self.source.allow, *self.source.deny]:
                re.compile(pattern)
            self.links = LinkExtractor(allow=self.source.allow, deny=self.source.deny)
        except re.error as exc:
            self.pattern_error = f"invalid allow/deny pattern ({exc}); fix it in the sources file"
        else:
            self.pattern_error = None

    async def start(self) -> Any:
        """Fetch the start page (never conditionally: its links are needed every run)."""
        if self.pattern_error:
            self.fail(self.source.url, self.pattern_error)
            return
        self.load_known()
        self.requested.add(canonicalize(self.source.url))
        yield Request(
            self.source.url,
            callback=self.parse_page,
            errback=self.root_failed,
            headers=self.headers_for(self.source.url),
            dont_filter=True,
        )

    def parse_page(self, response: Response) -> Iterator[Request | PageItem]:
        """Send the page to extraction and follow its links."""
        if response.status == 304:
            self.run_stats.not_modified += 1
            return
        if not self.is_html(response):
            return
        requested = response.meta.get("veille_url") or canonicalize(response.url)
        yield self.page_item(
            response,
            self.base_article(response.url),
            require_article=True,
            state=UrlState(
                requested,
                self.source.name,
                etag=_header(response, "ETag"),
                last_modified=_header(response, "Last-Modified"),
            ),
        )
        # Counted here rather than by Scrapy's DepthMiddleware (see crawler.settings).
        depth = int(response.meta.get("depth", 0))
        if depth >= self.source.max_depth or self.links is None:
            return
        for link in self.links.extract_links(response):
            request = self._follow(link.url, depth + 1)
            if request is not None:
                yield request

    def _follow(self, href: str, depth: int) -> Request | None:
        if len(self.requested) >= self.source.max_pages:
            return None
        url = canonicalize(href)
        if url in self.requested or not is_http_url(url):
            return None
        if not self.source.allow and (urlsplit(url).hostname or "").lower() != self.start_host:
            return None
        self.requested.add(url)
        return self.page_request(
            url, self.parse_page, self.page_failed, conditional=True, veille_url=url, depth=depth
        )

    def page_failed(self, failure: Failure) -> None:
        """A followed page failed; one that robots.txt disallows is skipped quietly."""
        url = failure_url(failure, self.source.url)
        reason = self.describe(failure)
        if reason == "disallowed by robots.txt":
            # Sites routinely disallow parts of themselves (search, carts): not an error.
            self.logger.debug("%s: %s", url, reason)
            return
        self.note_error(url, reason)


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value is not None else None
