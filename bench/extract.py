"""Article-extraction benchmark: Veille's extractor beside plain trafilatura, same pages, same run.

Usage: python bench/extract.py DATA_DIR [--json] [--half a|b] [--rounds N] [--details FILE]
       python bench/extract.py --stages DIR [--limit N] [--rounds N] [--json]

DATA_DIR holds `ground-truth.json` (key -> {"url", "articleBody"}) and
`html/<key>.html.gz`, as in ../shared/benchmarks/article-extraction/. The metric
(from that set's README): tokens are `\\w+` matches, each page's 4-token shingles
are compared with multiplicity, TP/FP/FN are normalised per page, precision and
recall are averaged over pages and F1 is their harmonic mean.

Both extractors get the same decompressed bytes and no URL, as `veille extract FILE`
does. Veille runs through `watch.extract.extract`, the code path of `veille extract`;
the baseline is `trafilatura.extract(html)` with default options. Calls alternate
page by page on one core (the process is pinned when the OS allows), after an
untimed warm-up pass. Wall-clock and CPU-time rates are both reported: on a busy
machine the CPU-time ratio is the steadier one.

With `--stages`, DIR is any directory of `.html` or `.html.gz` files (searched
recursively, no ground truth needed): the script prints the CPU milliseconds per page
each stage of Veille's extraction takes (parse, metadata, trafilatura, recovery,
cleaning, text, language, date search), beside plain `trafilatura.extract` on the
same pages, so one can see where the time goes on a given kind of page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import trafilatura
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from watch.extract import extract
from watch.urls import find_rel_canonical

TOKEN = re.compile(r"\w+")
SHINGLE = 4
F1_GOAL = 0.965
SPEED_GOAL = 0.8


@dataclass
class Score:
    """Quality and speed of one extractor over the pages."""

    f1: float
    precision: float
    recall: float
    pages: int
    seconds: float
    cpu_seconds: float

    @property
    def pages_per_second(self) -> float:
        """Pages extracted per second of wall-clock extraction time."""
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def cpu_pages_per_second(self) -> float:
        """Pages extracted per second of this process's CPU time (steadier on a busy machine)."""
        return self.pages / self.cpu_seconds if self.cpu_seconds else 0.0


def shingles(text: str) -> Counter[tuple[str, ...]]:
    """The 4-token shingles of a text (one shorter shingle for a text under 4 tokens)."""
    tokens = TOKEN.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < SHINGLE:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1))


