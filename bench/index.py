"""Elasticsearch benchmark: bulk-indexing speed and search latency at 100,000 items.

    .venv/bin/python bench/index.py WORK_DIR [--items 100000] [--es-url URL] [--batch-sweep]

1. Bulk indexing, docs/s, in the same run and on the same documents:
   - baseline: plain single-threaded `elasticsearch.helpers.bulk` with its defaults
     (500 documents per request) into an index with the same mapping;
   - Veille: `ElasticBackend.build`, what `veille reindex` runs (parallel bulk,
     refresh off, async translog and no replicas during the load, then restored).
   Each is run `--rounds` times, alternating, after a warm-up; the best round counts.
2. Search latency, p50/p99 over `--queries` typical queries (words, phrases, OR,
   exclusions, prefixes; filters by source, category, language, date and tags; the
   source/category/day facets; relevance or date sort; pages 1-3) on the same items,
   for Elasticsearch and for the embedded SQLite backend.

The items are generated (news-like: a title, ~2 KB of text, a summary and metadata)
and cached as a Veille store in WORK_DIR, so later runs skip the generation. Without
--es-url a throwaway node is started with scripts/elasticsearch-node (heap 512m).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from elasticsearch import Elasticsearch, helpers
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watch.config import ElasticsearchSettings
from watch.search import elastic
from watch.search.backend import SearchQuery
from watch.search.elastic import ElasticBackend, document, mapping
from watch.search.sqlite import SqliteBackend
from watch.store import Store, StoredItem, to_iso

ROOT = Path(__file__).resolve().parent.parent
console = Console(stderr=True)

SOURCES = [f"{name}-news" for name in (
    "retail", "seo", "shopify", "marketplace", "ecom", "payments", "logistics", "adtech",
    "search", "amazon", "commerce", "digital", "merchant", "growth", "brand", "pricing",
    "supply", "fashion", "electronics", "grocery", "b2b", "d2c", "analytics", "cx",
    "mobile", "social", "video", "local", "travel", "beauty",
)]  # fmt: skip
CATEGORIES = ["competitor", "seo", "distribution", "tech", "market", "general"]
LANGUAGES = ["en"] * 6 + ["fr"] * 3 + ["de", None]
TAGS = [
    "pricing", "fees", "logistics", "seo-update", "ads", "payments", "ai", "returns",
    "marketplace", "regulation", "funding", "launch", "partnership", "outage", "holiday",
]  # fmt: skip
_TOPIC_TEXT = (
    "amazon ebay shopify zalando etsy walmart google bing marketplace seller sellers fees "
    "referral shipping fulfilment warehouse returns checkout payment payments wallet cart "
    "conversion pricing price prices discount promotion coupon subscription retail retailer "
    "brand brands merchant merchants search ranking algorithm update core crawl index "
    "sitemap snippet featured advertising ads campaign budget bidding auction catalog "
    "product products inventory stock supplier logistics carrier parcel delivery same-day "
    "holiday season black friday cyber monday growth revenue quarter results forecast "
    "regulation tax vat privacy consent cookies tracking analytics dashboard report "
    "mobile app launch feature beta partnership acquisition funding startup platform "
    "marketplace api integration plugin theme storefront headless commerce omnichannel"
)
TOPIC_WORDS = _TOPIC_TEXT.split()
FILLER_COUNT = 6000
# Queries run untimed first, per backend, so caches and the JIT are warm.
WARMUP_QUERIES = 100


def _vocabulary(rnd: random.Random) -> list[str]:
    syllables = [a + b for a in "bcdfglmnprstv" for b in ("a", "e", "i", "o", "u", "ou", "ai")]
    words = set()
    while len(words) < FILLER_COUNT:
        words.add("".join(rnd.choice(syllables) for _ in range(rnd.randint(2, 4))))
    return sorted(words)


class Generator:
    """Deterministic news-like items whose word frequencies follow Zipf's law.

    As in real text, a few dozen filler words are in every item (like "the"), and
    the topic words a watch team searches for sit at mid ranks (30 to 3,000), so
    the commonest is in about half the items and the rarest in a few percent.
    """

    def __init__(self, seed: int = 7) -> None:
        self.rnd = random.Random(seed)
        self.words = _vocabulary(self.rnd)
        topics = list(dict.fromkeys(TOPIC_WORDS))
        self.rnd.shuffle(topics)
        for k, word in enumerate(topics):
            rank = int(30 * 100 ** (k / len(topics)))
            self.words.insert(min(rank, len(self.words)), word)
        weights = [1.0 / (rank + 1) for rank in range(len(self.words))]
        self.cum_weights = list(itertools.accumulate(weights))
        self.start = datetime(2024, 1, 1, tzinfo=UTC)

    def sentence(self, n: int) -> str:
        """A capitalised sentence of n words."""
        words = self.rnd.choices(self.words, cum_weights=self.cum_weights, k=n)
        return " ".join(words).capitalize() + "."

    def text(self, chars: int) -> str:
        """Paragraphs of sentences, about `chars` characters long."""
        out: list[str] = []
        size = 0
        while size < chars:
            sentence = self.sentence(self.rnd.randint(8, 22))
            out.append(sentence)
            size += len(sentence) + 1
        return " ".join(out)

    def row(self, n: int) -> tuple:
        """One items row (see _INSERT) for item number n."""
        rnd = self.rnd
        source = SOURCES[n % len(SOURCES)]
        title = self.sentence(rnd.randint(6, 11)).rstrip(".")
        text = self.text(2000)
        summary = text[:200].rsplit(" ", 1)[0]
        published = self.start + timedelta(minutes=rnd.randint(0, 365 * 24 * 60))
        seen = published + timedelta(minutes=rnd.randint(5, 600))
        dated = rnd.random() > 0.05
        tags = sorted(set(rnd.sample(TAGS, rnd.choice((0, 1, 1, 2, 2, 3)))))
        url = f"https://{source}.example/{published:%Y/%m}/story-{n}"
        return (
            url,
            url,
            source,
            CATEGORIES[(n // 7) % len(CATEGORIES)],
            title,
            text,
            summary,
            f"Author {n % 300}",
            to_iso(published) if dated else None,
            rnd.choice(LANGUAGES),
            json.dumps(rnd.sample(TOPIC_WORDS, 3)),
            hashlib.sha256(text.encode()).hexdigest(),
            json.dumps(tags),
            round(rnd.random(), 3) if rnd.random() > 0.3 else None,
            to_iso(seen),
            to_iso(seen),
            to_iso(seen),
        )


_INSERT = (
    "INSERT INTO items (canonical_url, url, source, category, title, text, summary, author, "
    "published, language, keywords, content_hash, tags, opportunity, fetched_at, first_seen, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def build_store(path: Path, count: int) -> None:
    """Write `count` generated items straight into a Veille store.

    The crawler's path (Store.upsert) computes MinHash signatures for dedupe, which
    this benchmark is not about; rows go in with SQL instead, and the store's own
    triggers still fill the FTS index. Each item is its own cluster.
    """
    gen = Generator()
    tmp = path.with_suffix(".part")
    tmp.unlink(missing_ok=True)
    store = Store(tmp)
    with _progress("Generating items", count) as advance:
        for start in range(0, count, 2000):
            rows = [gen.row(n) for n in range(start, min(count, start + 2000))]
            with store.transaction():
                cur = store.conn.cursor()
                for row in rows:
                    cur.execute(_INSERT, row)
                    item_id = cur.lastrowid
                    cur.executemany(
                        "INSERT INTO item_tags VALUES (?, ?)",
                        [(item_id, tag) for tag in json.loads(row[12])],
                    )
                store.conn.execute("UPDATE items SET cluster_id = id WHERE cluster_id IS NULL")
            advance(len(rows))
    store.conn.execute("PRAGMA optimize")
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)


@contextmanager
def _progress(title: str, total: int) -> Iterator:
    columns = ("[bold]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(title, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def elasticsearch_node(url: str | None) -> Iterator[str]:
    """The cluster to use: --es-url, or a throwaway test node started for this run."""
    if url:
        yield url
        return
    data = Path(tempfile.mkdtemp(prefix="veille-bench-es-", dir="/tmp"))
    data.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {**os.environ, "ES_DATA_DIR": str(data), "ES_PORT": os.environ.get("ES_PORT", port)}
    script = str(ROOT / "scripts" / "elasticsearch-node")
    console.print("Starting a throwaway Elasticsearch node...")
    done = subprocess.run([script, "start"], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"Elasticsearch did not start: {done.stderr.strip()[-1500:]}")
    try:
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, check=False)
        shutil.rmtree(data, ignore_errors=True)


# -- indexing ---------------------------------------------------------------------


def baseline_index(client: Elasticsearch, name: str, items: list[StoredItem]) -> float:
    """Plain single-threaded helpers.bulk with defaults; return docs/s (searchable at the end)."""
    settings = ElasticsearchSettings(index=name)
    client.indices.delete(index=name, ignore_unavailable=True)
    client.indices.create(index=name, mappings=mapping(settings))
    started = time.perf_counter()
    actions = ({"_index": name, "_id": str(i.id), "_source": document(i)} for i in items)
    helpers.bulk(client, actions)
    client.indices.refresh(index=name)
    seconds = time.perf_counter() - started
    assert client.count(index=name)["count"] == len(items)
    return len(items) / seconds


def veille_index(url: str, alias: str, items: list[StoredItem]) -> float:
    """Veille's bulk build (what `veille reindex` runs); return docs/s (searchable at the end)."""
    backend = ElasticBackend(ElasticsearchSettings(url=url, index=alias, timeout=120))
    backend.drop()
    started = time.perf_counter()
    report = backend.build(items)
    seconds = time.perf_counter() - started
    assert report.rejected == {} and backend.count(SearchQuery()) == len(items)
    return len(items) / seconds


