"""What every source spider shares: its Source and Config, run counts, messages, requests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.python.failure import Failure

from crawler.items import Article
from crawler.middlewares import DISCOVERED, RefusedURL
from watch.config import Config, ConfigError, Settings, Source, load_config
from watch.store import SourceRunStats, Store, UrlState

if TYPE_CHECKING:
    from collections.abc import Callable


# Messages kept per source and run; the rest are counted, not listed.
MAX_MESSAGES = 25
_BLOCK_TAGS = re.compile(
    r"<\s*(?:br|/p|/div|/li|/h[1-6]|/tr|/blockquote|/pre|p|li|h[1-6])\b[^>]*>", re.I
)
_TAGS = re.compile(r"<[^>]+>")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


@dataclass
class PageItem:
    """What a spider hands to the pipelines.

    (Defined with the spiders, so that listing them imports no extractor.)
    `article` carries what the feed or sitemap already said (title, date,
    keywords, summary). With a `body`, the page is extracted and merged over
    it; without one, the article is stored as it is (a feed entry kept
    without its page). `state` is the URL's validators, saved with the item so
    the next run can skip or conditionally fetch it.
    """

    article: Article
    body: bytes | None = field(default=None, repr=False)
    content_type: str | None = None
    # Only keep the page if it looks like an article (site crawls reach hub pages too).
    require_article: bool = False
    # A date to fall back on when neither the source nor the page gives one (sitemap lastmod).
    fallback_published: datetime | None = None
    state: UrlState | None = None
    # Filled in the worker: the near-duplicate signature, and why tagging failed if it did.
    signature: Any = field(default=None, repr=False)
    tag_error: str | None = None


def default_config() -> Config:
    """The config for a plain `scrapy crawl`: $VEILLE_CONFIG or ./veille.yaml, else defaults."""
    try:
        return load_config(None)
    except ConfigError:
        return Config(path=Path.cwd() / "veille.yaml", settings=Settings(), sources=[])


def html_to_text(fragment: str) -> str:
    """Plain text from a small HTML fragment (a feed summary), keeping paragraph breaks."""
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.split())
    import html

    text = _BLOCK_TAGS.sub("\n", fragment)
    text = html.unescape(_TAGS.sub(" ", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def looks_like_html(body: bytes) -> bool:
    """Whether a body is an HTML page (a common answer where a feed was expected)."""
    return bool(_HTML_START.match(body[:2048]))


def parse_http_date(value: str | None) -> datetime | None:
    """A datetime from an HTTP or RFC 822 date, or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_w3c_date(value: str | None) -> datetime | None:
    """A datetime from a W3C/ISO 8601 date as sitemaps write it, or None."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def describe_failure(failure: Failure, settings: BaseSettings | None = None) -> str:
    """A short, plain-words reason for a failed request."""
    exc = failure.value
    cap = settings.getint("DOWNLOAD_MAXSIZE") if settings is not None else None
    timeout = settings.getfloat("DOWNLOAD_TIMEOUT") if settings is not None else None
    if isinstance(exc, HttpError):
        response = exc.response
        retries = response.request.meta.get("retry_times", 0) if response.request else 0
        extra = f" (after {retries} retries)" if retries else ""
        return f"HTTP {response.status}{extra}"
    if isinstance(exc, RefusedURL):
        return str(exc)
    text = str(exc)
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in text:
            return "disallowed by robots.txt"
        if "redirections" in text:
            request = getattr(failure, "request", None)
            chain = request.meta.get("redirect_urls", []) if request is not None else []
            loop = len(set(chain)) < len(chain)
            return "redirect loop" if loop else "too many redirects"
        if "decompression" in text:
            return f"the compressed body expands beyond the download size cap ({cap} bytes)"
        return text or "request ignored"
    name = type(exc).__name__
    if "larger than download max size" in text or "max size" in text:
        return f"the response is larger than the download size cap ({cap} bytes)"
    if "Timeout" in name or "TimedOut" in name or "timed out" in text.lower():
        limit = f" after {timeout:g} s" if timeout else ""
        return f"timed out{limit}"
    if "DNS" in name or "CannotResolveHost" in name:
        return "cannot resolve the host name"
    if "ConnectionRefused" in name:
        return "connection refused"
    return f"{name}: {text}" if text else name


class SourceSpider(scrapy.Spider):
    """A spider for one configured source; the three source types subclass it.

    Built from a `watch.config.Source` by `veille crawl`, or from `-a url=...`
    (and optionally `-a source=NAME`, `-a category=...`) by a plain
    `scrapy crawl feed|sitemap|site` with the default config.
    """

    source_type: ClassVar[str] = ""

    def __init__(
        self,
        source: Source | None = None,
        config: Config | None = None,
        url: str | None = None,
        category: str | None = None,
        **kwargs: Any,
    ) -> None:
        source_name = kwargs.pop("source_name", None)
        super().__init__(**kwargs)
        self.config = config or default_config()
        self.source = self._resolve_source(source, source_name, url, category)
        self.run_stats = SourceRunStats(source=self.source.name)
        self.failure: str | None = None
        self.known: dict[str, UrlState] = {}
        self.pending_validators: list[UrlState] = []
        self._dropped_messages = 0

    def _resolve_source(
        self, source: Source | str | None, name: str | None, url: str | None, category: str | None
    ) -> Source:
        if isinstance(source, Source):
            return source
        if isinstance(source, str):
            name = source
        if url is None and name:
            return self.config.source(name)
        if url is None:
            raise ValueError(
                f"spider {self.name!r} needs a source: -a url=URL or -a source=NAME "
                f"(a source from {self.config.sources_path})"
            )
        fields: dict[str, Any] = {"name": name or urlsplit(url).hostname or url}
        fields.update(type=self.source_type, url=url)
        if category:
            fields["category"] = category
        return Source(**fields)

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        """Under a plain `scrapy crawl`, take fetch settings from the default config.

        `veille crawl` sets them itself at a higher priority (and says so with
        VEILLE_RUNNER), so this only fills in for the Scrapy command line.
        """
        super().update_settings(settings)
        if settings.getbool("VEILLE_RUNNER"):
            return
        from crawler.settings import settings_from_config

        settings.setdict(settings_from_config(default_config()), priority="spider")

    # -- messages ---------------------------------------------------------------

    def note(self, url: str, message: str) -> None:
        """Record a message for the run summary, naming the source and the URL."""
        if len(self.run_stats.messages) >= MAX_MESSAGES:
            self._dropped_messages += 1
            return
        self.run_stats.messages.append(f"source {self.source.name!r}: {url}: {message}")
        self.logger.warning("%s: %s", url, message)

    def note_error(self, url: str, message: str) -> None:
        """Count an error and record its message."""
        self.run_stats.errors += 1
        self.note(url, message)

    def fail(self, url: str, message: str) -> None:
        """Mark the whole source as failed (its feed, sitemap or start page is unusable)."""
        if self.failure is None:
            self.failure = f"{url}: {message}"
        self.note_error(url, message)

    def finish_messages(self) -> None:
        """Say how many messages were left out of the summary."""
        if self._dropped_messages:
            self.run_stats.messages.append(
                f"source {self.source.name!r}: ... and {self._dropped_messages} more "
                "(see the crawl log)"
            )
            self._dropped_messages = 0

    # -- store state ------------------------------------------------------------

    def load_known(self) -> None:
        """Read which URLs this source already stored, with their validators and lastmod."""
        store = Store(self.config.db_path)
        try:
            self.known = store.url_states(self.source.name)
        finally:
            store.close()

    def is_known_unchanged(self, url: str, lastmod: str | None) -> bool:
        """Whether a URL was stored before and its date has not moved since."""
        state = self.known.get(url)
        if state is None:
            return False
        return lastmod is None or state.lastmod == lastmod

    def remember_validators(self, response: Response) -> None:
        """Keep a root URL's ETag/Last-Modified, saved once the run has stored its entries."""
        etag = _header(response, "ETag")
        last_modified = _header(response, "Last-Modified")
        if etag or last_modified:
            url = response.request.url if response.request else response.url
            self.pending_validators.append(
                UrlState(url, self.source.name, etag=etag, last_modified=last_modified)
            )

    async def closed(self, reason: str) -> None:
        """Save root validators only after a clean run, so a 304 never hides lost entries."""
        self.finish_messages()
        if reason != "finished":
            self.note_error(self.source.url, f"crawl stopped before the end ({reason})")
            return
        if self.failure is not None or self.run_stats.errors or not self.pending_validators:
            return
        from crawler.pipelines import StoreWriter

        writer = StoreWriter.for_config(self.config)
        saved = [writer.save_state(state) for state in self.pending_validators]
        # Nothing else is coming from this spider: commit now rather than after the
        # writer's wait for a fuller batch (0.2 s at the end of every crawl).
        writer.commit_soon()
        for done in saved:
            await maybe_deferred_to_future(done)

    # -- requests ---------------------------------------------------------------

    def headers_for(self, url: str, conditional: bool = False) -> dict[str, str]:
        """The source's configured headers, plus validators for a conditional GET."""
        headers = dict(self.source.headers)
        state = self.known.get(url) if conditional else None
        if state is not None:
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.last_modified:
                headers["If-Modified-Since"] = state.last_modified
        return headers

    def root_request(self, callback: Callable[..., Any], **meta: Any) -> Request:
        """The request for the configured URL: conditional, and failing the source on error."""
        return Request(
            self.source.url,
            callback=callback,
            errback=self.root_failed,
            headers=self.headers_for(self.source.url, conditional=True),
            meta={"handle_httpstatus_list": [304], **meta},
            dont_filter=True,
        )

    def page_request(
        self,
        url: str,
        callback: Callable[..., Any],
        errback: Callable[..., Any],
        conditional: bool = False,
        priority: int = 0,
        **meta: Any,
    ) -> Request:
        """A request for a discovered URL (checked by the address-safety middleware)."""
        extra = {"handle_httpstatus_list": [304]} if conditional else {}
        return Request(
            url,
            callback=callback,
            errback=errback,
            priority=priority,
            headers=self.headers_for(url, conditional=conditional),
            meta={DISCOVERED: True, **extra, **meta},
        )

    def root_failed(self, failure: Failure) -> None:
        """The configured URL failed: the whole source fails, with the reason."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else self.source.url
        self.fail(url, describe_failure(failure, self.settings))

    def describe(self, failure: Failure) -> str:
        """A failure in plain words."""
        return describe_failure(failure, self.settings)

    def base_article(self, url: str, **fields: Any) -> Article:
        """An Article for this source, stamped with the fetch time."""
        return Article(
            url=url,
            source=self.source.name,
            category=self.source.category,
            fetched_at=datetime.now(UTC),
            **fields,
        )

    def page_item(self, response: Response, hint: Article, **kwargs: Any) -> PageItem:
        """A fetched page for the pipelines, with its URL validators for next time."""
        hint.url = response.url
        return PageItem(
            hint,
            body=response.body,
            content_type=_header(response, "Content-Type"),
            **kwargs,
        )

    @staticmethod
    def is_html(response: Response) -> bool:
        """Whether a response is an HTML page worth extracting."""
        kind = (_header(response, "Content-Type") or "").lower()
        if "html" in kind:
            return True
        return not kind and looks_like_html(response.body)


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def failure_url(failure: Failure, default: str) -> str:
    """The URL of the request that failed."""
    request = getattr(failure, "request", None)
    return request.url if request is not None else default