def page_counts(truth: str, predicted: str) -> tuple[float, float, float]:
    """TP, FP and FN shingle counts of one page, divided by their sum."""
    true, pred = shingles(truth), shingles(predicted)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def page_precision_recall(truth: str, predicted: str) -> tuple[float | None, float | None]:
    """Precision and recall of one page; None where undefined, 1 and 1 when both are empty."""
    tp, fp, fn = page_counts(truth, predicted)
    if tp == fp == fn == 0:
        return 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def quality(truths: dict[str, str], predictions: dict[str, str]) -> tuple[float, float, float]:
    """F1, precision and recall over pages, as the data set's README defines them."""
    precisions, recalls = [], []
    for key, truth in truths.items():
        p, r = page_precision_recall(truth, predictions.get(key, ""))
        if p is not None:
            precisions.append(p)
        if r is not None:
            recalls.append(r)
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def load_pages(data_dir: Path, half: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Ground-truth bodies and page bytes, optionally one half of the keys (a: even, b: odd)."""
    truth_file = data_dir / "ground-truth.json"
    if not truth_file.is_file():
        raise SystemExit(
            f"{truth_file}: not found (DATA_DIR must hold ground-truth.json and html/)"
        )
    entries = json.loads(truth_file.read_text(encoding="utf-8"))
    truths, pages = {}, {}
    for index, key in enumerate(sorted(entries)):
        if half != "all" and index % 2 != (0 if half == "a" else 1):
            continue
        path = data_dir / "html" / f"{key}.html.gz"
        if not path.is_file():
            continue
        truths[key] = entries[key].get("articleBody") or ""
        pages[key] = gzip.decompress(path.read_bytes())
    if not pages:
        raise SystemExit(f"{data_dir}: no pages found under html/")
    return truths, pages


def veille(html: bytes) -> str:
    """Veille's body text, through the code path of `veille extract`."""
    return extract(html).text


def trafilatura_default(html: bytes) -> str:
    """Plain trafilatura with default options."""
    return trafilatura.extract(html) or ""


def run(
    extractors: dict[str, Callable[[bytes], str]],
    truths: dict[str, str],
    pages: dict[str, bytes],
    rounds: int,
    console: Console,
) -> tuple[dict[str, Score], dict[str, dict[str, str]]]:
    """Time every extractor page by page, alternating, and score its first-round output."""
    keys = list(pages)
    # Warm-up, untimed: one pass over every page loads what each extractor loads lazily
    # (language model, charset detector), as a crawler's long-lived workers have done.
    for fn in extractors.values():
        for key in keys:
            fn(pages[key])
    seconds = dict.fromkeys(extractors, 0.0)
    cpu_seconds = dict.fromkeys(extractors, 0.0)
    outputs: dict[str, dict[str, str]] = {name: {} for name in extractors}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("extracting", total=len(keys) * rounds)
        for round_no in range(rounds):
            for key in keys:
                for name, fn in extractors.items():
                    start, cpu_start = time.perf_counter(), time.process_time()
                    text = fn(pages[key])
                    seconds[name] += time.perf_counter() - start
                    cpu_seconds[name] += time.process_time() - cpu_start
                    if round_no == 0:
                        outputs[name][key] = text
                progress.advance(task)
    scores = {}
    for name in extractors:
        f1, precision, recall = quality(truths, outputs[name])
        scores[name] = Score(
            f1, precision, recall, len(keys) * rounds, seconds[name], cpu_seconds[name]
        )
    return scores, outputs


class StageTimes:
    """A `watch.extract.StageClock` that sums CPU time per stage over many pages."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.pages: dict[str, int] = defaultdict(int)
        self._last = time.process_time()

    def start(self) -> None:
        """Start timing a page."""
        self._last = time.process_time()

    def lap(self, stage: str) -> None:
        """Charge the CPU time since the previous lap to `stage`."""
        now = time.process_time()
        self.seconds[stage] += now - self._last
        self.pages[stage] += 1
        self._last = now


def html_files(directory: Path, limit: int | None) -> list[Path]:
    """The .html and .html.gz files under a directory, a seeded sample of `limit` of them."""
    files = sorted(
        p for p in directory.rglob("*") if p.name.endswith((".html", ".htm", ".html.gz"))
    )
    if not files:
        raise SystemExit(f"{directory}: no .html or .html.gz files found")
    if limit and len(files) > limit:
        files = sorted(random.Random(0).sample(files, limit))
    return files


def read_page(path: Path) -> bytes:
    """A page's bytes, decompressed when gzipped."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def stage_profile(pages: list[bytes], rounds: int, console: Console) -> dict:
    """CPU ms per page of each extraction stage, and of plain trafilatura, on the same pages."""
    for page in pages[:50]:  # warm-up: lazy imports and models
        extract(page)
        trafilatura.extract(page)
    clock = StageTimes()
    totals = dict.fromkeys(("veille", "trafilatura", "rel=canonical scan"), 0.0)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("profiling", total=len(pages) * rounds)
        for _ in range(rounds):
            for page in pages:
                clock.start()
                start = clock._last
                extract(page, clock=clock)
                totals["veille"] += time.process_time() - start
                start = time.process_time()
                trafilatura.extract(page)
                totals["trafilatura"] += time.process_time() - start
                progress.advance(task)
    # Apart, so that no collection of an extraction's garbage is charged to it.
    start = time.process_time()
    for _ in range(rounds):
        for page in pages:
            find_rel_canonical(page, "http://example.com/")
    totals["rel=canonical scan"] = time.process_time() - start
    count = len(pages) * rounds
    stages = {
        name: {"ms_per_page": 1000 * seconds / count, "pages": clock.pages[name] // rounds}
        for name, seconds in clock.seconds.items()
    }
    other = totals["veille"] - sum(clock.seconds.values())
    # After the last stage: the summary, and freeing the page's trees.
    stages["other"] = {"ms_per_page": 1000 * other / count, "pages": len(pages)}
    return {
        "pages": len(pages),
        "rounds": rounds,
        "stages": stages,
        "veille_ms_per_page": 1000 * totals["veille"] / count,
        "trafilatura_ms_per_page": 1000 * totals["trafilatura"] / count,
        "rel_canonical_ms_per_page": 1000 * totals["rel=canonical scan"] / count,
    }


def print_stages(report: dict, console: Console) -> None:
    """The stage profile as a table."""
    table = Table(
        title=f"Extraction stages, CPU ms per page ({report['pages']} pages x "
        f"{report['rounds']} rounds, {report['cpu']})"
    )
    table.add_column("stage")
    table.add_column("ms/page", justify="right")
    table.add_column("pages that ran it", justify="right")
    for name, row in report["stages"].items():
        table.add_row(name, f"{row['ms_per_page']:.3f}", str(row["pages"]))
    table.add_row("Veille extract(), total", f"{report['veille_ms_per_page']:.3f}", "")
    table.add_row("plain trafilatura.extract", f"{report['trafilatura_ms_per_page']:.3f}", "")
    table.add_row("find_rel_canonical (crawler)", f"{report['rel_canonical_ms_per_page']:.3f}", "")
    console.print(table)
    console.print("ms/page is averaged over all pages, including those that skip a stage.")


def pin_to_one_core() -> str:
    """Keep the benchmark on one CPU, so both extractors get the same single core."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the side-by-side figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data_dir",
        type=Path,
        help="directory with ground-truth.json and html/ (with --stages: any .html files)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--half", choices=("all", "a", "b"), default="all", help="key half")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the pages for timing")
    parser.add_argument("--details", type=Path, help="write per-page scores and texts (JSONL)")
    parser.add_argument(
        "--stages", action="store_true", help="profile the extraction stages on DATA_DIR's pages"
    )
    parser.add_argument("--limit", type=int, help="with --stages: a seeded sample of N pages")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.stages:
        pages = [read_page(path) for path in html_files(args.data_dir, args.limit)]
        pinned = pin_to_one_core()
        report = stage_profile(pages, max(1, args.rounds), console) | {"cpu": pinned}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_stages(report, Console())
        return 0

    truths, pages = load_pages(args.data_dir, args.half)
    pinned = pin_to_one_core()
    extractors = {"veille": veille, "trafilatura": trafilatura_default}
    scores, outputs = run(extractors, truths, pages, max(1, args.rounds), console)
    mine, base = scores["veille"], scores["trafilatura"]
    speed_ratio = mine.pages_per_second / base.pages_per_second if base.pages_per_second else 0.0
    cpu_ratio = (
        mine.cpu_pages_per_second / base.cpu_pages_per_second if base.cpu_pages_per_second else 0.0
    )
    report = {
        "pages": len(pages),
        "half": args.half,
        "rounds": args.rounds,
        "cpu": pinned,
        "python": platform.python_version(),
        "trafilatura_version": trafilatura.__version__,
        "veille": asdict(mine)
        | {
            "pages_per_second": mine.pages_per_second,
            "cpu_pages_per_second": mine.cpu_pages_per_second,
        },
        "trafilatura": asdict(base)
        | {
            "pages_per_second": base.pages_per_second,
            "cpu_pages_per_second": base.cpu_pages_per_second,
        },
        "speed_ratio": speed_ratio,
        "cpu_speed_ratio": cpu_ratio,
        "f1_goal": F1_GOAL,
        "speed_goal": SPEED_GOAL,
        "f1_goal_met": mine.f1 >= F1_GOAL,
        "speed_goal_met": speed_ratio >= SPEED_GOAL,
    }
    if args.details:
        with args.details.open("w", encoding="utf-8") as out:
            for key in pages:
                row = {"key": key}
                for name in extractors:
                    p, r = page_precision_recall(truths[key], outputs[name][key])
                    row[name] = {"precision": p, "recall": r, "text": outputs[name][key]}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report, Console())
    return 0


def print_table(report: dict, console: Console) -> None:
    """The figures side by side, with the ratio and the goals."""
    mine, base = report["veille"], report["trafilatura"]
    table = Table(
        title=f"Article extraction, {report['pages']} pages x {report['rounds']} rounds "
        f"({report['cpu']}, Python {report['python']}, "
        f"trafilatura {report['trafilatura_version']})"
    )
    table.add_column("")
    table.add_column("Veille", justify="right")
    table.add_column("trafilatura default", justify="right")
    table.add_column("Veille / trafilatura", justify="right")
    for label, key in (("F1", "f1"), ("precision", "precision"), ("recall", "recall")):
        table.add_row(label, f"{mine[key]:.4f}", f"{base[key]:.4f}", f"{mine[key] / base[key]:.3f}")
    table.add_row(
        "pages/s (wall clock)",
        f"{mine['pages_per_second']:.1f}",
        f"{base['pages_per_second']:.1f}",
        f"{report['speed_ratio']:.2f}x",
    )
    table.add_row(
        "pages/s (CPU time)",
        f"{mine['cpu_pages_per_second']:.1f}",
        f"{base['cpu_pages_per_second']:.1f}",
        f"{report['cpu_speed_ratio']:.2f}x",
    )
    console.print(table)
    f1_ok = "met" if report["f1_goal_met"] else "NOT met"
    speed_ok = "met" if report["speed_goal_met"] else "NOT met"
    console.print(
        f"Goal F1 >= {report['f1_goal']}: {f1_ok}.  "
        f"Goal speed >= {report['speed_goal']}x trafilatura (wall clock): {speed_ok}."
    )


if __name__ == "__main__":
    raise SystemExit(main())
