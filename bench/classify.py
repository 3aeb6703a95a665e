"""Classifier benchmark: Veille's pipeline beside the TF-IDF + LinearSVC baseline, same folds.

Usage: python bench/classify.py [--data FILE] [--text-fields F,F] [--label-field F]
                                [--folds 5] [--items 4000] [--speed-only] [--json]

Data: CSV, TSV or JSONL; the label field holds one value (single-label) or a
JSON list / ``a|b`` values (multi-label). Large files (tens of thousands of
rows) are fine: a progress bar counts (fold, pipeline) steps with elapsed time.

Quality: K-fold cross-validation (default 5) of both pipelines on the SAME
stratified folds in the same run (default data: the bundled seed set). The
baseline is ``TfidfVectorizer(ngram_range=(1, 2))`` + ``LinearSVC()`` with
default settings, one-vs-rest for multi-label data (a label is predicted when
its margin is positive). Reported: macro-F1 and micro-F1 of the pooled
out-of-fold predictions, and training time (sum of fit() over folds; CPU time
of this process, which a busy machine disturbs less than wall time, and wall
time). Goals: macro-F1 >= baseline + 0.01, training time <= 2x baseline.

Speed: tagging throughput for ~2 KB items on one core (the process is pinned
when the OS allows): Veille's ``Tagger.tag_many`` (vectorise, predict labels
and opportunity, apply the taxonomy rules), with a model trained on the whole
data set and the default taxonomy, beside the baseline pipeline's predict on
the same texts. Items are made by joining the data set's texts up to 2 KB.
Goal: >= 2,000 items/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from rich.console import Console
from rich.progress import Progress, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.baseline import Baseline
from classifiers.dataset import Dataset, load_dataset, parse_fields, seed_dataset
from classifiers.evaluation import compare, cross_validate
from classifiers.taxonomy import default_taxonomy
from classifiers.training import TextClassifier, train_model
from crawler.items import Article
from watch.tagging import Tagger

F1_MARGIN = 0.01
TIME_RATIO = 2.0
SPEED_GOAL = 2000.0
ITEM_BYTES = 2048


class BaselineAtLeastOne(Baseline):
    """The baseline with Veille's multi-label rule (best label when none is positive).

    Not a goal line: it shows how much of the gain is the decision rule alone.
    """

    name = "baseline+at-least-one"

    def predict_labels(self, texts: list[str]) -> list[list[str]]:
        """Predicted label lists, never empty."""
        if not self.multilabel:
            return super().predict_labels(texts)
        scores = self.svm.decision_function(self.vectorizer.transform(texts))
        chosen = scores > 0
        empty = ~chosen.any(axis=1)
        chosen[empty, scores[empty].argmax(axis=1)] = True
        return [list(row) for row in self.binarizer.inverse_transform(chosen.astype(int))]


def pin_one_core() -> str:
    """Run on one core when the OS allows; say which."""
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def make_items(dataset: Dataset, count: int, seed: int = 0) -> list[str]:
    """`count` texts of about 2 KB, each joined from random texts of the data set."""
    rng = random.Random(seed)
    texts = [t for t in dataset.texts if t.strip()]
    items = []
    for _ in range(count):
        parts: list[str] = []
        size = 0
        while size < ITEM_BYTES:
            text = rng.choice(texts)
            parts.append(text)
            size += len(text.encode()) + 1
        items.append(" ".join(parts).encode()[:ITEM_BYTES].decode("utf-8", "ignore"))
    return items


def throughput(dataset: Dataset, n_items: int) -> dict[str, Any]:
    """Items per second for Veille's tagger and for the baseline's predict, same items."""
    items = make_items(dataset, n_items)
    model = train_model(dataset)
    # The items are all body: make the model read all of it, not a summary-sized lead.
    model.info["text_fields"] = ["title", "summary", "text"]
    tagger = Tagger(taxonomy=default_taxonomy(), model=model)
    baseline = Baseline().fit(dataset.texts, dataset.targets)
    articles = [
        Article(url=f"https://news.example/{i}", source="bench", title="", summary="", text=t)
        for i, t in enumerate(items)
    ]
    # Warm up both (first-call caches, lazy imports) on other items.
    warm = make_items(dataset, 200, seed=1)
    tagger.tag_many(
        [Article(url="https://w.example/", source="w", text=t) for t in warm], batch=100
    )
    baseline.predict_labels(warm)
    out: dict[str, Any] = {"items": n_items, "item_bytes": ITEM_BYTES}
    starts = range(0, len(items), 500)
    for name, run in (
        ("veille", lambda: tagger.tag_many(articles, batch=500)),
        (
            "baseline",
            lambda: [baseline.predict_labels(items[i : i + 500]) for i in starts],
        ),
        ("veille_single", lambda: [tagger.tag(a) for a in articles[:1000]]),
    ):
        n = 1000 if name == "veille_single" else n_items
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out[name] = {"items_per_s_cpu": n / cpu, "items_per_s_wall": n / wall}
    tagged = sum(1 for a in articles if a.tags)
    out["veille"]["tagged_items"] = tagged
    return out


def main() -> int:
    """Run the benchmark and print its figures beside the baseline's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="CSV/TSV/JSONL file (default: the seed set)")
    parser.add_argument("--text-fields", help="comma-separated text fields")
    parser.add_argument("--label-field", help="the label field")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--items", type=int, default=4000, help="items for the speed test")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--speed-only", action="store_true", help="only measure tagging throughput (no CV)"
    )
    parser.add_argument(
        "--with-rule",
        action="store_true",
        help="also run the baseline with the at-least-one rule (multi-label data)",
    )
    args = parser.parse_args()
    console = Console(stderr=args.json)
    pinned = pin_one_core()
    if args.data:
        with console.status(f"reading {args.data}"):
            dataset = load_dataset(args.data, parse_fields(args.text_fields), args.label_field)
    else:
        dataset = seed_dataset()
    if args.speed_only:
        with console.status("measuring tagging throughput (training on all the data first)"):
            speed = throughput(dataset, args.items)
        _print_speed(console, speed, as_json=args.json, source=dataset.source)
        return 0
    pipelines: dict[str, Any] = {"baseline": Baseline, "veille": TextClassifier}
    if args.with_rule and dataset.multilabel:
        pipelines["baseline+at-least-one"] = BaselineAtLeastOne
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(
            f"{args.folds}-fold cross-validation, {len(pipelines)} pipelines",
            total=args.folds * len(pipelines),
        )
        reports = cross_validate(
            dataset,
            args.folds,
            pipelines,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )
    with console.status("measuring tagging throughput (training on all the data first)"):
        speed = throughput(dataset, args.items)
    base, ours = reports["baseline"], reports["veille"]
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "cpu": pinned,
        "load_average": os.getloadavg(),
        "sklearn": sklearn.__version__,
        "data": dataset.source,
        "task": "multilabel" if dataset.multilabel else "multiclass",
        "examples": len(dataset),
        "labels": len(dataset.label_names),
        "folds": args.folds,
        "quality": {
            name: {
                "macro_f1": r.macro_f1,
                "micro_f1": r.micro_f1,
                "fold_macro_f1": r.folds,
                "train_cpu_s": r.train_cpu_seconds,
                "train_wall_s": r.train_seconds,
            }
            for name, r in reports.items()
        },
        "speed": speed,
    }
    gains = compare(ours, base)
    f1_gain, time_ratio = gains["macro_f1_gain"], gains["train_time_ratio"]
    result["goals"] = {
        "macro_f1_gain": f1_gain,
        "macro_f1_goal_met": f1_gain >= F1_MARGIN,
        "train_time_ratio": time_ratio,
        "train_time_goal_met": time_ratio <= TIME_RATIO,
        "throughput_goal_met": speed["veille"]["items_per_s_cpu"] >= SPEED_GOAL,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _print(console, result)
    return 0


def _print_speed(
    console: Console, s: dict[str, Any], as_json: bool = False, source: str = ""
) -> None:
    """The throughput table (or JSON)."""
    if as_json:
        print(json.dumps({"data": source, "load_average": os.getloadavg(), "speed": s}, indent=2))
        return
    speed = Table("tagging ~2 KB items, one core", "items/s (CPU)", "items/s (wall)")
    speed.add_row(
        "veille Tagger.tag_many (vectorise+predict+rules)",
        f"{s['veille']['items_per_s_cpu']:.0f}",
        f"{s['veille']['items_per_s_wall']:.0f}",
    )
    speed.add_row(
        "veille Tagger.tag, one item per call",
        f"{s['veille_single']['items_per_s_cpu']:.0f}",
        f"{s['veille_single']['items_per_s_wall']:.0f}",
    )
    speed.add_row(
        "baseline predict (vectorise+predict)",
        f"{s['baseline']['items_per_s_cpu']:.0f}",
        f"{s['baseline']['items_per_s_wall']:.0f}",
    )
    console.print(speed)


def _print(console: Console, r: dict[str, Any]) -> None:
    console.print(
        f"[bold]Classifier benchmark[/] {r['date']}: {r['data']} ({r['task']}, "
        f"{r['examples']} examples, {r['labels']} labels), {r['folds']}-fold CV, same folds; "
        f"{r['machine']}, {r['cpu']}, scikit-learn {r['sklearn']}"
    )
    table = Table(
        "pipeline",
        "macro-F1",
        "micro-F1",
        "fold macro-F1 (mean ± sd)",
        "train CPU s",
        "train wall s",
    )
    for name, q in r["quality"].items():
        folds = np.asarray(q["fold_macro_f1"])
        table.add_row(
            name,
            f"{q['macro_f1']:.4f}",
            f"{q['micro_f1']:.4f}",
            f"{folds.mean():.4f} ± {folds.std():.4f}",
            f"{q['train_cpu_s']:.2f}",
            f"{q['train_wall_s']:.2f}",
        )
    console.print(table)
    _print_speed(console, r["speed"])
    g = r["goals"]
    console.print(
        f"macro-F1 gain {g['macro_f1_gain']:+.4f} (goal >= +{F1_MARGIN}): "
        f"{'met' if g['macro_f1_goal_met'] else 'NOT met'}; "
        f"training time {g['train_time_ratio']:.2f}x baseline (goal <= {TIME_RATIO}x): "
        f"{'met' if g['train_time_goal_met'] else 'NOT met'}; "
        f"throughput goal >= {SPEED_GOAL:.0f} items/s: "
        f"{'met' if g['throughput_goal_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    sys.exit(main())
