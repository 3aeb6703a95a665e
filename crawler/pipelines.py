"""Item pipelines: extract (canonicalise, extract, sign, tag) → store (and count).

Scrapy's reactor is a single thread, so the CPU work (extraction, the
near-duplicate signature and tagging) runs in a process pool with one worker
per core, fed in batches while the workers are busy; the SQLite writes run in
one writer thread that commits whatever is queued in one transaction. The
reactor itself only moves bytes and Deferreds around.
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
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from crawler.items import Article
from crawler.spiders.base import PageItem
from watch import dedupe, language
from watch.config import Config
from watch.extract import extract
from watch.store import Store, UpsertResult, UrlState
from watch.tagging import Tagger
from watch.urls import canonicalize, choose_canonical, find_rel_canonical

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

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


def content_hash(title: str, text: str) -> str:
    """A hash of the normalised title and text: changes only when the words do."""
    normal = unicodedata.normalize("NFC", f"{title}\n{text}")
    # str.split() splits on exactly the characters \s matches, at a third of the cost.
    normal = " ".join(normal.split()).lower()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def looks_like_article(html: bytes, text: str) -> bool:
    """Whether a page is an article: article metadata, or a long enough body."""
    if len(text) >= MIN_ARTICLE_CHARS:
        return True
    return len(text) >= MIN_TAGGED_ARTICLE_CHARS and bool(_ARTICLE_META.search(html[:300_000]))


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
    if hasattr(os, "SCHED_BATCH") and os.sched_getscheduler(0) == os.SCHED_BATCH:
        # The crawl process runs as a batch task (see watch.crawl); extraction does not.
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _fresh_worker_init(config: Config | None) -> None:
    # A worker started after a crash is a new interpreter: load what a forked one inherits.
    _worker_init()
    warm_up(config)


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
        process_pages([page])


def process_page(item: PageItem) -> PageItem | None:
    """Extract, merge and sign one page; None when it is not an article.

    The result carries the finished article and its near-duplicate signature,
    so the store writer need not compute it.
    """
    article = finish_article(item)
    if article is None:
        return None
    done = PageItem(article, state=item.state)
    done.signature = dedupe.signature(
        dedupe.signed_text(article.title, article.text, article.summary)
    )
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
        article.language = language.detect(article.text or article.title)
    elif article.language:
        article.language = article.language.split("-")[0].split("_")[0].lower()
    if article.published is not None and article.published.tzinfo is None:
        article.published = article.published.replace(tzinfo=UTC)
    article.content_hash = content_hash(article.title, article.text)
    return article


def tag_pages(items: list[PageItem]) -> None:
    """Tag finished items together with the Tagger built before the workers were forked.

    One vectorised call for the batch; if it fails, each item is tagged alone
    so that only the item at fault is stored untagged.
    """
    if _tagger is None or not items:
        return
    try:
        _tagger.tag_many([item.article for item in items])
        return
    except Exception:
        logger.debug("batch tagging failed; tagging one by one", exc_info=True)
    for item in items:
        try:
            _tagger.tag(item.article)
        except Exception as exc:  # stored untagged rather than lost
            item.tag_error = f"{type(exc).__name__}: {exc}"


# -- the worker pool ---------------------------------------------------------------


@dataclass
class PageFailure:
    """A page the worker could not process, with the reason for the run summary."""

    message: str


# Pages per worker round trip at most. Batches form only while the workers are busy
# (an idle worker gets the next page at once); they share the pickling, the pipe
# round trip and one vectorised tagging call between their pages.
MAX_BATCH = 16


def process_pages(items: list[PageItem]) -> list[PageItem | PageFailure | None]:
    """The worker's job for a batch of pages: each extracted, merged and signed, then all tagged.

    One entry per page, in order: the finished item, None when the page is not
    an article, or a PageFailure (one odd page never costs the others).
    """
    out: list[PageItem | PageFailure | None] = []
    for item in items:
        try:
            out.append(process_page(item))
        except Exception as exc:  # reported for this page; the batch goes on
            logger.warning("extraction failed for %s", item.article.url, exc_info=True)
            out.append(PageFailure(f"extraction failed ({type(exc).__name__}: {exc})"))
    tag_pages([page for page in out if isinstance(page, PageItem)])
    return out


class WorkerPool:
    """A process pool for the CPU work, one per crawl process, fed in adaptive batches.

    Workers are forked; start the pool before the reactor runs (while the
    process has no other threads) so the fork copies a quiet process, with
    trafilatura and the tagging model already loaded. `process(page)` is
    called in the reactor thread and returns a Deferred; pages queue up while
    every worker is busy and leave together as the next batch.
    """

    _instance: WorkerPool | None = None

    def __init__(self, config: Config | None, workers: int | None = None) -> None:
        self.config = config
        self.workers = workers or os.cpu_count() or 1
        warm_up(config)
        self.executor = self._new_executor(fork=True)
        self.pending: list[_Task] = []
        # Pages of a batch that crashed a worker, to be retried one per batch.
        self.suspects: list[_Task] = []
        self.probing = False
        self.in_flight = 0

    def _new_executor(self, fork: bool = False) -> ProcessPoolExecutor:
        if fork:
            executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_init,
            )
        else:
            # Replacing crashed workers mid-crawl: this process now has threads (the
            # reactor's helpers, the store writer), and a fork could copy a lock one of
            # them holds and hang the new worker. Fresh interpreters are slower to start
            # but safe.
            executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_fresh_worker_init,
                initargs=(self.config,),
            )
        # The first submit starts every worker at once: do it now, not mid-crawl.
        executor.submit(os.getpid)
        return executor

    @classmethod
    def start(cls, config: Config | None) -> WorkerPool:
        """The process's pool, created on first use."""
        if cls._instance is None:
            cls._instance = cls(config)
        return cls._instance

    @classmethod
    def is_idle(cls) -> bool:
        """Whether no page is being extracted or waiting to be."""
        pool = cls._instance
        return pool is None or (pool.in_flight == 0 and not pool.pending)

    @classmethod
    def stop(cls) -> None:
        """Shut the pool down (waits for running tasks)."""
        if cls._instance is not None:
            cls._instance.executor.shutdown(wait=True, cancel_futures=True)
            cls._instance = None

    def process(self, item: PageItem) -> Deferred:
        """Extract, sign and tag a page in a worker: fires with what `process_pages` gives it."""
        task = _Task(item, Deferred())
        self.pending.append(task)
        self._dispatch()
        return task.deferred

    def _dispatch(self) -> None:
        if self.suspects or self.probing:
            # After a crash, the pages of the failed batches go one at a time, alone in
            # the pool, so that a second crash names its page; the rest waits meanwhile.
            if self.suspects and self.in_flight == 0:
                self.probing = True
                self._send([self.suspects.pop(0)])
            return
        # One batch per worker plus one queued, so a worker that finishes finds
        # work waiting instead of idling for the round trip through the reactor.
        while self.in_flight <= self.workers and self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            self._send(batch)

    def _send(self, batch: list[_Task]) -> None:
        self.in_flight += 1
        self._submit(batch).addBoth(self._batch_done, batch)

    def _submit(self, batch: list[_Task]) -> Deferred:
        pages = [task.item for task in batch]
        try:
            future = self.executor.submit(process_pages, pages)
        except BrokenProcessPool:
            self.executor = self._new_executor()
            future = self.executor.submit(process_pages, pages)
        executor = self.executor

        def broken(failure: Failure) -> Failure:
            # A worker died (out of memory, a crash in a C parser): start fresh ones,
            # once, however many batches were in flight on the broken pool.
            if failure.check(BrokenProcessPool) and self.executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self.executor = self._new_executor()
            return failure

        return deferred_from_future(future).addErrback(broken)

    def _batch_done(self, outcome: Any, batch: list[_Task]) -> None:
        self.in_flight -= 1
        if batch[0].alone:
            self.probing = False
        if isinstance(outcome, Failure) and outcome.check(BrokenProcessPool):
            # Every batch in flight fails when one page kills a worker: retry each
            # page alone, once, so that only the page at fault is lost.
            for task in batch:
                if task.alone:
                    task.deferred.errback(outcome)
                else:
                    task.alone = True
                    self.suspects.append(task)
        elif isinstance(outcome, Failure):
            for task in batch:
                task.deferred.errback(outcome)
        else:
            for task, result in zip(batch, outcome, strict=True):
                task.deferred.callback(result)
        self._dispatch()


