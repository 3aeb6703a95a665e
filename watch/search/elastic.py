"""The Elasticsearch search backend: the same interface and result shape as SQLite FTS5.

Items are written through an alias (`veille-items` -> `veille-items-v1`), so
`veille reindex` can build a fresh index beside the live one and switch the
alias atomically. The item id is the document `_id`, which makes re-sending
idempotent. User query text is parsed into the shared AST first and rebuilt
as a `simple_query_string` whose terms are all quoted, so nothing a user types
reaches Elasticsearch's own syntax (and never a raw `query_string`).

Client and server majors must match: the 9.x `elasticsearch` client speaks to
9.x servers; for an 8.x server install the 8.x client
(`pip install 'elasticsearch>=8.13,<9'`), which this module also supports
(it only uses APIs both majors share). The 8.x client also talks to 9.x servers.
"""

from __future__ import annotations

import html
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import elasticsearch
from elasticsearch import Elasticsearch, helpers

from watch.config import ElasticsearchSettings
from watch.errors import UserError
from watch.search.backend import FacetBucket, Hit, QueryError, SearchQuery, SearchResult
from watch.search.folding import POST_TAG, PRE_TAG, fold, unfold_marks
from watch.search.query import AnyOf, Query, Term, check
from watch.store import StoredItem, to_iso

if TYPE_CHECKING:
    from watch.config import Config
    from watch.store import Store

# Bump when the mapping changes; `veille reindex` then builds an index with the new one.
# Commands refuse an index built with an older version (see MappingOutdated).
# 2: searched text is folded like SQLite's (watch.search.folding), in *_folded fields.
MAPPING_VERSION = 2
# Documents per bulk request, and bulk requests in flight while `veille reindex` builds
# an index: measured by `bench/index.py --batch-sweep` (docs/benchmarks.md). On 2 cores
# 2 KB news items go fastest with 1,000 per request and 4 requests in flight: both of
# the node's write threads stay busy, with the next requests already queued behind them.
BATCH_SIZE = 1000
BUILD_THREADS = 4
# Whole rounds of re-sending documents that failed with 429/5xx, with backoff between.
RETRY_ROUNDS = 4
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
SNIPPET_CHARS = 160
PLAIN_SNIPPET_CHARS = 220
# Cardinality counts (collapsed totals) are exact below this many clusters.
CARDINALITY_PRECISION = 40_000
# The text fields shown to users; each is searched through its folded copy.
TEXT_FIELDS = ("title", "summary", "text")
FOLDED = {name: f"{name}_folded" for name in TEXT_FIELDS}
# Boosts mirroring the embedded backend's BM25 column weights.
SEARCH_FIELDS = [f"{FOLDED['title']}^10", f"{FOLDED['summary']}^4", FOLDED["text"]]
HIT_FIELDS = [
    "id",
    "title",
    "url",
    "source",
    "category",
    "language",
    "published",
    "first_seen",
    "tags",
    "opportunity",
    "cluster_id",
]
_VALUE_FACETS = {"source": "source", "category": "category", "language": "language", "tags": "tags"}
DEMO_INDEX = "veille-demo-items"
_GENERATION = re.compile(r"-v(\d+)")


class SearchUnavailable(UserError):
    """Elasticsearch cannot be reached or keeps failing; the store still has everything."""


class MappingOutdated(UserError):
    """The live index was built with an older mapping: `veille reindex` rebuilds it."""


