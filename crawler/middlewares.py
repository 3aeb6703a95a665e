"""Downloader middlewares: address safety, retries with backoff, redirects."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Request, Response
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

    def process_request(self, request: Request) -> Coroutine[Any, Any, None] | None:
        """Refuse (RefusedURL) a request that must not be made; count the others.

        Synchronous on the common path; only a host name that needs resolving
        returns a coroutine (Scrapy awaits it).
        """
        if not is_http_url(request.url):
            raise RefusedURL(f"refused {request.url}: only http(s) links are followed")
        if not self.allow_private and (
            request.meta.get(DISCOVERED) or request.meta.get("redirect_urls")
        ):
            host = urlsplit(request.url).hostname or ""
            if host != self._source_host():
                literal = ip_literal(host)
                if literal is None:
                    return self._check_resolved(request, host)
                self._check(request, host, literal)
        self._count()
        return None

    async def _check_resolved(self, request: Request, host: str) -> None:
        self._check(request, host, await self._resolve(host))
        self._count()

    @staticmethod
    def _check(request: Request, host: str, address: str | None) -> None:
        if address is not None and not is_public_address(address):
            raise RefusedURL(
                f"refused {request.url}: {host} is a private, loopback or link-local "
                f"address ({address}); set crawl.allow_private_addresses to allow it"
            )

    def _count(self) -> None:
        # Every request that passes (retries and robots.txt included) is one sent.
        stats = getattr(self.crawler.spider, "run_stats", None)
        if stats is not None:
            stats.requests += 1

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

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response | Coroutine[Any, Any, Request]:
        """Retry retryable statuses after a backoff delay (a coroutine only then)."""
        result = super().process_response(request, response)
        return self._after_wait(result) if isinstance(result, Request) else result

    def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | Coroutine[Any, Any, Request] | None:
        """Retry timeouts and connection failures after a backoff delay."""
        result = super().process_exception(request, exception)
        return self._after_wait(result) if isinstance(result, Request) else result

    async def _after_wait(self, retry: Request) -> Request:
        from twisted.internet import reactor

        delay = self.delay_for(int(retry.meta.get("retry_times", 1)))
        if delay > 0:
            await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
        return retry

    def delay_for(self, retry_times: int) -> float:
        """Seconds to wait before retry number `retry_times` (1-based)."""
        return min(self.backoff_max, self.backoff_base * 2 ** max(0, retry_times - 1))


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


# Scrapy looks for a refresh in the first 4,096 characters, which take at most 4 bytes
# each in any encoding that writes ASCII as single bytes.
_REFRESH_WINDOW = 4 * 4096


class RawMetaRefreshMiddleware(MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware, skipping pages whose bytes never spell "refresh".

    Scrapy decodes the whole page to look for a refresh that almost no page
    declares, while the pages of feeds and sitemaps are otherwise only decoded
    by the extraction workers. Bytes with NULs (UTF-16 or UTF-32) still get
    the full check.
    """

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        """Follow a meta refresh; pages without one are passed on undecoded."""
        if isinstance(response, HtmlResponse):
            head = response.body[:_REFRESH_WINDOW]
            if b"\0" not in head and b"refresh" not in head.lower():
                return response
        return super().process_response(request, response)
