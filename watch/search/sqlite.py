"""The embedded search backend: SQLite FTS5 over the store itself.

The store's triggers keep `items_fts` in step with `items`, so for this backend
the store IS the index: `index()` has nothing to send and `delete()` nothing to
remove beyond what `Store.delete` already removed. Queries are translated from
the parsed AST (watch/search/query.py) into an FTS5 MATCH expression in which
every term is a quoted string, so user text never reaches FTS5 syntax.

Speed at 100k items comes from doing everything in SQL: one statement counts
the matches and computes every facet over a materialized set of matched rows,
one statement pages the sorted ids, and snippets are built for that page only.
"""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from watch.search.backend import FacetBucket, Hit, QueryError, SearchQuery, SearchResult
from watch.search.query import AnyOf, Query, Term, check
from watch.store import Store, StoredItem, from_iso, to_iso

# BM25 column weights: a match in the title counts most, then the summary.
TITLE_WEIGHT, SUMMARY_WEIGHT, TEXT_WEIGHT = 10.0, 4.0, 1.0
SNIPPET_TOKENS = 24
# Characters shown as the snippet when there is no query text to highlight.
PLAIN_SNIPPET_CHARS = 220
# snippet() wraps matches in these control characters; the text is escaped
# first and only then are they turned into <mark> tags, so page text can never
# inject HTML.
_OPEN, _CLOSE = "\x02", "\x03"

# The item's date: published, or first seen when the source gave none.
_DATE = "COALESCE(i.published, i.first_seen)"
_CLUSTER = "COALESCE(i.cluster_id, i.id)"
_RANK = f"bm25(items_fts, {TITLE_WEIGHT}, {SUMMARY_WEIGHT}, {TEXT_WEIGHT})"
_HIT_COLUMNS = (
    "i.id, i.title, i.url, i.source, i.category, i.language, i.published, i.first_seen, "
    "i.tags, i.opportunity, i.cluster_id"
)
_FACET_COLUMN = {
    "source": "source",
    "category": "category",
    "language": "language",
    "day": "day",
}


def to_match(query: Query) -> str:
    """The FTS5 MATCH expression for a parsed, non-empty query (every term quoted)."""
    if not query.required:
        raise QueryError("The query has nothing to search for.")
    required = " AND ".join(_clause(c) for c in query.required)
    if not query.excluded:
        return required
    excluded = " OR ".join(_term(t) for t in query.excluded)
    return f"({required}) NOT ({excluded})"


def _clause(clause: Term | AnyOf) -> str:
    if isinstance(clause, AnyOf):
        return "(" + " OR ".join(_term(t) for t in clause.options) + ")"
    return _term(clause)


def _term(term: Term) -> str:
    quoted = '"' + term.text.replace('"', '""') + '"'
    return quoted + "*" if term.prefix else quoted


