"""Item pipelines: canonicalise → extract → tag → store → stats.

Scrapy's reactor is a single thread, so the CPU-heavy stages (extraction and
tagging) run in a process pool with one worker per core, and the SQLite writes
run in one writer thread that commits whatever is queued in one transaction.
The reactor itself only moves bytes and Deferreds around.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import multiprocessing
import os
import queue
import re
import signal
import threading
import time
import unicodedata
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from crawler.items import Article
from crawler.spiders.base import PageItem
from watch import dedupe
from watch.config import Config
from watch.extract import extract
from watch.store import Store, UpsertResult, UrlState
from watch.tagging import Tagger
from watch.urls import canonicalize, choose_canonical, find_rel_canonical

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A page without article metadata must have at least this much body text to count
# as an article (hub and listing pages usually extract to less).
MIN_ARTICLE_CHARS = 1000
# With article metadata (og:type=article, JSON-LD NewsArticle ...), a short body will do.
MIN_TAGGED_ARTICLE_CHARS = 150

_ARTICLE_META = re.compile(
    rb"""(?:property|name)\s*=\s*["']?og:type["']?\s+content\s*=\s*["']?article"""
    rb"""|content\s*=\s*["']?article["']?\s+(?:property|name)\s*=\s*["']?og:type"""
    rb"""|["']?article:published_time"""
    rb"""|"@type"\s*:\s*\[?\s*"(?:News|Blog|Scholarly|Tech|Report|Analysis|Opinion|Reportage)?"""
    rb"""(?:Article|Posting|NewsArticle)\"""",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


@dataclass
class Stored:
    """An article after the store took it, with what storing did."""

    article: Article
    result: UpsertResult | None


def content_hash(title: str, text: str) -> str:
    """A hash of the normalised title and text: changes only when the words do."""
    normal = unicodedata.normalize("NFC", f"{title}\n{text}")
    normal = _SPACES.sub(" ", normal).strip().lower()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def looks_like_article(html: bytes, text: str) -> bool:
    """Whether a page is an article: article metadata, or a long enough body."""
    if len(text) >= MIN_ARTICLE_CHARS:
        return True
    return len(text) >= MIN_TAGGED_ARTICLE_CHARS and bool(_ARTICLE_META.search(html[:300_000]))


def detect_language(text: str) -> str | None:
    """The language of a text (ISO 639-1), or None when there is too little to tell."""
    sample = text[:2000]
    if len(sample.split()) < 5:
        return None
    import py3langid

    lang, _score = py3langid.classify(sample)
    return lang


# -- work done in the worker processes -------------------------------------------

_WARM_UP_PAGE = (
    b"<html lang='en'><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
    + b"<p>This short page only exists to load the extraction models once per worker.</p>" * 12
    + b"</article></body></html>"
)
_tagger: Tagger | None = None


def _worker_init() -> None:
    # Ctrl-C is for the crawl process to handle; workers just finish their task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    # A worker forked from a crawl process that is then killed would wait forever on
    # its task queue (it holds the queue's other end itself): leave when orphaned.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def warm_up(config: Config | None) -> None:
    """Load what extraction and tagging load lazily (models, caches) in this process.

    Called before the workers are forked, so they all start warm and share
    those pages of memory instead of each paying about a second of CPU.
    """
    global _tagger
    if config is not None:
        _tagger = Tagger.from_config(config)
    page = PageItem(Article(url="http://warm.up/", source=""), _WARM_UP_PAGE)
    with contextlib.suppress(Exception):
        process_page(page, tag=True)


def process_page(item: PageItem, tag: bool) -> PageItem | None:
    """The worker's whole job for one item: extract, merge, sign, and tag it.

    One round trip per item: the result carries the finished article, its
    near-duplicate signature (so the store writer need not compute it) and,
    with `tag`, its tags. None when the page is not an article.
    """
    article = finish_article(item)
    if article is None:
        return None
    done = PageItem(article, state=item.state)
    done.signature = dedupe.signature(f"{article.title}\n{article.text or article.summary}")
    if tag:
        try:
            tag_article(article)
            done.tagged = True
        except Exception as exc:  # stored untagged rather than lost
            done.tag_error = f"{type(exc).__name__}: {exc}"
    return done


def finish_article(item: PageItem) -> Article | None:
    """Extract a page (if any) and merge it over what the source said; None if not an article.

    Runs in a worker process: decoding, extraction, canonical URL, language
    and content hash are all CPU work.
    """
    hint = item.article
    article = dataclasses.replace(hint, keywords=list(hint.keywords))
    page_url = hint.url
    if item.body is not None:
        # The extractor decodes the bytes itself (Content-Type, BOM, meta charset).
        found = extract(item.body, page_url, content_type=item.content_type)
        text = (found.text or "").strip()
        if item.require_article and not looks_like_article(item.body, text):
            return None
        if not text and not hint.text and not hint.summary:
            return None
        declared = find_rel_canonical(item.body, page_url) or found.canonical_url
        article.canonical_url = choose_canonical(page_url, declared)
        article.title = hint.title or found.title
        article.text = text or hint.text
        article.summary = hint.summary or found.summary
        article.author = hint.author or found.author
        article.published = hint.published or found.published or item.fallback_published
        article.language = found.language or hint.language
    else:
        article.canonical_url = article.canonical_url or canonicalize(page_url)
        article.published = article.published or item.fallback_published
    if not article.text:
        article.text = article.summary
    if article.language is None:
        article.language = detect_language(article.text or article.title)
    elif article.language:
        article.language = article.language.split("-")[0].split("_")[0].lower()
    if article.published is not None and article.published.tzinfo is None:
        article.published = article.published.replace(tzinfo=UTC)
    article.content_hash = content_hash(article.title, article.text)
    return article


def tag_article(article: Article) -> Article:
    """Tag an article with the configured Tagger (built before the workers were forked)."""
    if _tagger is not None:
        _tagger.tag(article)
    return article


# -- the worker pool ---------------------------------------------------------------


class WorkerPool:
    """A process pool for CPU work, one per crawl process, with Deferred results.

    Workers are forked; start the pool before the reactor runs (while the
    process has no other threads) so the fork copies a quiet process, with
    trafilatura already imported.
    """

    _instance: WorkerPool | None = None

    def __init__(self, config: Config | None, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        warm_up(config)
        self.executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_init,
        )
        # The first submit forks every worker at once: do it now, not mid-crawl.
        executor.submit(os.getpid)
        return executor

    @classmethod
    def start(cls, config: Config | None) -> WorkerPool:
        """The process's pool, created on first use."""
        if cls._instance is None:
            cls._instance = cls(config)
        return cls._instance

    @classmethod
    def stop(cls) -> None:
        """Shut the pool down (waits for running tasks)."""
        if cls._instance is not None:
            cls._instance.executor.shutdown(wait=True, cancel_futures=True)
            cls._instance = None

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in a worker; a crashed pool is replaced and the error raised."""
        try:
            future = self.executor.submit(func, *args)
        except BrokenProcessPool:
            self.executor = self._new_executor()
            future = self.executor.submit(func, *args)
        try:
            return await maybe_deferred_to_future(deferred_from_future(future))
        except BrokenProcessPool:
            # A worker died (out of memory, a crash in a C parser): start fresh ones.
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._new_executor()
            raise


def deferred_from_future(future: Future) -> Deferred:
    """A Deferred that fires, in the reactor thread, when a concurrent Future completes."""
    from twisted.internet import reactor

    d: Deferred = Deferred()

    def done(f: Future) -> None:
        try:
            result = f.result()
        except BaseException as exc:
            reactor.callFromThread(d.errback, Failure(exc))
        else:
            reactor.callFromThread(d.callback, result)

    future.add_done_callback(done)
    return d


# -- the store writer --------------------------------------------------------------


@dataclass
class _Job:
    kind: str  # "article" | "state" | "flush"
    article: Article | None = None
    state: UrlState | None = None
    signature: Any = None
    deferred: Deferred | None = None


class StoreWriter:
    """The process's one SQLite writer: a thread that commits queued work in batches.

    Each batch is one transaction (each item in its own savepoint, so one bad
    item does not roll back the others), which keeps SQLite far from being the
    bottleneck. An item and its URL validators commit together, so a crawl
    killed at any moment leaves a store where "validators saved" always means
    "item stored", and the next run resumes cleanly.
    """

    _instances: dict[Path, StoreWriter] = {}

    def __init__(
        self, db_path: Path, enqueue_index: bool, batch_size: int = 500, max_wait: float = 0.2
    ) -> None:
        self.db_path = db_path
        self.enqueue_index = enqueue_index
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.queue: queue.Queue[_Job | None] = queue.Queue()
        # Canonical URLs stored in this process: the same article seen twice in one
        # run (two feeds, two sitemaps) is stored once.
        self.seen: dict[str, UpsertResult] = {}
        self.added: list[str] = []
        self.broken: Failure | None = None
        self.thread = threading.Thread(target=self._loop, name="veille-store", daemon=True)
        self.thread.start()

    @classmethod
    def for_config(cls, config: Config) -> StoreWriter:
        """The writer for a config's store, started on first use."""
        path = config.db_path
        writer = cls._instances.get(path)
        if writer is None:
            es = config.settings.search.backend == "elasticsearch"
            writer = cls._instances[path] = cls(path, enqueue_index=es)
        return writer

    @classmethod
    def close_all(cls) -> None:
        """Commit everything queued and stop every writer thread."""
        for writer in list(cls._instances.values()):
            writer.close()
        cls._instances.clear()

    def submit(self, article: Article, state: UrlState | None, signature: Any = None) -> Deferred:
        """Queue an article (and its URL validators); fires with its UpsertResult."""
        if self.broken is not None:
            return fail(self.broken)
        d: Deferred = Deferred()
        job = _Job("article", article=article, state=state, signature=signature, deferred=d)
        self.queue.put(job)
        return d

    def save_state(self, state: UrlState) -> Deferred:
        """Queue URL validators on their own (a feed's ETag once its entries are stored)."""
        d: Deferred = Deferred()
        self.queue.put(_Job("state", state=state, deferred=d))
        return d

    def flush(self) -> Deferred:
        """A Deferred that fires once everything queued so far is committed."""
        d: Deferred = Deferred()
        self.queue.put(_Job("flush", deferred=d))
        return d

    def close(self) -> None:
        """Commit what is queued and stop the thread (blocking)."""
        self.queue.put(None)
        self.thread.join()

    def _loop(self) -> None:
        try:
            store = Store(self.db_path)
        except Exception as exc:  # cannot even open the store: fail every job, never hang
            self._fail_forever(exc)
            return
        try:
            while True:
                job = self.queue.get()
                if job is None:
                    return
                stop_thread = False
                batch = [job]
                stop = job.kind == "flush"
                # Gather more for up to `max_wait`: a few large transactions write far
                # less than many small ones. A flush or the end commits at once.
                deadline = time.monotonic() + self.max_wait
                while not stop and len(batch) < self.batch_size:
                    try:
                        more = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if more is None:
                        stop_thread = True
                        break
                    batch.append(more)
                    stop = more.kind == "flush"
                self._commit(store, batch)
                if stop_thread:
                    return
        except Exception as exc:
            logger.exception("the store writer stopped")
            self._fail_forever(exc)
        finally:
            store.close()

    def _fail_forever(self, exc: Exception) -> None:
        from twisted.internet import reactor

        self.broken = Failure(exc)
        while True:
            job = self.queue.get()
            if job is None:
                return
            if job.deferred is not None:
                reactor.callFromThread(job.deferred.errback, self.broken)

    def _commit(self, store: Store, batch: list[_Job]) -> None:
        from twisted.internet import reactor

        outcomes: list[Any] = []
        self.added: list[str] = []
        try:
            with store.transaction() as conn:
                for job in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        outcome = self._apply(store, job)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO job")
                        outcome = Failure(exc)
                    conn.execute("RELEASE job")
                    outcomes.append(outcome)
        except Exception as exc:  # the commit itself failed: nothing in the batch is stored
            for canonical in self.added:
                self.seen.pop(canonical, None)
            failure = Failure(exc)
            outcomes = [failure] * len(batch)
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.deferred is None:
                continue
            if isinstance(outcome, Failure):
                reactor.callFromThread(job.deferred.errback, outcome)
            else:
                reactor.callFromThread(job.deferred.callback, outcome)

    def _apply(self, store: Store, job: _Job) -> Any:
        if job.kind == "flush":
            return None
        if job.kind == "state":
            assert job.state is not None
            store.save_url_state(job.state)
            return None
        article = job.article
        assert article is not None
        canonical = article.canonical_url or article.url
        earlier = self.seen.get(canonical)
        if earlier is not None:
            result = UpsertResult("duplicate", earlier.item_id, earlier.cluster_id)
        else:
            result = store.upsert(article, job.signature)
            self.seen[canonical] = result
            self.added.append(canonical)
            # A near-duplicate is a new row too: the search engine needs it as well.
            if self.enqueue_index:
                store.enqueue_index([result.item_id])
        if job.state is not None:
            store.save_url_state(job.state)
        return result


# -- the pipelines -----------------------------------------------------------------


class _Stage:
    """Common plumbing: the crawler, its spider, and the config it crawls with."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build the stage for a crawler."""
        return cls(crawler)

    @property
    def spider(self) -> Any:
        return self.crawler.spider

    @property
    def config(self) -> Config:
        config = getattr(self.spider, "config", None)
        if config is None:
            from crawler.spiders.base import default_config

            config = default_config()
        return config


def as_page_item(item: Any, source: str = "") -> PageItem:
    """Accept what any spider yields: a PageItem, an Article, or a dict of Article fields."""
    if isinstance(item, PageItem):
        return item
    if isinstance(item, Article):
        return PageItem(item)
    if isinstance(item, dict):
        names = {f.name for f in dataclasses.fields(Article)}
        data = {k: v for k, v in item.items() if k in names}
        data.setdefault("source", source)
        return PageItem(Article(**data))
    raise DropItem(f"unsupported item type {type(item).__name__}")


class CanonicalizePipeline(_Stage):
    """Give every item its canonical URL (lower-case host, no fragment, no tracking)."""

    def process_item(self, item: Any) -> PageItem:
        """Canonicalise the URL; a fetched page's is settled in extraction (rel=canonical)."""
        page = as_page_item(item, getattr(self.spider, "name", ""))
        page.article.url = page.article.url.strip()
        if page.body is None:
            page.article.canonical_url = canonicalize(
                page.article.canonical_url or page.article.url
            )
        return page


class ExtractPipeline(_Stage):
    """Extract fetched pages in the worker pool and merge them over the source's hints.

    The same worker call also computes the near-duplicate signature and runs
    the tagger (marking the item `tagged`), which saves a second round trip
    per item; TagPipeline then only tags what reaches it untagged.
    """

    def open_spider(self) -> None:
        """Make sure the worker pool is running."""
        self.pool = WorkerPool.start(self.config)

    async def process_item(self, item: PageItem) -> PageItem:
        """Turn the page into a finished article, or drop it when it is not one."""
        url = item.article.url
        try:
            done = await self.pool.run(process_page, item, True)
        except BrokenProcessPool:
            _note(self.spider, url, "extraction crashed a worker process")
            raise DropItem(f"extraction crashed on {url}", log_level="WARNING") from None
        except Exception as exc:  # a bug on one odd page must not go unreported
            logger.warning("extraction failed for %s", url, exc_info=True)
            _note(self.spider, url, f"extraction failed ({type(exc).__name__}: {exc})")
            raise DropItem(f"extraction failed on {url}", log_level="DEBUG") from None
        if done is None:
            raise DropItem(f"not an article: {url}", log_level="DEBUG")
        return done


class TagPipeline(_Stage):
    """Tag articles (topics, competitors, opportunity score) that are not tagged yet."""

    def open_spider(self) -> None:
        """Make sure the worker pool is running."""
        self.pool = WorkerPool.start(self.config)
        self.reported = False

    def process_item(self, item: PageItem) -> PageItem | Coroutine[Any, Any, PageItem]:
        """Tag the article unless the extraction worker already did (a coroutine only then)."""
        if not item.tagged and item.tag_error is None:
            return self._tag(item)
        self._report(item)
        return item

    async def _tag(self, item: PageItem) -> PageItem:
        try:
            item.article = await self.pool.run(tag_article, item.article)
            item.tagged = True
        except Exception as exc:  # stored untagged rather than lost
            item.tag_error = f"{type(exc).__name__}: {exc}"
        self._report(item)
        return item

    def _report(self, item: PageItem) -> None:
        if item.tag_error and not self.reported:
            self.reported = True
            logger.warning("Tagging failed, storing untagged: %s", item.tag_error)
            # A message, not a source error: the source is fine, and its page need
            # not be fetched again because of it.
            note = getattr(self.spider, "note", None)
            if note is not None:
                note(item.article.url, f"tagging failed ({item.tag_error}); stored untagged")


class StorePipeline(_Stage):
    """Upsert articles into the SQLite store through the process's batching writer."""

    def open_spider(self) -> None:
        """Attach to the store writer."""
        self.writer = StoreWriter.for_config(self.config)

    async def process_item(self, item: PageItem) -> Stored:
        """Store the article; its URL validators are saved in the same transaction."""
        job = self.writer.submit(item.article, item.state, item.signature)
        try:
            result = await maybe_deferred_to_future(job)
        except Exception as exc:  # reported per item; nothing stored before is touched
            url = item.article.url
            _note(self.spider, url, f"could not be stored ({type(exc).__name__}: {exc})")
            raise DropItem(f"could not store {url}", log_level="WARNING") from None
        return Stored(item.article, result)

    async def close_spider(self) -> None:
        """Wait until everything this spider sent is committed."""
        await maybe_deferred_to_future(self.writer.flush())


class StatsPipeline(_Stage):
    """Count new/updated/unchanged/duplicate items per source; pass the Article on."""

    def process_item(self, item: Stored | PageItem) -> Article:
        """Count the outcome."""
        stats = getattr(self.spider, "run_stats", None)
        if isinstance(item, PageItem):
            return item.article
        if stats is not None and item.result is not None:
            status = item.result.status
            if status == "new":
                stats.new += 1
            elif status == "updated":
                stats.updated += 1
            elif status == "unchanged":
                stats.unchanged += 1
            else:
                stats.duplicates += 1
        return item.article


def _note(spider: Any, url: str, message: str) -> None:
    note = getattr(spider, "note_error", None)
    if note is not None:
        note(url, message)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