# -- search -----------------------------------------------------------------------


def typical_queries(count: int, seed: int = 11) -> list[SearchQuery]:
    """Queries like a watch team's: topic words, phrases, OR, exclusions, filters, facets."""
    rnd = random.Random(seed)
    topic = [w for w in TOPIC_WORDS if "-" not in w]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    queries = []
    for _ in range(count):
        shape = rnd.random()
        if shape < 0.35:
            text = " ".join(rnd.sample(topic, rnd.choice((1, 2, 2, 3))))
        elif shape < 0.5:
            text = '"' + " ".join(rnd.sample(topic, 2)) + '"'
        elif shape < 0.65:
            text = f"{rnd.choice(topic)} OR {rnd.choice(topic)} {rnd.choice(topic)}"
        elif shape < 0.75:
            text = f"{rnd.choice(topic)} -{rnd.choice(topic)}"
        elif shape < 0.85:
            text = f"{rnd.choice(topic)[:4]}* {rnd.choice(topic)}"
        else:
            text = ""
        q = SearchQuery(text=text, facets=["source", "category", "day"])
        if rnd.random() < 0.4:
            q.sources = rnd.sample(SOURCES, rnd.choice((1, 2, 3)))
        if rnd.random() < 0.3:
            q.categories = [rnd.choice(CATEGORIES)]
        if rnd.random() < 0.2:
            q.languages = [rnd.choice(("en", "fr"))]
        if rnd.random() < 0.2:
            q.tags = [rnd.choice(TAGS)]
        if rnd.random() < 0.4:
            q.published_from = start + timedelta(days=rnd.randint(0, 300))
            q.published_to = q.published_from + timedelta(days=rnd.choice((7, 30, 90)))
        if rnd.random() < 0.3:
            q.sort = "date"
        q.page = rnd.choice((1, 1, 1, 2, 3))
        queries.append(q)
    return queries


