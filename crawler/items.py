"""The item every spider yields: one article, extracted and ready to store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Article:
    """An article collected from a source.

    Spiders fill the collected fields; pipelines fill `canonical_url`,
    `content_hash`, tags and the opportunity score before the store sees it.
    """

    url: str
    source: str
    category: str = "general"
    canonical_url: str = ""
    title: str = ""
    text: str = ""
    summary: str = ""
    author: str | None = None
    published: datetime | None = None
    language: str | None = None
    keywords: list[str] = field(default_factory=list)
    fetched_at: datetime | None = None
    content_hash: str = ""
    tags: list[str] = field(default_factory=list)
    opportunity: float | None = None
    # Why each tag was given (rules matched, model terms); shown by `veille classify`.
    tag_reasons: dict[str, list[str]] = field(default_factory=dict)
