"""The search-backend interface and the result shapes every backend returns.

Both backends (SQLite FTS5 and Elasticsearch) implement `SearchBackend` and
pass the same contract suite (tests/watch/search/test_contract.py), so the
command line, the API, alerts and digests never care which one is configured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from watch.errors import UserError
from watch.store import StoredItem

FACET_FIELDS = ("source", "category", "language", "tags", "day")


class QueryError(UserError):
    """A malformed search query; the message says what is wrong and how to write it."""


@dataclass
class SearchQuery:
    """What to search for: user query text plus structured filters."""

    text: str = ""
    sources: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    # Items must carry every listed tag.
    tags: list[str] = field(default_factory=list)
    # Inclusive bounds on the item's date: `published`, or `first_seen` when
    # the published date is unknown (the same date sorts and makes the day facet).
    published_from: datetime | None = None
    published_to: datetime | None = None
    # Alert evaluation: only items first seen strictly after this moment,
    # and only items whose id is >= min_id.
    first_seen_after: datetime | None = None
    min_id: int | None = None
    # Items with opportunity >= this (items without a score never match).
    min_opportunity: float | None = None
    # "date" is newest first (ties: higher id first). With an empty text,
    # "relevance" also sorts by date.
    sort: Literal["relevance", "date"] = "relevance"
    page: int = 1
    per_page: int = 10
    # Show one hit per near-duplicate cluster (cluster_id, or the item's own id
    # when it has none): the best one under the chosen sort. `total` then counts
    # clusters; facets still count items.
    collapse: bool = False
    facets: list[str] = field(default_factory=list)
    # Value facets (source, category, language, tags) keep the top buckets by
    # count (ties by value); the day facet lists every day with items, oldest first.
    facet_size: int = 20


@dataclass
class Hit:
    """One search result. `snippet` is HTML-escaped text with <mark> around matches."""

    id: int
    title: str
    url: str
    source: str
    category: str
    language: str | None
    published: datetime | None
    first_seen: datetime | None
    tags: list[str]
    opportunity: float | None
    cluster_id: int | None
    snippet: str
    # Higher is better; backends differ in scale. 0.0 when the query has no text.
    score: float


@dataclass
class FacetBucket:
    """One value of a facet and how many matching items carry it."""

    value: str
    count: int


@dataclass
class SearchResult:
    """A page of hits, the total match count, and the requested facets."""

    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetBucket]] = field(default_factory=dict)
    page: int = 1
    per_page: int = 10

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        for hit in data["hits"]:
            for key in ("published", "first_seen"):
                hit[key] = hit[key].isoformat() if hit[key] else None
        return data


class SearchBackend(Protocol):
    """What a search backend does. Items always come from the store first."""

    def index(self, items: Iterable[StoredItem]) -> dict[int, str]:
        """Index or re-index items; return {item_id: reason} for those rejected."""
        ...

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query: hits for the requested page, total and facets."""
        ...

    def facets(self, query: SearchQuery) -> dict[str, list[FacetBucket]]:
        """Facet counts for everything the query matches."""
        ...

    def count(self, query: SearchQuery) -> int:
        """How many items match."""
        ...

    def delete(self, item_ids: Iterable[int]) -> None:
        """Remove items from the index (call after Store.delete; SQLite has nothing extra)."""
        ...
