"""Near-duplicate signature benchmark: numpy MinHash beside datasketch, same texts, same run.

Usage: python bench/dedupe.py DATA [--limit N] [--rounds N] [--pairs N] [--save FILE] [--json]

DATA is a directory of `.html` files (searched recursively; the crawl benchmark's site,
`bench/crawlsite.py generate`, is one) or a JSONL file of objects with a `text` key and
optionally `title` (what `veille extract` prints). Pages are turned into text with plain
`trafilatura.extract` (JSON output with metadata, for the title); `--save FILE` writes
those texts as JSONL so later runs can skip that step.

Speed: CPU milliseconds per article (time.process_time, best of `--rounds` passes over
all texts, after a warm-up) of `watch.dedupe.signature` on the title and text, beside
the signature Veille used before (datasketch `MinHash(num_perm=64, seed=7)` over the
set of word 3-shingles, SHA-1 per shingle), on the same strings.

Quality: `--pairs` texts get a seeded rewritten copy (a share of their words, drawn
uniformly from 0 to 50 %, replaced by corpus words, dropped, or followed by an inserted
word). For each pair the exact Jaccard similarity of the word 3-shingle sets is
compared with both estimates: mean absolute error, 95th percentile, bias. Then the
clustering decision the store makes (a shared band key and an estimate at or above
dedupe.THRESHOLD): how many near copies (exact Jaccard >= 0.75) are caught, how many
pairs clearly below the threshold (< 0.45) and how many pairs of different articles
are wrongly clustered. With an HTML directory from bench/crawlsite.py, its own
syndicated copies (`...-partner-N.html`) are checked against their originals too.

datasketch is a dev extra (`pip install -e '.[dev]'`); without it, only Veille's
figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from watch import dedupe

WORD = re.compile(r"\w+")
NEAR, FAR = 0.75, 0.45
console = Console(stderr=True)

Signer = Callable[[str], "np.ndarray | None"]


def datasketch_signature(text: str) -> np.ndarray | None:
    """Veille's signature before the numpy one (watch/dedupe.py up to e03c968), verbatim."""
    from datasketch import MinHash

    words = WORD.findall(text.lower())
    if len(words) < dedupe.MIN_TOKENS:
        return None
    shingles = {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}
    mh = MinHash(num_perm=dedupe.NUM_PERM, seed=7)
    mh.update_batch(list(shingles))
    return mh.hashvalues.astype(np.uint64)