class SqliteBackend:
    """Search over the store's FTS5 index (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn: sqlite3.Connection = store.conn

    # -- the SearchBackend interface ---------------------------------------

    def index(self, items: Iterable[StoredItem]) -> dict[int, str]:
        """Nothing to send: the store's triggers already indexed these items."""
        for _ in items:
            pass
        return {}

    def delete(self, item_ids: Iterable[int]) -> None:
        """Nothing to remove: Store.delete already dropped the rows from FTS."""
        for _ in item_ids:
            pass

    def count(self, query: SearchQuery) -> int:
        """How many items match (clusters, when the query collapses them)."""
        parsed = check(query)
        total, _ = self._stats(query, parsed, facets=[])
        return total

    def facets(self, query: SearchQuery) -> dict[str, list[FacetBucket]]:
        """Facet counts over every item the query matches."""
        parsed = check(query)
        _, facets = self._stats(query, parsed, facets=query.facets)
        return facets

    def search(self, query: SearchQuery) -> SearchResult:
        """The requested page of hits, the total and the requested facets."""
        parsed = check(query)
        total, facets = self._stats(query, parsed, facets=query.facets)
        hits = self._page(query, parsed) if total else []
        return SearchResult(
            total=total, hits=hits, facets=facets, page=query.page, per_page=query.per_page
        )

    # -- SQL ------------------------------------------------------------------

    def _source(self, query: SearchQuery, parsed: Query) -> tuple[str, list[Any]]:
        """FROM ... WHERE ... selecting the matching items as `i` (with FTS when text)."""
        where, params = _filters(query)
        if parsed.is_empty:
            sql = "FROM items i"
        else:
            sql = "FROM items_fts JOIN items i ON i.id = items_fts.rowid"
            where.insert(0, "items_fts MATCH ?")
            params.insert(0, to_match(parsed))
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def _execute(self, sql: str, params: list[Any]) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            # The AST only produces quoted terms, so this should not happen;
            # if it does, the user still gets a message, not a traceback.
            if "fts5" in str(exc).lower() or "match" in str(exc).lower():
                raise QueryError(f"The search engine could not run this query ({exc}).") from None
            raise

    def _stats(
        self, query: SearchQuery, parsed: Query, facets: list[str]
    ) -> tuple[int, dict[str, list[FacetBucket]]]:
        """The total and the facets, from one pass over the matched rows."""
        source, params = self._source(query, parsed)
        wanted = list(dict.fromkeys(facets))
        if not wanted:
            counted = f"count(DISTINCT {_CLUSTER})" if query.collapse else "count(*)"
            row = self._execute(f"SELECT {counted} {source}", params)[0]
            return int(row[0]), {}
        columns = ["i.id AS id", f"{_CLUSTER} AS cluster"]
        if "source" in wanted:
            columns.append("i.source AS source")
        if "category" in wanted:
            columns.append("i.category AS category")
        if "language" in wanted:
            columns.append("i.language AS language")
        if "day" in wanted:
            columns.append(f"substr({_DATE}, 1, 10) AS day")
        total_expr = "count(DISTINCT cluster)" if query.collapse else "count(*)"
        parts = [f"SELECT '' AS facet, NULL AS value, {total_expr} AS n FROM m"]
        tail_params: list[Any] = []
        for name in wanted:
            if name == "tags":
                parts.append(
                    "SELECT * FROM (SELECT 'tags', t.tag, count(*) AS n FROM m "
                    "JOIN item_tags t ON t.item_id = m.id GROUP BY t.tag "
                    "ORDER BY n DESC, t.tag LIMIT ?)"
                )
                tail_params.append(query.facet_size)
            elif name == "day":
                parts.append("SELECT 'day', day, count(*) FROM m GROUP BY day")
            else:
                col = _FACET_COLUMN[name]
                parts.append(
                    f"SELECT * FROM (SELECT '{name}', {col}, count(*) AS n FROM m "
                    f"WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY n DESC, {col} LIMIT ?)"
                )
                tail_params.append(query.facet_size)
        sql = (
            f"WITH m AS MATERIALIZED (SELECT {', '.join(columns)} {source}) "
            + " UNION ALL ".join(parts)
        )
        rows = self._execute(sql, params + tail_params)
        total = 0
        out: dict[str, list[FacetBucket]] = {name: [] for name in wanted}
        for facet, value, n in rows:
            if facet == "":
                total = int(n)
            else:
                out[facet].append(FacetBucket(str(value), int(n)))
        if "day" in out:
            out["day"].sort(key=lambda b: b.value)
        return total, out

    def _page(self, query: SearchQuery, parsed: Query) -> list[Hit]:
        """The hits of the requested page, sorted, with snippets."""
        source, params = self._source(query, parsed)
        has_text = not parsed.is_empty
        by_rank = has_text and query.sort == "relevance"
        rank = _RANK if has_text else "0.0"
        ids = f"SELECT i.id AS id, {rank} AS rank, {_DATE} AS d, {_CLUSTER} AS cluster {source}"
        if query.collapse:
            ids = (
                f"SELECT id, rank, d FROM (SELECT id, rank, d, ROW_NUMBER() OVER "
                f"(PARTITION BY cluster ORDER BY {_order('', by_rank)}) AS rn FROM ({ids})) "
                "WHERE rn = 1"
            )
        sql = (
            f"SELECT {_HIT_COLUMNS}, p.rank AS rank FROM "
            f"(SELECT id, rank, d FROM ({ids}) ORDER BY {_order('', by_rank)} LIMIT ? OFFSET ?) p "
            f"JOIN items i ON i.id = p.id ORDER BY {_order('p.', by_rank)}"
        )
        offset = (query.page - 1) * query.per_page
        rows = self._execute(sql, [*params, query.per_page, offset])
        snippets = self._snippets(parsed, [r["id"] for r in rows])
        return [_hit(row, snippets.get(row["id"], ""), has_text) for row in rows]

    def _snippets(self, parsed: Query, ids: list[int]) -> dict[int, str]:
        """HTML snippets with <mark> around matches, for the given items only."""
        if not ids:
            return {}
        if parsed.is_empty:
            marks = ",".join("?" * len(ids))
            rows = self.conn.execute(
                f"SELECT id, CASE WHEN summary != '' THEN substr(summary, 1, ?) "
                f"ELSE substr(text, 1, ?) END FROM items WHERE id IN ({marks})",
                [PLAIN_SNIPPET_CHARS + 1, PLAIN_SNIPPET_CHARS + 1, *ids],
            )
            return {r[0]: _plain_snippet(r[1] or "") for r in rows}
        match = to_match(Query(parsed.required))
        out: dict[int, str] = {}
        for item_id in ids:
            row = self.conn.execute(
                "SELECT snippet(items_fts, -1, ?, ?, '…', ?) FROM items_fts "
                "WHERE items_fts MATCH ? AND rowid = ?",
                (_OPEN, _CLOSE, SNIPPET_TOKENS, match, item_id),
            ).fetchone()
            out[item_id] = mark_html(row[0] if row else "")
        return out