def mapping(settings: ElasticsearchSettings) -> dict[str, Any]:
    """The index mapping: analyzed text, keywords for filters and facets, real dates.

    Queries search and highlight the folded copies (`title_folded` ...), which
    split and fold text as SQLite does; the original fields, not indexed, carry
    what users see. Marks found in a folded fragment are put back on the
    original text by `watch.search.folding.unfold_marks`.
    """
    text = {"type": "text", "index": False}
    searched = {"type": "text", "analyzer": settings.analyzer}
    # Matched exactly but never sorted or aggregated: no doc values to build.
    keyword = {"type": "keyword", "ignore_above": 1024, "doc_values": False}
    # Facet fields build their global ordinals at refresh, not on the first search after it.
    facet = {"type": "keyword", "ignore_above": 1024, "eager_global_ordinals": True}
    # Carried for display only.
    stored = {"index": False, "doc_values": False}
    return {
        "dynamic": "strict",
        "_meta": {"app": "veille", "mapping_version": MAPPING_VERSION},
        "properties": {
            "id": {"type": "long"},
            "title": {**text, "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}},
            "summary": text,
            "text": text,
            **{folded: searched for folded in FOLDED.values()},
            "url": {"type": "keyword", **stored},
            "canonical_url": {**keyword, "ignore_above": 4096},
            "source": facet,
            "category": facet,
            "language": facet,
            "tags": facet,
            "keywords": keyword,
            "author": keyword,
            "cluster_id": keyword,
            # The collapse key: the cluster id, or the item's own id when it has none.
            "cluster": {"type": "keyword"},
            "content_hash": {"type": "keyword", **stored},
            "opportunity": {"type": "float"},
            # The item's date for filters, sorting and the day facet: published, else first seen.
            "date": {"type": "date"},
            "published": {"type": "date", "doc_values": False},
            "first_seen": {"type": "date", "doc_values": False},
            "updated_at": {"type": "date", **stored},
            "fetched_at": {"type": "date", **stored},
        },
    }


def index_settings(settings: ElasticsearchSettings) -> dict[str, Any]:
    """Index settings for a new index."""
    return {
        "number_of_shards": settings.shards,
        "number_of_replicas": settings.replicas,
    }


def document(item: StoredItem) -> dict[str, Any]:
    """The Elasticsearch document for a stored item."""
    # Composed first: fold() maps each accented letter to its base letter one for one,
    # which leaves an accent written as a combining mark (e + U+0301) inside the word.
    # The shown copies are composed too, so that highlights map back place for place.
    title, summary, text = (
        unicodedata.normalize("NFC", value) for value in (item.title, item.summary, item.text)
    )
    return {
        "id": item.id,
        "title": title,
        "summary": summary,
        "text": text,
        "title_folded": fold(title),
        "summary_folded": fold(summary),
        "text_folded": fold(text),
        "url": item.url,
        "canonical_url": item.canonical_url,
        "source": item.source,
        "category": item.category,
        "language": item.language,
        "tags": item.tags,
        "keywords": item.keywords,
        "author": item.author,
        "cluster_id": None if item.cluster_id is None else str(item.cluster_id),
        "cluster": str(item.cluster_id if item.cluster_id is not None else item.id),
        "content_hash": item.content_hash,
        "opportunity": item.opportunity,
        "date": to_iso(item.published or item.first_seen),
        "published": to_iso(item.published),
        "first_seen": to_iso(item.first_seen),
        "updated_at": to_iso(item.updated_at),
        "fetched_at": to_iso(item.fetched_at),
    }


def connect(settings: ElasticsearchSettings) -> Elasticsearch:
    """A client for the configured cluster, with credentials read from the environment."""
    options: dict[str, Any] = {
        "request_timeout": settings.timeout,
        # Transport-level retries for a whole request (a node restarting, a 503).
        "max_retries": 3,
        "retry_on_status": (429, 502, 503, 504),
        "retry_on_timeout": True,
    }
    api_key = os.environ.get(settings.api_key_env)
    username = os.environ.get(settings.username_env)
    password = os.environ.get(settings.password_env)
    if api_key:
        options["api_key"] = api_key
    elif username and password:
        options["basic_auth"] = (username, password)
    if settings.ca_certs is not None:
        options["ca_certs"] = str(settings.ca_certs)
    try:
        from elasticsearch.serializer import OrjsonSerializer
    except ImportError:  # orjson missing: the client's stdlib serializer still works
        pass
    else:
        options["serializer"] = OrjsonSerializer()
    return Elasticsearch(settings.url, **options)


@dataclass
class BuildReport:
    """What building a new index did."""

    index: str
    previous: list[str]
    indexed: int
    rejected: dict[int, str]
    seconds: float


class ElasticBackend:
    """Index and search items in Elasticsearch through the configured alias."""

    def __init__(
        self, settings: ElasticsearchSettings, client: Elasticsearch | None = None
    ) -> None:
        self.settings = settings
        self.alias = settings.index
        self.client = client or connect(settings)
        self._ready = False

    # -- errors ---------------------------------------------------------------

    def _unavailable(self, exc: Exception) -> UserError:
        """A user-facing error for a transport or server failure."""
        if isinstance(exc, elasticsearch.BadRequestError) and "compatible-with" in str(exc):
            return UserError(
                f"The Elasticsearch server at {self.settings.url} does not accept this client's "
                f"version ({elasticsearch.__versionstr__}). Install the client whose major matches "
                "the server: pip install 'elasticsearch>=8.13,<9' for an 8.x server, "
                "'elasticsearch>=9,<10' for 9.x."
            )
        if isinstance(
            exc, elasticsearch.AuthenticationException | elasticsearch.AuthorizationException
        ):
            return UserError(
                f"Elasticsearch at {self.settings.url} refused the credentials ({exc}). Set "
                f"{self.settings.api_key_env}, or {self.settings.username_env} and "
                f"{self.settings.password_env}, in the environment."
            )
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return SearchUnavailable(
            f"Elasticsearch at {self.settings.url} is unavailable ({reason}). Nothing is lost: "
            "items wait in the store's outbox; run `veille reindex --pending` once it is back "
            "(scripts/elasticsearch-node start runs a local node)."
        )

    def _call(self, func: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return func(**kwargs)
        except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as exc:
            raise self._unavailable(exc) from None
        except elasticsearch.ApiError as exc:
            if exc.meta.status >= 500 or exc.meta.status in (401, 403, 429):
                raise self._unavailable(exc) from None
            if isinstance(exc, elasticsearch.BadRequestError) and "compatible-with" in str(exc):
                raise self._unavailable(exc) from None
            raise

    # -- index management -----------------------------------------------------

    def indices(self) -> list[str]:
        """The physical indices the alias points to (empty when it does not exist yet)."""
        try:
            found = self._call(self.client.indices.get_alias, name=self.alias)
        except elasticsearch.NotFoundError:
            return []
        return sorted(found)

    def generations(self) -> list[str]:
        """Every physical index named `<alias>-v<N>`, whether aliased or not."""
        try:
            found = self._call(
                self.client.indices.get, index=f"{self.alias}-v*", expand_wildcards="open,closed"
            )
        except elasticsearch.NotFoundError:
            return []
        prefix = len(self.alias)
        return sorted(n for n in found if _GENERATION.fullmatch(n[prefix:]))

    def ensure_index(self) -> str:
        """Create `<alias>-v1` behind the alias if the alias does not exist; return the index.

        Raises MappingOutdated when the live index was built with an older mapping.
        """
        if self._ready:
            return self.alias
        current = self.indices()
        if current:
            self.check_mapping(current[-1])
        else:
            name = f"{self.alias}-v1"
            try:
                self._call(
                    self.client.indices.create,
                    index=name,
                    mappings=mapping(self.settings),
                    settings=index_settings(self.settings),
                    aliases={self.alias: {"is_write_index": True}},
                )
            except elasticsearch.BadRequestError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise UserError(
                        f"Cannot create the Elasticsearch index {name} for alias {self.alias} "
                        f"({exc.message}). If an index named {self.alias!r} already exists, "
                        "set search.elasticsearch.index to another name."
                    ) from None
            current = [name]
        self._ready = True
        return current[-1]

    def mapping_version(self, index: str | None = None) -> int | None:
        """The mapping version recorded in `index` or the live index (None if unknown)."""
        if index is None:
            current = self.indices()
            if not current:
                return None
            index = current[-1]
        found = self._call(self.client.indices.get_mapping, index=index)
        meta = next(iter(found.values()))["mappings"].get("_meta", {})
        version = meta.get("mapping_version")
        return int(version) if version is not None else None

    def check_mapping(self, index: str) -> None:
        """Raise MappingOutdated, saying what to run, if `index` has an older mapping."""
        version = self.mapping_version(index)
        # No version: an index Veille did not build (made by hand); documents
        # that do not fit it are rejected one by one, with the reason.
        if version is None or version >= MAPPING_VERSION:
            return
        raise MappingOutdated(
            f"The Elasticsearch index {index} (alias {self.alias} at {self.settings.url}) was "
            f"built with mapping version {version}; this version of Veille needs mapping version "
            f"{MAPPING_VERSION}. Run `veille reindex` to rebuild it from the store (searches "
            "keep using the old index until the new one is ready; nothing stored is lost)."
        )

    def refresh(self) -> None:
        """Make everything indexed so far searchable."""
        self._call(self.client.indices.refresh, index=self.alias)

    def drop(self) -> None:
        """Delete the alias and every index generation behind it (demo and tests)."""
        names = sorted(set(self.indices()) | set(self.generations()))
        if names:
            self._call(self.client.indices.delete, index=",".join(names), ignore_unavailable=True)
        self._ready = False

    # -- writing --------------------------------------------------------------

    def index(self, items: Iterable[StoredItem]) -> dict[int, str]:
        """Index or re-index items; return {item_id: reason} for those Elasticsearch rejected."""
        docs = {item.id: document(item) for item in items}
        if not docs:
            return {}
        self.ensure_index()
        _, rejected = self._send(self.alias, docs.items(), parallel=False)
        self.refresh()
        return rejected

    def delete(self, item_ids: Iterable[int]) -> None:
        """Remove items from the index (missing ones are fine)."""
        actions = [{"_op_type": "delete", "_index": self.alias, "_id": str(i)} for i in item_ids]
        if not actions or not self.indices():
            return
        try:
            helpers.bulk(self.client, actions, raise_on_error=False, refresh="wait_for")
        except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as exc:
            raise self._unavailable(exc) from None

    def _send(
        self,
        index: str,
        docs: Iterable[tuple[int, dict[str, Any]]],
        parallel: bool,
        on_done: Callable[[int], None] | None = None,
    ) -> tuple[int, dict[int, str]]:
        """Bulk-send (id, document) pairs in one stream, then re-send 429/5xx failures
        with backoff; return how many were sent and {id: reason} for the rejected ones.

        Only documents whose answer has not come back yet are held in memory, so a
        whole store streams through without pauses between batches.
        """
        done = on_done or (lambda n: None)
        pending: Iterable[tuple[int, dict[str, Any]]] = docs
        rejected: dict[int, str] = {}
        backoff = INITIAL_BACKOFF
        sent = 0
        for attempt in range(RETRY_ROUNDS + 1):
            in_flight: dict[int, dict[str, Any]] = {}
            retry: dict[int, tuple[dict[str, Any], str]] = {}

            def feed(
                pairs: Iterable[tuple[int, dict[str, Any]]],
                in_flight: dict[int, dict[str, Any]] = in_flight,
            ) -> Iterator[tuple[int, dict[str, Any]]]:
                for item_id, doc in pairs:
                    in_flight[item_id] = doc
                    yield item_id, doc

            for ok, info in self._bulk(index, feed(pending), parallel):
                op = next(iter(info.values()))
                item_id = int(op["_id"])
                doc = in_flight.pop(item_id, None)
                if attempt == 0:
                    sent += 1
                if ok:
                    done(1)
                    continue
                status = int(op.get("status", 0))
                reason = _reason(op)
                if (status == 429 or status >= 500) and doc is not None:
                    retry[item_id] = (doc, reason)
                else:
                    rejected[item_id] = reason
                    done(1)
            if not retry:
                break
            if attempt == RETRY_ROUNDS:
                rejected.update(
                    {
                        i: f"still failing after {RETRY_ROUNDS + 1} tries: {reason}"
                        for i, (_, reason) in retry.items()
                    }
                )
                done(len(retry))
                break
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            pending = [(i, doc) for i, (doc, _) in retry.items()]
        return sent, rejected

    def _bulk(
        self, index: str, docs: Iterable[tuple[int, dict[str, Any]]], parallel: bool
    ) -> Iterator[tuple[bool, dict[str, Any]]]:
        actions = (
            {"_op_type": "index", "_index": index, "_id": str(i), "_source": doc} for i, doc in docs
        )
        # Only what the outcome needs comes back: less for the node to write and us to parse.
        answer = {"filter_path": "errors,items.*._id,items.*.status,items.*.error"}
        try:
            if parallel:
                yield from helpers.parallel_bulk(
                    self.client,
                    actions,
                    thread_count=BUILD_THREADS,
                    chunk_size=BATCH_SIZE,
                    raise_on_error=False,
                    raise_on_exception=True,
                    **answer,
                )
            else:
                yield from helpers.streaming_bulk(
                    self.client,
                    actions,
                    chunk_size=BATCH_SIZE,
                    raise_on_error=False,
                    raise_on_exception=True,
                    max_retries=3,
                    initial_backoff=INITIAL_BACKOFF,
                    max_backoff=MAX_BACKOFF,
                    **answer,
                )
        except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as exc:
            raise self._unavailable(exc) from None
        except elasticsearch.ApiError as exc:
            raise self._unavailable(exc) from None

    def build(
        self,
        items: Iterable[StoredItem],
        total: int | None = None,
        on_done: Callable[[int], None] | None = None,
        keep_previous: bool = False,
    ) -> BuildReport:
        """Build a new index generation from `items` and switch the alias to it atomically.

        `items` is consumed on a worker thread while the answers come back on this
        one: pass a list, or a generator that opens its own store (SQLite
        connections stay in their thread), as `watch.indexer.rebuild` does.

        Searches keep hitting the old index until the switch. During the build the
        new index skips refreshes, replicas and per-request fsyncs (Elastic's advice
        for bulk loads); they are restored before the switch.
        """
        started = time.monotonic()
        previous = self.indices()
        taken = set(previous) | set(self.generations())
        numbers = [
            int(n.rsplit("-v", 1)[1]) for n in taken if _GENERATION.fullmatch(n[len(self.alias) :])
        ]
        name = f"{self.alias}-v{max(numbers, default=0) + 1}"
        self._call(
            self.client.indices.create,
            index=name,
            mappings=mapping(self.settings),
            settings={
                **index_settings(self.settings),
                "number_of_replicas": 0,
                "refresh_interval": "-1",
                "translog.durability": "async",
            },
        )
        try:
            indexed, rejected = self._send(
                name,
                ((item.id, document(item)) for item in items),
                parallel=True,
                on_done=on_done,
            )
            self._call(
                self.client.indices.put_settings,
                index=name,
                settings={
                    "number_of_replicas": self.settings.replicas,
                    "refresh_interval": None,
                    "translog.durability": "request",
                },
            )
            self._call(self.client.indices.refresh, index=name)
        except BaseException:
            # A half-built index must never become live; drop it and keep the old one.
            try:
                self.client.indices.delete(index=name, ignore_unavailable=True)
            except elasticsearch.ApiError:
                pass
            except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout):
                pass
            raise
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": self.alias}} for old in previous
        ]
        actions.append({"add": {"index": name, "alias": self.alias, "is_write_index": True}})
        self._call(self.client.indices.update_aliases, actions=actions)
        self._ready = True
        if not keep_previous:
            stale = sorted(taken - {name})
            if stale:
                self._call(
                    self.client.indices.delete, index=",".join(stale), ignore_unavailable=True
                )
        return BuildReport(
            index=name,
            previous=previous,
            indexed=indexed - len(rejected),
            rejected=rejected,
            seconds=time.monotonic() - started,
        )

    # -- reading --------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        """The requested page of hits, the total and the requested facets."""
        parsed = check(query)
        body = self._body(query, parsed, facets=query.facets)
        body["from_"] = (query.page - 1) * query.per_page
        body["size"] = query.per_page
        body["sort"] = _sort(query, parsed)
        body["track_scores"] = True
        if query.collapse:
            body["collapse"] = {"field": "cluster"}
        # The snippet comes from the summary or text: the opening of one when
        # there is nothing to highlight, else the marked fragment put back on it.
        body["source_includes"] = [*HIT_FIELDS, "summary", "text"]
        if not parsed.is_empty:
            body["highlight"] = _highlight(parsed)
        response = self._search(body)
        total = self._total(response, query)
        hits = [_hit(h, parsed) for h in response["hits"]["hits"]]
        return SearchResult(
            total=total,
            hits=hits,
            facets=_facets(response, query.facets),
            page=query.page,
            per_page=query.per_page,
        )

    def facets(self, query: SearchQuery) -> dict[str, list[FacetBucket]]:
        """Facet counts over every item the query matches."""
        parsed = check(query)
        body = self._body(query, parsed, facets=query.facets)
        body["size"] = 0
        body["track_total_hits"] = False
        return _facets(self._search(body), query.facets)

    def count(self, query: SearchQuery) -> int:
        """How many items match (clusters, when the query collapses them)."""
        parsed = check(query)
        body = self._body(query, parsed, facets=[])
        body["size"] = 0
        return self._total(self._search(body), query)

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        self.ensure_index()
        try:
            response = self._call(self.client.search, index=self.alias, **body)
        except elasticsearch.BadRequestError as exc:
            # The query is built from quoted terms only, so this should not happen;
            # if it does, the user still gets a message, not a traceback.
            raise QueryError(f"Elasticsearch could not run this query ({exc.message}).") from None
        return dict(response)

    def _body(self, query: SearchQuery, parsed: Query, facets: list[str]) -> dict[str, Any]:
        filters = _filters(query)
        must: list[dict[str, Any]] = []
        if not parsed.is_empty:
            must.append(
                {
                    "simple_query_string": {
                        "query": to_simple_query(parsed),
                        "fields": SEARCH_FIELDS,
                        "default_operator": "and",
                        "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE",
                        "auto_generate_synonyms_phrase_query": False,
                    }
                }
            )
        body: dict[str, Any] = {
            "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
            "track_total_hits": True,
        }
        aggs = _aggregations(query, facets)
        if aggs:
            body["aggs"] = aggs
        return body

    def _total(self, response: dict[str, Any], query: SearchQuery) -> int:
        if query.collapse:
            return int(response["aggregations"]["_clusters"]["value"])
        return int(response["hits"]["total"]["value"])