def load_texts(data: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """(names, signed texts) from a JSONL file or a directory of HTML pages."""
    if data.is_file():
        names, texts = [], []
        with data.open(encoding="utf-8") as lines:
            for n, line in enumerate(lines):
                if limit is not None and len(texts) >= limit:
                    break
                record = json.loads(line)
                text = dedupe.signed_text(record.get("title") or "", record.get("text") or "")
                names.append(str(record.get("input") or record.get("url") or n))
                texts.append(text)
        return names, texts
    import trafilatura

    paths = sorted(data.rglob("*.html"))[:limit]
    names, texts = [], []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("extracting texts (trafilatura)", total=len(paths))
        for path in paths:
            raw = trafilatura.extract(path.read_bytes(), output_format="json", with_metadata=True)
            progress.advance(task)
            if raw:
                doc = json.loads(raw)
                names.append(str(path))
                texts.append(dedupe.signed_text(doc.get("title") or "", doc.get("text") or ""))
    return names, texts


def cpu_ms_per_text(sign: Signer, texts: list[str], rounds: int) -> float:
    """Best-of-rounds CPU milliseconds per text."""
    for text in texts[:50]:  # warm-up: imports, caches
        sign(text)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for text in texts:
            sign(text)
        best = min(best, time.process_time() - start)
    return best / len(texts) * 1000


def shingle_set(text: str) -> set[tuple[str, ...]]:
    """The exact word 3-shingles both signatures estimate."""
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of two texts' shingle sets."""
    sa, sb = shingle_set(a), shingle_set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def rewrite(text: str, rate: float, vocabulary: list[str], rng: random.Random) -> str:
    """A copy with about `rate` of its words replaced, dropped or followed by a new word."""
    out = []
    for word in text.split():
        roll = rng.random()
        if roll < rate / 2:
            out.append(rng.choice(vocabulary))
        elif roll < rate * 3 / 4:
            continue
        elif roll < rate:
            out.extend([word, rng.choice(vocabulary)])
        else:
            out.append(word)
    return " ".join(out)


def clustered(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """The store's decision: a shared band key and an estimate at or above the threshold."""
    if a is None or b is None:
        return False
    shared = set(dedupe.band_keys(a)) & set(dedupe.band_keys(b))
    return bool(shared) and dedupe.similarity(a, b) >= dedupe.THRESHOLD


def make_pairs(
    texts: list[str], count: int, seed: int
) -> tuple[list[tuple[str, str, float]], list[tuple[str, str]]]:
    """(original, rewritten copy, exact Jaccard) triples, and pairs of different texts."""
    rng = random.Random(seed)
    usable = [t for t in texts if len(WORD.findall(t)) >= dedupe.MIN_TOKENS]
    vocabulary = sorted({w for t in usable[:500] for w in t.split()})
    chosen = rng.sample(usable, min(count, len(usable)))
    rewritten = []
    for text in chosen:
        copy = rewrite(text, rng.uniform(0.0, 0.5), vocabulary, rng)
        rewritten.append((text, copy, jaccard(text, copy)))
    unrelated = []
    for _ in range(len(chosen)):
        a, b = rng.sample(usable, 2)
        if a != b:
            unrelated.append((a, b))
    return rewritten, unrelated


def syndicated_pairs(names: list[str], texts: list[str]) -> list[tuple[str, str]]:
    """bench/crawlsite.py's syndicated copies (`<slug>-partner-<n>.html`) with their originals."""
    by_stem = {Path(n).stem: t for n, t in zip(names, texts, strict=True)}
    pairs = []
    for stem, text in by_stem.items():
        if "-partner-" in stem:
            original = by_stem.get(stem.rsplit("-partner-", 1)[0])
            if original is not None:
                pairs.append((original, text))
    return pairs


def quality(
    sign: Signer,
    rewritten: list[tuple[str, str, float]],
    unrelated: list[tuple[str, str]],
    syndicated: list[tuple[str, str]],
) -> dict[str, float | int]:
    """Estimate errors against exact Jaccard, and clustering decisions, for one signer."""
    errors, near, near_hit, far, far_hit = [], 0, 0, 0, 0
    for original, copy, exact in rewritten:
        a, b = sign(original), sign(copy)
        if a is None or b is None:
            continue
        errors.append(dedupe.similarity(a, b) - exact)
        if exact >= NEAR:
            near += 1
            near_hit += clustered(a, b)
        elif exact < FAR:
            far += 1
            far_hit += clustered(a, b)
    unrelated_hit = sum(clustered(sign(a), sign(b)) for a, b in unrelated)
    syndicated_hit = sum(clustered(sign(a), sign(b)) for a, b in syndicated)
    err = np.array(errors)
    return {
        "pairs": len(errors),
        "mae": float(np.abs(err).mean()),
        "p95_abs_error": float(np.percentile(np.abs(err), 95)),
        "bias": float(err.mean()),
        "near_copies": near,
        "near_copies_clustered": near_hit,
        "far_pairs": far,
        "far_pairs_clustered": far_hit,
        "unrelated_pairs": len(unrelated),
        "unrelated_clustered": unrelated_hit,
        "syndicated_pairs": len(syndicated),
        "syndicated_clustered": syndicated_hit,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a directory of .html files, or a JSONL of texts")
    parser.add_argument("--limit", type=int, default=None, help="use at most N texts")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes (best is kept)")
    parser.add_argument("--pairs", type=int, default=1000, help="rewritten pairs for quality")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--save", type=Path, help="write the texts as JSONL for later runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} does not exist: give a directory of .html files or a JSONL")

    names, texts = load_texts(args.data, args.limit)
    if not texts:
        parser.error(f"{args.data}: no texts found (.html files, or JSONL lines with 'text')")
    if args.save:
        with args.save.open("w", encoding="utf-8") as out:
            for name, text in zip(names, texts, strict=True):
                title, _, body = text.partition("\n")
                out.write(json.dumps({"input": name, "title": title, "text": body}) + "\n")

    signers: dict[str, Signer] = {"Veille, numpy MinHash": dedupe.signature}
    try:
        import datasketch  # noqa: F401

        signers["before: datasketch MinHash"] = datasketch_signature
    except ImportError:
        console.print(
            "[yellow]datasketch is not installed: no baseline in this run "
            "(install the dev extra: pip install -e '.[dev]')[/yellow]"
        )

    rewritten, unrelated = make_pairs(texts, args.pairs, args.seed)
    syndicated = syndicated_pairs(names, texts)
    results: dict[str, dict[str, float | int]] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("signing", total=len(signers) * 2)
        for label, sign in signers.items():
            results[label] = {"ms_per_article": cpu_ms_per_text(sign, texts, args.rounds)}
            progress.advance(task)
            results[label].update(quality(sign, rewritten, unrelated, syndicated))
            progress.advance(task)

    report = {
        "texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "results": results,
    }
    if len(results) == 2:
        new, old = results.values()
        report["speed_up"] = old["ms_per_article"] / new["ms_per_article"]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    """The figures as a readable table."""
    out = Console() if sys.stdout.isatty() else Console(width=132)
    out.print(
        f"{report['texts']} texts, {report['mean_chars']:.0f} characters on average; "
        f"CPU time, best of {report['rounds']}; load average "
        f"{', '.join(f'{x:.1f}' for x in report['load_average'])}"
    )
    table = Table()
    table.add_column("signature")
    for column in ("ms/article", "MAE vs exact J", "p95 |error|", "bias", "near copies",
                   "far pairs", "unrelated", "site copies"):  # fmt: skip
        table.add_column(column, justify="right")
    for label, r in report["results"].items():
        table.add_row(
            label,
            f"{r['ms_per_article']:.3f}",
            f"{r['mae']:.4f}",
            f"{r['p95_abs_error']:.3f}",
            f"{r['bias']:+.4f}",
            f"{r['near_copies_clustered']}/{r['near_copies']}",
            f"{r['far_pairs_clustered']}/{r['far_pairs']}",
            f"{r['unrelated_clustered']}/{r['unrelated_pairs']}",
            f"{r['syndicated_clustered']}/{r['syndicated_pairs']}",
        )
    out.print(table)
    out.print(
        f"near copies: exact Jaccard >= {NEAR}, clustered when caught; far pairs: exact "
        f"Jaccard < {FAR} and unrelated pairs: clustered by mistake; site copies: "
        f"crawlsite's syndicated pages clustered with their original."
    )
    if "speed_up" in report:
        out.print(f"speed-up: {report['speed_up']:.1f}x less CPU per article")


if __name__ == "__main__":
    sys.exit(main())
