"""Alert-evaluation benchmark: 1,000 rules against 10,000 new items, seconds per cycle.

Usage: python bench/alerts.py [--rules 1000] [--items 10000] [--es-url URL] [--seed 7]
                              [--baseline-sample 40] [--json]

A synthetic watch (generated e-commerce vocabulary, 20 sources, the default
taxonomy's tags, opportunity scores, English and French) is stored through
`Store.upsert` (near-duplicate clustering included) into a temporary store.
Rules are random saved searches: one word, two words, `a OR b` or a phrase,
some with tag, opportunity, source or language filters, all `instant`.

For each backend (SQLite FTS5 always; Elasticsearch when --es-url names a node)
it measures, through `watch.alerts.run_alerts`:
  - evaluate: every rule searched over the 10,000 new items (a dry run: nothing recorded);
  - cycle: evaluate + render the emails + queue them + move the cursors (what
    `veille run` does before SMTP; delivery is timed by the mail server, not us);
  - idle cycle: the next cycle, with nothing new (the cursors make it cheap).
Baseline, same run and same rules: a brute-force scan in Python (each rule's
terms matched with regular expressions over every new item's title and text,
filters applied), the approach without a search index, timed on a sample of
rules and scaled to all of them. Goal: a cycle under 10 s on either backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.items import Article
from watch.alerts import AlertRule, load_rules, run_alerts
from watch.config import Config, load_config
from watch.store import Store

GOAL_SECONDS = 10.0
# New items in the "typical cycle" measured after the big one.
SMALL_BATCH = 100
TAGS = [
    "seo",
    "marketplaces",
    "payments",
    "logistics",
    "regulation",
    "advertising",
    "platforms-tech",
    "consumer-trends",
    "competitor-news",
    "funding-mna",
]
TOPIC_WORDS = {
    "seo": "google ranking core update search console crawl index snippet backlink serp",
    "marketplaces": "marketplace sellers amazon zalando cdiscount listing fees onboarding",
    "payments": "payment checkout wallet klarna paypal fraud chargeback instalments card",
    "logistics": "parcel delivery carrier warehouse lockers fulfilment returns shipping",
    "regulation": "regulation gdpr directive compliance deadline consumer law fine dsa",
    "advertising": "ads campaign bidding cpc retail media format audience creative",
    "platforms-tech": "shopify magento plugin api headless release platform migration",
    "consumer-trends": "shoppers survey basket inflation loyalty mobile trend holiday",
    "competitor-news": "competitor launch price stock assortment store expansion rival",
    "funding-mna": "funding acquisition merger investors round valuation deal startup",
}
SOURCES = [f"source-{i:02d}" for i in range(20)]


def vocabulary(rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    """Topic words plus generated filler words (Zipf-ish frequencies come from sampling)."""
    topics = {t: words.split() for t, words in TOPIC_WORDS.items()}
    letters = "abcdefghiklmnoprstuvy"
    filler = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(6000)}
    return sorted(filler), topics


def make_items(n: int, rng: random.Random) -> list[Article]:
    """n varied articles of about 2 KB each."""
    filler, topics = vocabulary(rng)
    weights = [1.0 / (i + 1) for i in range(len(filler))]
    items = []
    now = datetime.now(UTC)
    for i in range(n):
        tags = rng.sample(TAGS, rng.choice([1, 1, 2, 3]))
        topical = [w for t in tags for w in topics[t]]

        def words(k: int, topical: list[str] = topical) -> list[str]:
            out = rng.choices(filler, weights=weights, k=k)
            for j in range(0, k, 6):
                out[j] = rng.choice(topical)
            return out

        title = " ".join(words(rng.randint(6, 10))).capitalize()
        text = ". ".join(" ".join(words(rng.randint(10, 20))) for _ in range(18))
        items.append(
            Article(
                url=f"https://bench.example/{i}",
                source=rng.choice(SOURCES),
                category=rng.choice(["market", "seo", "competitor", "tech"]),
                title=title,
                text=text,
                summary=text[:240],
                published=now,
                language="fr" if rng.random() < 0.2 else "en",
                tags=tags,
                opportunity=round(rng.random(), 3),
                content_hash=f"h{i}",
            )
        )
    return items


def make_rules(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """n random instant rules over the same vocabulary."""
    _, topics = vocabulary(random.Random(rng.random()))
    all_topic = sorted({w for ws in topics.values() for w in ws})
    rules = []
    for i in range(n):
        a, b = rng.sample(all_topic, 2)
        kind = rng.random()
        if kind < 0.5:
            query = a
        elif kind < 0.7:
            query = f"{a} {b}"
        elif kind < 0.9:
            query = f"{a} OR {b}"
        else:
            query = f'"{a} {b}"'
        rule: dict[str, Any] = {"name": f"rule-{i:04d}", "query": query}
        if rng.random() < 0.3:
            rule["tags"] = [rng.choice(TAGS)]
        if rng.random() < 0.2:
            rule["min_opportunity"] = round(rng.uniform(0.3, 0.9), 2)
        if rng.random() < 0.1:
            rule["sources"] = rng.sample(SOURCES, 2)
        if rng.random() < 0.1:
            rule["language"] = ["fr"]
        rule["recipients"] = [f"team{i % 25}@shop.test"]
        rules.append(rule)
    return rules


def write_watch(root: Path, rules: list[dict[str, Any]], es_url: str | None) -> Path:
    """veille.yaml + alerts.yaml for the benchmark watch."""
    search = ""
    if es_url:
        search = (
            "search:\n  backend: elasticsearch\n  elasticsearch:\n"
            f"    url: {es_url}\n    index: veille-bench-alerts\n    replicas: 0\n"
        )
    (root / "veille.yaml").write_text(f"data_dir: data\n{search}")
    (root / "alerts.yaml").write_text(json.dumps({"alerts": rules}))
    return root / "veille.yaml"


@dataclass
class Figures:
    """One backend's timings."""

    backend: str
    evaluate: float
    cycle: float
    # CPU seconds of the cycle: Veille's process (all threads), and the Elasticsearch node's.
    cycle_cpu: float
    engine_cpu: float | None
    idle: float
    small_cycle: float
    matched_rules: int
    queued: int
    small_matched_rules: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