@dataclass
class Latency:
    """Latency figures over a query set, in milliseconds."""

    backend: str
    queries: int
    p50: float
    p95: float
    p99: float
    mean: float


def measure(backends: dict[str, object], queries: list[SearchQuery]) -> dict[str, Latency]:
    """Run every query on each backend, interleaved query by query so both see the same
    machine load; untimed warm-up first. Check that both backends count the same totals."""
    for q in queries[:WARMUP_QUERIES]:
        for backend in backends.values():
            backend.search(q)  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {name: [] for name in backends}
    disagree = 0
    with _progress("Searching", len(queries)) as advance:
        for q in queries:
            totals = set()
            for name, backend in backends.items():
                started = time.perf_counter()
                result = backend.search(q)  # type: ignore[attr-defined]
                times[name].append((time.perf_counter() - started) * 1000)
                totals.add(result.total)
            disagree += len(totals) > 1
            advance(1)
    if disagree:
        console.print(f"[red]{disagree} queries got different totals on the backends[/]")
    return {name: _latency(name, values) for name, values in times.items()}


def _latency(name: str, values: list[float]) -> Latency:
    values = sorted(values)
    return Latency(
        backend=name,
        queries=len(values),
        p50=round(_pct(values, 50), 2),
        p95=round(_pct(values, 95), 2),
        p99=round(_pct(values, 99), 2),
        mean=round(statistics.fmean(values), 2),
    )


