"""Fetch one page politely, outside a crawl (for `veille extract URL`).

A plain client: Veille's User-Agent, the configured timeout as a deadline for
the whole download, the configured size cap on the body (compressed or not),
and redirects followed by the standard library's limits.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urlsplit

from watch.charset import decompress_gzip
from watch.config import CrawlSettings

CHUNK = 64 * 1024
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


class FetchError(Exception):
    """A page could not be fetched; the message says why, for the user."""


@dataclass
class FetchedPage:
    """A downloaded page."""

    url: str
    body: bytes
    content_type: str | None
    status: int


def fetch_page(url: str, settings: CrawlSettings | None = None) -> FetchedPage:
    """Download `url` within the timeout and size cap, or raise FetchError."""
    settings = settings or CrawlSettings()
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise FetchError(f"{url}: not an http(s) URL")
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": settings.resolved_user_agent(),
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip",
        },
    )
    deadline = time.monotonic() + settings.timeout
    cap = settings.max_download_size
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(f"{url}: {declared} bytes is over the {cap}-byte size cap")
            body = _read_capped(response, cap, deadline, url)
            if (response.headers.get("Content-Encoding") or "").lower() in ("gzip", "x-gzip"):
                body = decompress_gzip(body, cap + 1)
                if len(body) > cap:
                    raise FetchError(f"{url}: the page inflates past the {cap}-byte size cap")
            return FetchedPage(
                url=response.geturl(),
                body=body,
                content_type=response.headers.get("Content-Type"),
                status=response.status,
            )
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise FetchError(f"{url}: timed out after {settings.timeout:g} s") from None
        raise FetchError(f"{url}: cannot connect ({reason})") from None
    except TimeoutError:
        raise FetchError(f"{url}: timed out after {settings.timeout:g} s") from None
    except (HTTPException, OSError, ValueError) as exc:
        raise FetchError(f"{url}: download failed ({exc})") from None


def _read_capped(response: object, cap: int, deadline: float, url: str) -> bytes:
    """Read the body in chunks, stopping at the size cap or the deadline."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read(CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            raise FetchError(f"{url}: the page is over the {cap}-byte size cap")
        chunks.append(chunk)