def measure(config_path: Path, label: str, more: list[Article]) -> Figures:
    """Time a dry run, a real cycle, an idle cycle, then a cycle after `more` items arrive."""
    from watch import indexer

    config = load_config(config_path)
    with Store(config.db_path) as store:
        # No backend passed: run_alerts opens one per search thread, as `veille run` does.
        started = time.perf_counter()
        dry = run_alerts(config, store=store, dry_run=True)
        evaluate = time.perf_counter() - started
        started, cpu, engine = time.perf_counter(), time.process_time(), engine_cpu(config)
        real = run_alerts(config, store=store, deliver=False)
        cycle = time.perf_counter() - started
        cycle_cpu = time.process_time() - cpu
        engine_used = engine_cpu(config) - engine if engine is not None else None
        started = time.perf_counter()
        run_alerts(config, store=store, deliver=False)
        idle = time.perf_counter() - started
        queued = int(store.conn.execute("SELECT count(*) FROM mail_outbox").fetchone()[0])
        # A typical crawl's worth of new items (indexed first, as after a crawl).
        ids = [store.upsert(article).item_id for article in more]
        indexer.enqueue_changed(config, store, ids)
        if indexer.uses_outbox(config):
            indexer.sync(config, store)
        started = time.perf_counter()
        small = run_alerts(config, store=store, deliver=False)
        small_cycle = time.perf_counter() - started
    errors = [r for r in real.rules if r.error]
    if errors:
        raise SystemExit(f"{label}: rule errors, e.g. {errors[0].rule}: {errors[0].error}")
    assert [r.total for r in dry.rules] == [r.total for r in real.rules]
    return Figures(
        label,
        evaluate,
        cycle,
        cycle_cpu,
        engine_used,
        idle,
        small_cycle,
        sum(1 for r in real.rules if r.items),
        queued,
        sum(1 for r in small.rules if r.items),
    )


def engine_cpu(config: Config) -> float | None:
    """CPU seconds the Elasticsearch node(s) have used so far (None on SQLite)."""
    if config.settings.search.backend != "elasticsearch":
        return None
    from watch.search.elastic import connect

    stats = connect(config.settings.search.elasticsearch).nodes.stats(metric="process")
    return sum(n["process"]["cpu"]["total_in_millis"] for n in stats["nodes"].values()) / 1000