@dataclass
class _Task:
    """A page waiting for, or in, a worker."""

    item: PageItem
    deferred: Deferred
    # Retried on its own after a worker crash: a second crash drops it.
    alone: bool = False


def _fire_all(outcomes: list[tuple[Deferred, Any]]) -> None:
    """Fire each Deferred with its outcome (a Failure errbacks); runs in the reactor thread."""
    for deferred, outcome in outcomes:
        if isinstance(outcome, Failure):
            deferred.errback(outcome)
        else:
            deferred.callback(outcome)


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

    def commit_soon(self) -> None:
        """Commit what is queued now, without waiting for a fuller batch."""
        self.queue.put(_Job("flush"))

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
        # One wake-up of the reactor for the whole batch, not one per item.
        fired = [(job.deferred, o) for job, o in zip(batch, outcomes, strict=True) if job.deferred]
        reactor.callFromThread(_fire_all, fired)

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


class ExtractPipeline(_Stage):
    """Turn what a spider found into a finished, tagged article, in the worker pool.

    The URL is canonicalised here (a fetched page's is settled in the worker,
    where rel=canonical is read); the worker then extracts the page, merges it
    over the source's hints, computes the near-duplicate signature and tags the
    article, all in one round trip shared with the other pages of its batch.
    """

    def open_spider(self) -> None:
        """Make sure the worker pool is running."""
        self.pool = WorkerPool.start(self.config)
        self.tag_failure_reported = False

    async def process_item(self, item: Any) -> PageItem:
        """The finished item, or DropItem when the page is not an article or failed."""
        page = as_page_item(item, getattr(self.spider, "name", ""))
        url = page.article.url = page.article.url.strip()
        if page.body is None:
            page.article.canonical_url = canonicalize(page.article.canonical_url or url)
        try:
            done = await maybe_deferred_to_future(self.pool.process(page))
        except BrokenProcessPool:
            _note(self.spider, url, "extraction crashed a worker process")
            raise DropItem(f"extraction crashed on {url}", log_level="WARNING") from None
        if isinstance(done, PageFailure):
            _note(self.spider, url, done.message)
            raise DropItem(f"extraction failed on {url}", log_level="DEBUG")
        if done is None:
            raise DropItem(f"not an article: {url}", log_level="DEBUG")
        if done.tag_error:
            self._report_tag_failure(done)
        return done

    def _report_tag_failure(self, item: PageItem) -> None:
        if self.tag_failure_reported:
            return
        self.tag_failure_reported = True
        logger.warning("Tagging failed, storing untagged: %s", item.tag_error)
        # A message, not a source error: the source is fine, and its page need
        # not be fetched again because of it.
        note = getattr(self.spider, "note", None)
        if note is not None:
            note(item.article.url, f"tagging failed ({item.tag_error}); stored untagged")


