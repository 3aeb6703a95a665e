"""Article extraction: clean text and metadata from an HTML page (trafilatura first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import trafilatura


@dataclass
class Extracted:
    """What extraction found in one page."""

    url: str | None
    title: str
    text: str
    summary: str
    author: str | None
    published: datetime | None
    language: str | None
    canonical_url: str | None = None


def extract(html: str | bytes, url: str | None = None) -> Extracted:
    """Extract the main article text and metadata from a page."""
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return Extracted(url, "", "", "", None, None, None)
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    published = None
    if data.get("date"):
        try:
            published = datetime.fromisoformat(data["date"])
        except ValueError:
            published = None
    text = data.get("text") or ""
    return Extracted(
        url=url,
        title=data.get("title") or "",
        text=text,
        summary=data.get("description") or text[:300],
        author=data.get("author"),
        published=published,
        language=data.get("language"),
        canonical_url=data.get("url"),
    )
