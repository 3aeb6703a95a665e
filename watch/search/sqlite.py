"""The embedded search backend: SQLite FTS5 over the store itself.

The store's triggers keep `items_fts` in step with `items`, so for this backend
the store IS the index: `index()` has nothing to send and `delete()` nothing to
remove beyond what `Store.delete` already removed. Queries are translated from
the parsed AST (watch/search/query.py) into an FTS5 MATCH expression in which
every term is a quoted string, so user text never reaches FTS5 syntax.

Speed at 100k items comes from doing everything in SQL, never per row in
Python. Filters, sorts and facets read `search_facts`, a narrow per-item table
(kept by triggers, migration 0005) with covering indexes, instead of the wide
`items` rows. With query text, one statement runs the MATCH once, counts the
matches and computes every facet over the materialized match set; one more
pages the sorted ids; snippets are built for that page only.
"""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from watch.search.backend import FacetBucket, Hit, QueryError, SearchQuery, SearchResult
from watch.search.query import AnyOf, Query, Term, check
from watch.store import Store, StoredItem, from_iso, to_iso

# BM25 column weights: a match in the title counts most, then the summary.
TITLE_WEIGHT, SUMMARY_WEIGHT, TEXT_WEIGHT = 10.0, 4.0, 1.0
SNIPPET_TOKENS = 24
CACHE_KIB = 64 * 1024
# Characters shown as the snippet when there is no query text to highlight.
PLAIN_SNIPPET_CHARS = 220
# snippet() wraps matches in these control characters; the text is escaped
# first and only then are they turned into <mark> tags, so page text can never
# inject HTML.
_OPEN, _CLOSE = "\x02", "\x03"

# `search_facts` (migration 0005) holds, per item, what queries filter, sort
# and facet on: `date` is published, or first seen when the source gave none;
# `cluster` is the near-duplicate cluster, or the item's own id.
_DATE = "f.date"
_CLUSTER = "f.cluster"
_RANK = f"bm25(items_fts, {TITLE_WEIGHT}, {SUMMARY_WEIGHT}, {TEXT_WEIGHT})"
# Covering indexes from migration 0005, one per value facet.
_COVERING = {name: f"search_facts_by_{name}" for name in ("source", "category", "language", "day")}
# Above this share of all items, a facet scans its covering index in order.
BROAD_SHARE = 0.2
_HIT_COLUMNS = (
    "i.id, i.title, i.url, i.source, i.category, i.language, i.published, i.first_seen, "
    "i.tags, i.opportunity, i.cluster_id"
)


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
        # The default 2 MB page cache thrashes on facet joins at 100k items.
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    # -- the SearchBackend interface ---------------------------------------

    def index(self, items: Iterable[StoredItem]) -> dict[int, str]:
        """Nothing to send: the store's triggers already indexed these items.

        The iterable is not read, so `index(store.iter_items())` costs nothing.
        """
        return {}

    def delete(self, item_ids: Iterable[int]) -> None:
        """Nothing to remove: Store.delete already dropped the rows from FTS and facts."""

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

    def _rows(self, query: SearchQuery, parsed: Query) -> _Rows:
        """The matching items' facts as `f` (joined to FTS when there is text)."""
        where, params = _filters(query)
        if parsed.is_empty:
            return _Rows("search_facts f", where, params)
        # CROSS JOIN keeps FTS as the outer loop: driven from a filter's index
        # instead, SQLite would re-run the MATCH for every row.
        return _Rows(
            "items_fts CROSS JOIN search_facts f ON f.id = items_fts.rowid",
            ["items_fts MATCH ?", *where],
            [to_match(parsed), *params],
        )

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
        """The total and the requested facets."""
        wanted = list(dict.fromkeys(facets))
        matched = self._rows(query, parsed)
        total_expr = f"count(DISTINCT {_CLUSTER})" if query.collapse else "count(*)"
        rows: list[tuple[str, Any, int]] = []
        if parsed.is_empty:
            # No MATCH to repeat: each facet is its own GROUP BY. Over a large
            # share of the items, scanning the facet's covering index in order
            # beats any plan that sorts the matches.
            total = int(self._execute(f"SELECT {total_expr} {matched.sql()}", matched.params)[0][0])
            broad = False
            if total and wanted:
                everything = int(self._execute("SELECT count(*) FROM search_facts", [])[0][0])
                broad = total >= BROAD_SHARE * everything
            for name in wanted if total else []:
                if broad and name == "tags" and matched.conditions:
                    # Probe the matched ids while reading item_tags in tag order.
                    sql = (
                        "SELECT 'tags', t.tag, count(*) AS n FROM item_tags t INDEXED BY "
                        f"item_tags_tag WHERE t.item_id IN (SELECT f.id {matched.sql()}) "
                        "GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?"
                    )
                    rows += self._execute(sql, [*matched.params, query.facet_size])
                    continue
                rows_for = matched
                if broad and name in _COVERING:
                    rows_for = replace(
                        matched, tables=f"search_facts f INDEXED BY {_COVERING[name]}"
                    )
                sql, params = _facet_sql(name, rows_for, "JOIN", query.facet_size)
                rows += self._execute(sql, params)
        else:
            # One statement: the MATCH runs once into a materialized set of
            # matched rows, which the total and every facet then group.
            columns = "f.id AS id, f.source, f.category, f.language, f.day, f.cluster"
            sql = f"WITH m AS MATERIALIZED (SELECT {columns} {matched.sql()}) "
            sql += f"SELECT '', NULL, {total_expr} FROM m f"
            params = list(matched.params)
            for name in wanted:
                facet_sql, more = _facet_sql(name, _Rows("m f"), "CROSS JOIN", query.facet_size)
                sql += f" UNION ALL SELECT * FROM ({facet_sql})"
                params += more
            rows = self._execute(sql, params)
            total = int(rows.pop(0)[2])
        out: dict[str, list[FacetBucket]] = {name: [] for name in wanted}
        for facet, value, n in rows:
            out[facet].append(FacetBucket(str(value), int(n)))
        for name, buckets in out.items():
            # UNION ALL need not keep each part's order: restate the contract's.
            if name == "day":
                buckets.sort(key=lambda b: b.value)
            else:
                buckets.sort(key=lambda b: (-b.count, b.value))
        return total, out

    def _page(self, query: SearchQuery, parsed: Query) -> list[Hit]:
        """The hits of the requested page, sorted, with snippets."""
        matched = self._rows(query, parsed)
        has_text = not parsed.is_empty
        by_rank = has_text and query.sort == "relevance"
        rank = _RANK if has_text else "0.0"
        ids = f"SELECT f.id AS id, {rank} AS rank, {_DATE} AS d, {_CLUSTER} AS cluster"
        ids += f" {matched.sql()}"
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
        rows = self._execute(sql, [*matched.params, query.per_page, offset])
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