def open_backend(config: Config, store: Store) -> ElasticBackend:
    """The Elasticsearch backend configured in `config` (the store is the system of record)."""
    return ElasticBackend(config.settings.search.elasticsearch)


def with_elasticsearch(config: Config, url: str, index: str | None = None) -> Config:
    """A copy of `config` that searches and indexes in Elasticsearch at `url`."""
    es = config.settings.search.elasticsearch.model_copy(
        update={"url": url, **({"index": index} if index else {})}
    )
    search = config.settings.search.model_copy(
        update={"backend": "elasticsearch", "elasticsearch": es}
    )
    settings = config.settings.model_copy(update={"search": search})
    return config.model_copy(update={"settings": settings})


def prepare_demo(config: Config, url: str) -> Config:
    """The demo config switched to a fresh `veille-demo-items` alias on the cluster at `url`.

    Any index a previous demo left there is dropped, so the demo's searches only
    see this run's items. Raises SearchUnavailable, with advice, if `url` does not answer.
    """
    demo = with_elasticsearch(config, url, index=DEMO_INDEX)
    es = demo.settings.search.elasticsearch.model_copy(update={"replicas": 0})
    search = demo.settings.search.model_copy(update={"elasticsearch": es})
    demo = demo.model_copy(update={"settings": demo.settings.model_copy(update={"search": search})})
    ElasticBackend(es).drop()
    return demo