class StorePipeline(_Stage):
    """Upsert articles into the SQLite store through the process's batching writer.

    Counts each outcome (new, updated, unchanged, duplicate) in the source's
    run stats and passes the Article on.
    """

    def open_spider(self) -> None:
        """Attach to the store writer."""
        self.writer = StoreWriter.for_config(self.config)

    async def process_item(self, item: PageItem) -> Article:
        """Store the article; its URL validators are saved in the same transaction."""
        job = self.writer.submit(item.article, item.state, item.signature)
        if WorkerPool.is_idle():
            # No more pages are on their way (often: the crawl's last ones), so the
            # writer need not wait for more to fill its transaction.
            self.writer.commit_soon()
        try:
            result = await maybe_deferred_to_future(job)
        except Exception as exc:  # reported per item; nothing stored before is touched
            url = item.article.url
            _note(self.spider, url, f"could not be stored ({type(exc).__name__}: {exc})")
            raise DropItem(f"could not store {url}", log_level="WARNING") from None
        stats = getattr(self.spider, "run_stats", None)
        if stats is not None:
            field = "duplicates" if result.status == "duplicate" else result.status
            setattr(stats, field, getattr(stats, field) + 1)
        return item.article

    async def close_spider(self) -> None:
        """Wait until everything this spider sent is committed."""
        await maybe_deferred_to_future(self.writer.flush())


def _note(spider: Any, url: str, message: str) -> None:
    note = getattr(spider, "note_error", None)
    if note is not None:
        note(url, message)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