def _pct(sorted_values: list[float], pct: float) -> float:
    k = (len(sorted_values) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def record_took(backend: ElasticBackend) -> list[float]:
    """Collect the server-side `took` of every search the backend sends."""
    took: list[float] = []
    search = backend.client.search

    def timed(**kwargs: object) -> object:
        response = search(**kwargs)
        took.append(float(response["took"]))
        return response

    backend.client.search = timed  # type: ignore[method-assign]
    return took


def quiesce(client: Elasticsearch, limit: float = 120) -> None:
    """Wait until the node runs no merge, so the next timed run starts from rest."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        stats = client.nodes.stats(metric="indices", index_metric="merge")["nodes"]
        if not any(n["indices"]["merges"]["current"] for n in stats.values()):
            return
        time.sleep(0.5)


def es_cpu_ms(client: Elasticsearch) -> int:
    """CPU time the Elasticsearch process has used so far, in ms (from its node stats)."""
    stats = client.nodes.stats(metric="process")["nodes"]
    return sum(int(n["process"]["cpu"]["total_in_millis"]) for n in stats.values())


def indexing(
    client: Elasticsearch, url: str, items: list[StoredItem], args: argparse.Namespace
) -> dict[str, object]:
    """Alternate baseline and Veille rounds on the same items; optionally sweep batch sizes."""
    # Warm up the JVM on both paths before timing anything (shorter warm-ups left the
    # first timed round visibly slower).
    baseline_index(client, "bench-warmup", items[:30_000])
    veille_index(url, "bench-warmup-veille", items[:30_000])
    client.indices.delete(index="bench-warmup", ignore_unavailable=True)
    ElasticBackend(ElasticsearchSettings(url=url, index="bench-warmup-veille")).drop()
    out: dict[str, object] = {"batch_size": elastic.BATCH_SIZE, "threads": elastic.BUILD_THREADS}
    if args.batch_sweep:
        sweep = {}
        chosen = (elastic.BUILD_THREADS, elastic.BATCH_SIZE)
        subset = items[: min(len(items), 30_000)]
        for threads in (1, 2, 3, 4):
            for size in (250, 500, 1000, 2000):
                elastic.BUILD_THREADS, elastic.BATCH_SIZE = threads, size
                ElasticBackend(ElasticsearchSettings(url=url, index="bench-sweep")).drop()
                quiesce(client)
                rate = round(veille_index(url, "bench-sweep", subset))
                sweep[f"{threads} threads, batch {size}"] = rate
                console.print(f"  {threads} threads, batch {size:>4}: {rate:,} docs/s")
        elastic.BUILD_THREADS, elastic.BATCH_SIZE = chosen
        ElasticBackend(ElasticsearchSettings(url=url, index="bench-sweep")).drop()
        out["sweep_docs_per_s"] = sweep
    runs: dict[str, list[float]] = {"baseline": [], "veille": []}
    cpu: dict[str, list[float]] = {"baseline": [], "veille": []}
    for r in range(args.rounds):
        for name in ("baseline", "veille"):
            # Neither contender pays for the other's leftover merges.
            client.indices.delete(index="bench-baseline", ignore_unavailable=True)
            quiesce(client)
            before = es_cpu_ms(client)
            if name == "baseline":
                rate = baseline_index(client, "bench-baseline", items)
            else:
                rate = veille_index(url, "bench-veille", items)
            cpu[name].append((es_cpu_ms(client) - before) / (len(items) / 1000))
            runs[name].append(rate)
            console.print(
                f"  round {r + 1}: {name:8} {rate:7,.0f} docs/s "
                f"(Elasticsearch CPU {cpu[name][-1]:.0f} ms per 1,000 docs)"
            )
    client.indices.delete(index="bench-baseline", ignore_unavailable=True)
    paired = [v / b for b, v in zip(runs["baseline"], runs["veille"], strict=True)]
    out.update(
        baseline_docs_per_s=round(max(runs["baseline"])),
        veille_docs_per_s=round(max(runs["veille"])),
        speedup_best=round(max(runs["veille"]) / max(runs["baseline"]), 2),
        speedup_paired_median=round(statistics.median(paired), 2),
        baseline_runs=[round(x) for x in runs["baseline"]],
        veille_runs=[round(x) for x in runs["veille"]],
        es_cpu_ms_per_kdoc={k: round(statistics.median(v)) for k, v in cpu.items()},
    )
    return out


def report(results: dict, args: argparse.Namespace) -> None:
    """Print the figures as tables, beside their baselines and goals."""
    out = Console()
    index = results.get("indexing")
    if index:
        table = Table(title=f"Bulk indexing, {results['items']:,} items (best of {args.rounds})")
        for col in ("Contender", "docs/s", "vs baseline"):
            table.add_column(col, justify="left" if col == "Contender" else "right")
        table.add_row(
            "helpers.bulk, single thread (baseline)", f"{index['baseline_docs_per_s']:,}", "1.00×"
        )
        table.add_row(
            f"Veille build ({index['threads']} threads, batch {index['batch_size']})",
            f"{index['veille_docs_per_s']:,}",
            f"{index['speedup_best']:.2f}× (goal ≥ 1.5×; median of paired rounds "
            f"{index['speedup_paired_median']:.2f}×)",
        )
        out.print(table)
    search = results.get("search")
    if search:
        table = Table(
            title=f"Search latency, {args.queries:,} typical queries with filters and facets"
        )
        for col in ("Backend", "p50 ms", "p95 ms", "p99 ms", "mean ms"):
            table.add_column(col, justify="left" if col == "Backend" else "right")
        for lat in search.values():
            table.add_row(
                lat["backend"], f"{lat['p50']}", f"{lat['p95']}", f"{lat['p99']}", f"{lat['mean']}"
            )
        out.print(table)
        p99 = search["elasticsearch"]["p99"]
        out.print(f"Elasticsearch p99 goal < 50 ms: {'met' if p99 < 50 else 'NOT met'}.")


# -- main -------------------------------------------------------------------------


def main() -> None:
    """Run the benchmark and print its figures beside the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path, help="where the generated store is cached")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="indexing rounds per contender")
    parser.add_argument("--es-url", help="an existing cluster (default: start a test node)")
    parser.add_argument(
        "--batch-sweep",
        action="store_true",
        help="also time Veille's build per thread count and batch size (30,000 items)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--skip-indexing", action="store_true", help="only measure search")
    parser.add_argument("--skip-search", action="store_true", help="only measure indexing")
    parser.add_argument(
        "--keep-index", action="store_true", help="leave the searched index on the cluster"
    )
    args = parser.parse_args()

    args.work_dir.mkdir(parents=True, exist_ok=True)
    db = args.work_dir / f"bench-index-{args.items}.db"
    if not db.exists():
        build_store(db, args.items)
    store = Store(db)
    items = list(store.iter_items(batch=5000))
    console.print(
        f"{len(items):,} items, average text {statistics.fmean(len(i.text) for i in items):,.0f} "
        "chars"
    )
    results: dict[str, object] = {"items": len(items), "date": datetime.now(UTC).isoformat()}
    with elasticsearch_node(args.es_url) as url:
        client = Elasticsearch(url, request_timeout=120)
        version = next(iter(client.nodes.info()["nodes"].values()))["version"]
        results["elasticsearch"] = version
        console.print(f"Elasticsearch {version} at {url}")

        if not args.skip_indexing:
            results["indexing"] = indexing(client, url, items, args)
        elif not ElasticBackend(ElasticsearchSettings(url=url, index="bench-veille")).indices():
            veille_index(url, "bench-veille", items)
        if not args.skip_search:
            queries = typical_queries(args.queries)
            es_backend = ElasticBackend(ElasticsearchSettings(url=url, index="bench-veille"))
            took = record_took(es_backend)
            latencies = measure(
                {"elasticsearch": es_backend, "sqlite": SqliteBackend(store)}, queries
            )
            results["search"] = {name: asdict(lat) for name, lat in latencies.items()}
            # Time spent inside Elasticsearch, without the network, client and queueing.
            results["search"]["elasticsearch_server"] = asdict(
                _latency("elasticsearch (server `took`)", took[-len(queries) :])
            )
        if not args.keep_index:
            ElasticBackend(ElasticsearchSettings(url=url, index="bench-veille")).drop()
    store.close()
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