# -- query translation ------------------------------------------------------------


def to_simple_query(query: Query) -> str:
    """The simple_query_string for a parsed query; every term is quoted or a plain prefix."""
    parts = [_clause(c) for c in query.required]
    parts += [f"-{_term(t)}" for t in query.excluded]
    return " ".join(parts)


def _clause(clause: Term | AnyOf) -> str:
    if isinstance(clause, AnyOf):
        return "(" + " | ".join(_term(t) for t in clause.options) + ")"
    return _term(clause)


def _term(term: Term) -> str:
    if term.prefix:
        # The parser guarantees a single run of letters/digits here.
        return f"{fold(term.words[0])}*"
    # Inside quotes only `"` and `\\` mean anything to simple_query_string; both
    # go, and the text is folded and analysed as the documents were.
    text = " ".join(fold(term.text).replace("\\", " ").replace('"', " ").split())
    return f'"{text}"'


def _filters(query: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    for field, values in (
        ("source", query.sources),
        ("category", query.categories),
        ("language", query.languages),
    ):
        if values:
            filters.append({"terms": {field: list(values)}})
    for tag in dict.fromkeys(query.tags):
        filters.append({"term": {"tags": tag}})
    date_range: dict[str, Any] = {}
    if query.published_from is not None:
        date_range["gte"] = to_iso(query.published_from)
    if query.published_to is not None:
        date_range["lte"] = to_iso(query.published_to)
    if date_range:
        filters.append({"range": {"date": date_range}})
    if query.first_seen_after is not None:
        filters.append({"range": {"first_seen": {"gt": to_iso(query.first_seen_after)}}})
    if query.min_id is not None:
        filters.append({"range": {"id": {"gte": query.min_id}}})
    if query.min_opportunity is not None:
        filters.append({"range": {"opportunity": {"gte": query.min_opportunity}}})
    return filters


def _aggregations(query: SearchQuery, facets: list[str]) -> dict[str, Any]:
    aggs: dict[str, Any] = {}
    for name in dict.fromkeys(facets):
        if name == "day":
            aggs[name] = {
                "date_histogram": {
                    "field": "date",
                    "calendar_interval": "day",
                    "format": "yyyy-MM-dd",
                    "time_zone": "UTC",
                    "min_doc_count": 1,
                }
            }
        else:
            aggs[name] = {
                "terms": {
                    "field": _VALUE_FACETS[name],
                    "size": query.facet_size,
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                }
            }
    if query.collapse:
        aggs["_clusters"] = {
            "cardinality": {"field": "cluster", "precision_threshold": CARDINALITY_PRECISION}
        }
    return aggs


def _facets(response: dict[str, Any], facets: list[str]) -> dict[str, list[FacetBucket]]:
    aggs = response.get("aggregations", {})
    out: dict[str, list[FacetBucket]] = {}
    for name in dict.fromkeys(facets):
        buckets = aggs.get(name, {}).get("buckets", [])
        key = "key_as_string" if name == "day" else "key"
        out[name] = [FacetBucket(str(b[key]), int(b["doc_count"])) for b in buckets]
    return out


def _sort(query: SearchQuery, parsed: Query) -> list[Any]:
    newest = [{"date": {"order": "desc"}}, {"id": {"order": "desc"}}]
    if query.sort == "relevance" and not parsed.is_empty:
        return ["_score", *newest]
    return newest


def _highlight(parsed: Query) -> dict[str, Any]:
    # Only what the user looks for is marked, never the excluded terms.
    positive = Query(parsed.required)
    return {
        "pre_tags": [PRE_TAG],
        "post_tags": [POST_TAG],
        # The fragments are folded text: unfold_marks puts the original text back
        # in their place, escaped, with <mark> for the tags.
        "encoder": "default",
        "require_field_match": False,
        "highlight_query": {
            "simple_query_string": {
                "query": to_simple_query(positive),
                "fields": SEARCH_FIELDS,
                "default_operator": "or",
                "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE",
            }
        },
        "fields": {
            FOLDED["text"]: {"fragment_size": SNIPPET_CHARS, "number_of_fragments": 1},
            FOLDED["summary"]: {"fragment_size": SNIPPET_CHARS, "number_of_fragments": 1},
            FOLDED["title"]: {"number_of_fragments": 0},
        },
    }


def _hit(raw: dict[str, Any], parsed: Query) -> Hit:
    source = raw["_source"]
    cluster = source.get("cluster_id")
    score = raw.get("_score")
    return Hit(
        id=int(source["id"]),
        title=source.get("title") or "",
        url=source.get("url") or "",
        source=source.get("source") or "",
        category=source.get("category") or "",
        language=source.get("language"),
        published=_date(source.get("published")),
        first_seen=_date(source.get("first_seen")),
        tags=list(source.get("tags") or []),
        opportunity=source.get("opportunity"),
        cluster_id=int(cluster) if cluster is not None else None,
        snippet=(
            plain_snippet(source.get("summary") or source.get("text") or "")
            if parsed.is_empty
            else _best_fragment(raw.get("highlight", {}), source)
        ),
        score=round(float(score), 6) if score is not None and not parsed.is_empty else 0.0,
    )


def _best_fragment(highlight: dict[str, list[str]], source: dict[str, Any]) -> str:
    """The body fragment with the most marks, on the original text; the title only
    when the body has no match.

    The title is shown beside the snippet anyway, so repeating it says nothing new.
    """
    for fields in (("text", "summary"), ("title",)):
        fragments = [(f, fragment) for f in fields for fragment in highlight.get(FOLDED[f], [])]
        if fragments:
            field, fragment = max(fragments, key=lambda pair: pair[1].count(PRE_TAG))
            return unfold_marks(fragment, source.get(field) or "")
    return ""


def plain_snippet(text: str) -> str:
    """The opening of a text, cut at a word, HTML-escaped."""
    text = " ".join(text.split())
    if len(text) > PLAIN_SNIPPET_CHARS:
        text = text[:PLAIN_SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
    return html.escape(text, quote=True)


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _reason(op: dict[str, Any]) -> str:
    error = op.get("error")
    if isinstance(error, dict):
        kind = error.get("type", "error")
        reason = error.get("reason", "")
        cause = error.get("caused_by", {})
        extra = f" ({cause.get('type')}: {cause.get('reason')})" if cause else ""
        return f"{kind}: {reason}{extra}"[:1000]
    return str(error or f"status {op.get('status')}")[:1000]
