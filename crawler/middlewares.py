"""Downloader middlewares: address safety for discovered links, and retries with backoff."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

from watch.urls import ip_literal, is_http_url, is_public_address

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

# Request meta key set by spiders on links they found in content (feed entries,
# sitemap URLs, followed links) as opposed to the configured source URL.
DISCOVERED = "veille_discovered"


class RefusedURL(IgnoreRequest):
    """A request Veille will not make (not http(s), or a private address); says why."""


class AddressSafetyMiddleware:
    """Refuse non-http(s) URLs, and discovered links that lead to non-public addresses.

    Without this a hostile feed could make Veille fetch internal services
    (cloud metadata endpoints, admin consoles on localhost). The host is
    resolved with Scrapy's caching resolver, so the download that follows
    connects to the address that was checked. The configured source's own
    host is the user's explicit choice and is always allowed.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.allow_private = crawler.settings.getbool("VEILLE_ALLOW_PRIVATE_ADDRESSES")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawler's settings."""
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        """Raise RefusedURL for a request that must not be made."""
        if not is_http_url(request.url):
            raise RefusedURL(f"refused {request.url}: only http(s) links are followed")
        if self.allow_private:
            return
        discovered = request.meta.get(DISCOVERED) or request.meta.get("redirect_urls")
        if not discovered:
            return
        host = urlsplit(request.url).hostname or ""
        if host == self._source_host():
            return
        address = ip_literal(host) or await self._resolve(host)
        if address is not None and not is_public_address(address):
            raise RefusedURL(
                f"refused {request.url}: {host} is a private, loopback or link-local "
                f"address ({address}); set crawl.allow_private_addresses to allow it"
            )

    def _source_host(self) -> str | None:
        spider = self.crawler.spider
        source = getattr(spider, "source", None)
        if source is None:
            return None
        return urlsplit(source.url).hostname

    async def _resolve(self, host: str) -> str | None:
        from twisted.internet import reactor

        try:
            return await maybe_deferred_to_future(reactor.resolve(host))
        except Exception:
            # Unresolvable: let the download fail and report the DNS error itself.
            return None


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware (5xx, timeouts, dropped connections), waiting between tries.

    The wait doubles with each retry (RETRY_BACKOFF_BASE, 2x, 4x ... capped at
    RETRY_BACKOFF_MAX), so a struggling server gets room to recover.
    """

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        """Retry retryable statuses after a backoff delay."""
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await self._wait(result)
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        """Retry timeouts and connection failures after a backoff delay."""
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await self._wait(result)
        return result

    def delay_for(self, retry_times: int) -> float:
        """Seconds to wait before retry number `retry_times` (1-based)."""
        return min(self.backoff_max, self.backoff_base * 2 ** max(0, retry_times - 1))

    async def _wait(self, retry: Request) -> None:
        from twisted.internet import reactor

        delay = self.delay_for(int(retry.meta.get("retry_times", 1)))
        if delay > 0:
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))


class LoopingRedirectMiddleware(RedirectMiddleware):
    """Scrapy's RedirectMiddleware, letting a redirect loop run into REDIRECT_MAX_TIMES.

    Otherwise the duplicate filter silently drops the request that closes the
    loop, and the failure never reaches the spider to be reported.
    """

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        """Follow the redirect; a target already in the chain bypasses the duplicate filter."""
        result = super().process_response(request, response)
        if isinstance(result, Request) and result.url in result.meta.get("redirect_urls", []):
            result.dont_filter = True
        return result
