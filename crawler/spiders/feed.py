"""The `feed` spider: RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 through feedparser."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from crawler.items import Article
from crawler.spiders.base import (
    PageItem,
    SourceSpider,
    _header,
    failure_url,
    html_to_text,
    looks_like_html,
)
from watch.store import UrlState
from watch.urls import canonicalize, is_http_url

# Feed summaries longer than this are the whole article: keep a summary-sized head.
SUMMARY_CHARS = 600
# feedparser "problems" that do not mean the feed is broken.
_BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_FEED_LINK = re.compile(
    rb"""<link\b[^>]*\btype\s*=\s*["']application/(?:rss|atom)\+xml["'][^>]*>""", re.I
)
_HREF = re.compile(rb"""\bhref\s*=\s*["']([^"']+)["']""", re.I)


def struct_to_datetime(value: Any) -> datetime | None:
    """A UTC datetime from feedparser's parsed-date struct (which is in UTC)."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Cut a text at a word boundary near `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + " …"


class FeedSpider(SourceSpider):
    """Collects every entry of an RSS or Atom feed; with full text, extracts each entry's page.

    The feed is fetched with the ETag/Last-Modified saved last time, so an
    unchanged feed costs one 304 and no parsing. Entries already stored whose
    date has not moved are skipped.
    """

    name = "feed"
    source_type = "feed"

    async def start(self) -> Any:
        """Fetch the feed (conditionally)."""
        self.load_known()
        yield self.root_request(self.parse_feed)

    def parse_feed(self, response: Response) -> Iterator[Request | PageItem]:
        """Parse the feed and turn each new or changed entry into a request or an item."""
        if response.status == 304:
            self.run_stats.not_modified += 1
            return
        parsed = feedparser.parse(
            response.body,
            response_headers={
                "content-type": _header(response, "Content-Type") or "application/xml",
                "content-location": response.url,
            },
        )
        entries = parsed.entries
        problem = parsed.get("bozo_exception") if parsed.bozo else None
        if not entries:
            if looks_like_html(response.body) or (not parsed.version and _is_html(response)):
                self.fail(response.url, self._not_a_feed(response))
            elif problem is not None and not isinstance(problem, _BENIGN_BOZO):
                self.fail(response.url, f"the feed cannot be read: malformed XML ({problem})")
            elif not parsed.version:
                self.fail(response.url, "not an RSS or Atom feed")
            return
        if problem is not None and not isinstance(problem, _BENIGN_BOZO):
            self.note_error(
                response.url,
                f"malformed feed XML ({problem}); "
                f"kept the {len(entries)} entries that could be read",
            )
        self.remember_validators(response)
        language = parsed.feed.get("language")
        for entry in entries:
            yield from self._entry(entry, response.url, language)

    def _not_a_feed(self, response: Response) -> str:
        message = (
            "not a feed: the server sent an HTML page "
            f"(Content-Type {_header(response, 'Content-Type') or 'missing'})"
        )
        link = _FEED_LINK.search(response.body[:200_000])
        href = _HREF.search(link.group(0)) if link else None
        if href:
            feed_url = urljoin(response.url, href.group(1).decode("utf-8", "replace"))
            return f"{message}; the page links to a feed at {feed_url}: use that URL"
        return f"{message}; point the source at the RSS or Atom URL"

    def _entry(
        self, entry: Any, feed_url: str, language: str | None
    ) -> Iterator[Request | PageItem]:
        link = entry.get("link") or ""
        if not link and is_http_url(entry.get("id", "")):
            link = entry["id"]
        if not link:
            self.note(feed_url, f"entry {entry.get('title', '(untitled)')!r} has no link; skipped")
            return
        url = canonicalize(link, feed_url)
        if not is_http_url(url):
            self.note_error(url, "entry link is not an http(s) URL; skipped")
            return
        updated = struct_to_datetime(entry.get("updated_parsed"))
        published = struct_to_datetime(entry.get("published_parsed")) or updated
        lastmod = (updated or published).isoformat() if (updated or published) else None
        if self.is_known_unchanged(url, lastmod):
            return
        hint = self._hint(entry, url, published, language)
        state = UrlState(url, self.source.name, lastmod=lastmod)
        if self.source.wants_full_text:
            yield self.page_request(
                url,
                self.parse_entry_page,
                self.entry_failed,
                veille_hint=hint,
                veille_state=state,
            )
        else:
            yield PageItem(hint, state=state)

    def _hint(
        self, entry: Any, url: str, published: datetime | None, language: str | None
    ) -> Article:
        contents = [c for c in entry.get("content", []) if c.get("value")]
        body_html = max((c["value"] for c in contents), key=len, default="")
        text = html_to_text(body_html) if body_html else ""
        summary = html_to_text(entry.get("summary", "") or "")
        if not summary or summary == text or len(summary) > SUMMARY_CHARS * 2:
            summary = shorten(summary or text)
        if contents and contents[0].get("language"):
            language = contents[0]["language"]
        authors = [a.get("name") for a in entry.get("authors", []) if a.get("name")]
        author = ", ".join(authors) or entry.get("author") or None
        keywords = [t.get("term") for t in entry.get("tags", []) if t.get("term")]
        return self.base_article(
            url,
            title=html_to_text(entry.get("title", "") or ""),
            text=text,
            summary=summary,
            author=author,
            published=published,
            language=language,
            keywords=keywords,
        )

    def parse_entry_page(self, response: Response) -> Iterator[PageItem]:
        """Hand the entry's page to extraction; keep the feed's summary if it is not HTML."""
        hint: Article = response.meta["veille_hint"]
        state: UrlState = response.meta["veille_state"]
        if not self.is_html(response):
            self.note(
                response.url,
                f"entry page is not HTML ({_header(response, 'Content-Type')}); "
                "kept the feed's summary",
            )
            yield PageItem(hint, state=state)
            return
        yield self.page_item(response, hint, state=state)

    def entry_failed(self, failure: Failure) -> Iterator[PageItem]:
        """The entry's page failed: say why, and keep what the feed said about it.

        Its validators are not saved, so the next run tries the page again.
        """
        request = failure.request
        url = failure_url(failure, self.source.url)
        self.note_error(url, f"{self.describe(failure)}; kept the feed's summary")
        if request is not None and "veille_hint" in request.meta:
            yield PageItem(request.meta["veille_hint"])


def _is_html(response: Response) -> bool:
    return "html" in (_header(response, "Content-Type") or "").lower()