@dataclass
class _Rows:
    """Matched rows in SQL: the tables (facts as `f`), the conditions and their parameters."""

    tables: str
    conditions: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def sql(self, join: str = "", condition: str = "") -> str:
        """FROM ... [join] [WHERE ...] over these rows, with an optional extra join/condition."""
        conditions = [*self.conditions, condition] if condition else self.conditions
        out = f"FROM {self.tables}" + (f" {join}" if join else "")
        return out + (" WHERE " + " AND ".join(conditions) if conditions else "")


def _facet_sql(name: str, rows: _Rows, join: str, size: int) -> tuple[str, list[Any]]:
    """A facet's GROUP BY over `rows`; `join` is how item_tags joins them (JOIN or CROSS JOIN)."""
    if name == "tags":
        if rows.tables == "search_facts f" and not rows.conditions:
            source = "FROM item_tags t"  # every item: no need to visit the facts
        else:
            source = rows.sql(f"{join} item_tags t ON t.item_id = f.id")
        sql = f"SELECT 'tags', t.tag, count(*) AS n {source} GROUP BY t.tag"
        return sql + " ORDER BY n DESC, t.tag LIMIT ?", [*rows.params, size]
    if name == "day":
        return f"SELECT 'day', f.day, count(*) {rows.sql()} GROUP BY f.day ORDER BY f.day", [
            *rows.params
        ]
    column = f"f.{name}"
    sql = (
        f"SELECT '{name}', {column}, count(*) AS n {rows.sql(condition=f'{column} IS NOT NULL')} "
        f"GROUP BY {column} ORDER BY n DESC, {column} LIMIT ?"
    )
    return sql, [*rows.params, size]


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

    # Without ANALYZE statistics SQLite takes any equality as selective. A
    # unary + keeps it off indexes that rarely narrow much: languages never
    # do, and categories less than sources, so the best index drives the scan.
    any_of("f.source", query.sources)
    any_of("+f.category" if query.sources else "f.category", query.categories)
    any_of("+f.language", query.languages)
    for tag in dict.fromkeys(query.tags):
        where.append("f.id IN (SELECT item_id FROM item_tags WHERE tag = ?)")
        params.append(tag)
    if query.published_from is not None:
        where.append(f"{_DATE} >= ?")
        params.append(to_iso(query.published_from))
    if query.published_to is not None:
        where.append(f"{_DATE} <= ?")
        params.append(to_iso(query.published_to))
    if query.first_seen_after is not None:
        where.append("f.first_seen > ?")
        params.append(to_iso(query.first_seen_after))
    if query.min_id is not None:
        where.append("f.id >= ?")
        params.append(query.min_id)
    if query.min_opportunity is not None:
        where.append("f.opportunity >= ?")
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