def mark_html(marked: str) -> str:
    """Escape snippet text for HTML, then turn the match markers into <mark> tags."""
    escaped = html.escape(marked, quote=True)
    return escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _plain_snippet(text: str) -> str:
    text = " ".join(text.replace(_OPEN, " ").replace(_CLOSE, " ").split())
    if len(text) > PLAIN_SNIPPET_CHARS:
        text = text[:PLAIN_SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
    return html.escape(text, quote=True)


def _order(prefix: str, by_rank: bool) -> str:
    """ORDER BY terms: best rank first (bm25 is lower-is-better), then newest, then id."""
    date = f"{prefix}d DESC, {prefix}id DESC"
    return f"{prefix}rank, {date}" if by_rank else date


def _filters(query: SearchQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: list[str]) -> None:
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)

    any_of("i.source", query.sources)
    any_of("i.category", query.categories)
    any_of("i.language", query.languages)
    for tag in dict.fromkeys(query.tags):
        where.append("i.id IN (SELECT item_id FROM item_tags WHERE tag = ?)")
        params.append(tag)
    if query.published_from is not None:
        where.append(f"{_DATE} >= ?")
        params.append(to_iso(query.published_from))
    if query.published_to is not None:
        where.append(f"{_DATE} <= ?")
        params.append(to_iso(query.published_to))
    if query.first_seen_after is not None:
        where.append("i.first_seen > ?")
        params.append(to_iso(query.first_seen_after))
    if query.min_id is not None:
        where.append("i.id >= ?")
        params.append(query.min_id)
    if query.min_opportunity is not None:
        where.append("i.opportunity >= ?")
        params.append(query.min_opportunity)
    return where, params


def _hit(row: sqlite3.Row, snippet: str, has_text: bool) -> Hit:
    return Hit(
        id=row["id"],
        title=row["title"],
        url=row["url"],
        source=row["source"],
        category=row["category"],
        language=row["language"],
        published=from_iso(row["published"]),
        first_seen=from_iso(row["first_seen"]),
        tags=json.loads(row["tags"]),
        opportunity=row["opportunity"],
        cluster_id=row["cluster_id"],
        snippet=snippet,
        score=round(-float(row["rank"]), 6) if has_text else 0.0,
    )