def brute_force(items: list[Article], rules: list[AlertRule]) -> float:
    """Seconds to evaluate `rules` by scanning every item with regular expressions."""
    texts = [f"{a.title}\n{a.text}".lower() for a in items]
    started = time.perf_counter()
    for rule in rules:
        q = rule.query
        if q.startswith('"'):
            alternatives = [[re.compile(r"\b" + re.escape(q.strip('"')) + r"\b")]]
        elif " OR " in q:
            alternatives = [[re.compile(rf"\b{re.escape(w)}\b")] for w in q.split(" OR ")]
        else:
            alternatives = [[re.compile(rf"\b{re.escape(w)}\b") for w in q.split()]]
        hits = 0
        for article, text in zip(items, texts, strict=True):
            if rule.tags and not set(rule.tags) <= set(article.tags):
                continue
            if (
                rule.min_opportunity is not None
                and (article.opportunity or 0) < rule.min_opportunity
            ):
                continue
            if rule.sources and article.source not in rule.sources:
                continue
            if rule.language and article.language not in rule.language:
                continue
            if any(all(p.search(text) for p in group) for group in alternatives):
                hits += 1
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--es-url", default=None, help="an Elasticsearch node to measure too")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-sample", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # Wide enough for the figures table even when the output is piped to a file.
    console = Console(stderr=args.json, width=max(150, shutil.get_terminal_size().columns))
    rng = random.Random(args.seed)
    items = make_items(args.items + SMALL_BATCH, rng)
    items, extra = items[: args.items], items[args.items :]
    rule_dicts = make_rules(args.rules, rng)
    work = Path(tempfile.mkdtemp(prefix="veille-bench-alerts-"))
    results: list[Figures] = []
    try:
        sqlite_root = work / "sqlite"
        sqlite_root.mkdir()
        config = load_config(write_watch(sqlite_root, rule_dicts, None))
        rules = load_rules(config).rules
        with Store(config.db_path) as store, Progress(console=console) as progress:
            task = progress.add_task(f"storing {len(items)} items", total=len(items))
            for article in items:
                store.upsert(article)
                progress.advance(task)
        # A pristine copy, so the Elasticsearch run starts from the same store.
        seed = work / "seed.db"
        with Store(config.db_path) as store:
            store.conn.execute(f"VACUUM INTO '{seed}'")
        results.append(measure(config.path, "sqlite", extra))
        if args.es_url:
            es_root = work / "es"
            es_root.mkdir()
            es_config = load_config(write_watch(es_root, rule_dicts, args.es_url))
            es_config.data_dir.mkdir(parents=True)
            shutil.copy(seed, es_config.db_path)
            with Store(es_config.db_path) as store:
                from watch.search.elastic import ElasticBackend

                backend = ElasticBackend(es_config.settings.search.elasticsearch)
                backend.drop()
                console.print(f"indexing {store.count()} items into {args.es_url} ...")
                backend.build(store.iter_items(), total=store.count())
            results.append(measure(es_config.path, "elasticsearch", extra))
            ElasticBackend(es_config.settings.search.elasticsearch).drop()
        sample = rules[: args.baseline_sample]
        baseline = brute_force(items, sample) * len(rules) / max(1, len(sample))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f} at the end"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "rules": len(rules),
                    "items": len(items),
                    "backends": [r.to_dict() for r in results],
                    "baseline_bruteforce_seconds": baseline,
                    "baseline_sample": len(sample),
                    "goal_seconds": GOAL_SECONDS,
                    "elasticsearch": bool(args.es_url),
                    "machine": machine,
                    "load_average": load,
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"{len(rules)} rules against {len(items)} new items ({machine})")
    for column in ("Backend", "Evaluate (s)", "Cycle (s)", "Cycle CPU (s)", "Rules firing",
                   "Mails queued", f"Goal < {GOAL_SECONDS:.0f} s", "Idle cycle (s)",
                   f"Cycle, +{SMALL_BATCH} items (s)"):  # fmt: skip
        table.add_column(column)
    for r in results:
        cpu = f"{r.cycle_cpu:.2f}"
        if r.engine_cpu is not None:
            cpu += f" + node {r.engine_cpu:.2f}"
        table.add_row(
            r.backend,
            f"{r.evaluate:.2f}",
            f"{r.cycle:.2f}",
            cpu,
            str(r.matched_rules),
            str(r.queued),
            "yes" if r.cycle < GOAL_SECONDS else "NO",
            f"{r.idle:.2f}",
            f"{r.small_cycle:.2f} ({r.small_matched_rules} rules fire)",
        )
    table.add_row(
        "baseline: brute-force regex scan",
        f"{baseline:.2f}",
        f"(scaled from {len(sample)} rules)",
        "",
        "",
        "",
        "",
        "",
        "",
    )
    console.print(table)
    if not args.es_url:
        console.print("Elasticsearch not measured: pass --es-url URL to include it.")


if __name__ == "__main__":
    main()
