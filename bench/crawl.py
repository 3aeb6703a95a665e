"""End-to-end crawl benchmark: Veille against news-please and two ceilings.

Generates a loopback news site (bench/crawlsite.py), serves it from memory on
port 80 of a free loopback address, 127.0.0.2 first (news-please's offsite
filter drops URLs that carry a port), and measures, on the same pages:

- `veille crawl` through the site's sitemap (fetch, extract, dedupe, store),
  with news-please's per-domain concurrency (4) and no AutoThrottle or delay;
- news-please 1.6.16 with its default settings, through the same sitemap,
  installed in its own virtualenv (bench/.venv-newsplease) and run as
  `news-please -c DIR`;
- plain `trafilatura.extract` over the pages on disk with a process pool on
  every core: the extraction ceiling;
- a bare Scrapy spider that only downloads the article URLs: the fetch
  ceiling, which shows the server is not the bottleneck.

Each contender runs as a child process; its time is wall-clock from start to
exit, and its CPU seconds, peak RSS and peak PSS are summed over its process
tree (sampled every 50 ms). With --rounds, the ceilings and Veille take turns
round by round, and each round's ratio of Veille to the extraction ceiling is
reported beside the ratio of their fastest runs. `--profile` also runs Veille under py-spy and
prints where each of its processes spends its time. Everything a run writes
(logs, stores, results.json, the profile) stays in --work-dir.

    .venv/bin/python bench/crawl.py [--pages 5000] [--newsplease-pages N]
        [--skip-newsplease] [--skip-veille] [--rounds N] [--profile] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import crawlsite  # noqa: E402

NEWSPLEASE_VERSION = "1.6.16"
NEWSPLEASE_VENV = BENCH_DIR / ".venv-newsplease"
PYSPY_VENV = BENCH_DIR / ".venv-pyspy"
PYSPY_REQUIREMENT = "py-spy>=0.4,<0.5"
PER_DOMAIN = 4  # news-please's default CONCURRENT_REQUESTS_PER_DOMAIN
GOAL_VS_NEWSPLEASE = 5.0
GOAL_VS_EXTRACTION = 0.70


@dataclass
class Result:
    """One contender's figures."""

    name: str
    items: int
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    load_before: float
    note: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, items: int, run: Measured, note: str = "", **extra: object) -> Result:
        """A result from a measured run."""
        return cls(
            name=name,
            items=items,
            seconds=run.seconds,
            peak_rss_mb=run.peak_rss_mb,
            cpu_seconds=run.cpu_seconds,
            load_before=run.load_before,
            note=note,
            extra={
                "exit_code": run.exit_code,
                "cpu_by_process": {k: round(v, 1) for k, v in run.cpu_by_role.items()},
                "peak_pss_mb": round(run.peak_pss_mb),
                **extra,
            },
        )

    @property
    def items_per_s(self) -> float:
        """Throughput over the whole run, start-up included."""
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def items_per_cpu_s(self) -> float:
        """Items per CPU-second of the contender's process tree (robust to a busy machine)."""
        return self.items / self.cpu_seconds if self.cpu_seconds else 0.0


# --- measuring child processes -------------------------------------------------


class TreeSampler:
    """Samples a process tree in a thread: peak summed RSS, and CPU seconds per process."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        # Summed RSS counts pages that forked workers share with their parent once per
        # process; PSS splits them, so it is the fairer figure for a pool of forks.
        self.peak_pss = 0
        # pid -> (role, last seen user+system CPU seconds)
        self.cpu: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds summed by process role (depth in the tree and program)."""
        out: dict[str, float] = {}
        for role, cpu in self.cpu.values():
            out[role] = out.get(role, 0.0) + cpu
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def _role(self, proc: psutil.Process, depth: int) -> str:
        with suppress(psutil.Error):
            args = [a for a in proc.cmdline() if not a.startswith("-")]
            # Forked workers share their parent's command line: depth tells them apart.
            prog = " ".join(Path(a).name for a in args[:3])
            return f"{depth}: {prog[:60]}"
        return f"{depth}: ?"

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        roles: dict[int, str] = {}
        rounds = 0
        while not self._stop.is_set():
            total = 0
            pss = 0
            with_pss = rounds % 10 == 0  # reading smaps is slower: every 0.5 s
            rounds += 1
            try:
                procs = [(root, 0)]
                for child in root.children(recursive=True):
                    depth = 1
                    with suppress(psutil.Error):
                        parent = child.ppid()
                        while parent != self.pid and depth < 8:
                            parent = psutil.Process(parent).ppid()
                            depth += 1
                    procs.append((child, depth))
            except psutil.NoSuchProcess:
                return
            for proc, depth in procs:
                with suppress(psutil.NoSuchProcess):
                    total += proc.memory_info().rss
                    if with_pss:
                        with suppress(psutil.AccessDenied, AttributeError):
                            pss += proc.memory_full_info().pss
                    times = proc.cpu_times()
                    if proc.pid not in roles:
                        roles[proc.pid] = self._role(proc, depth)
                    self.cpu[proc.pid] = (roles[proc.pid], times.user + times.system)
            self.peak = max(self.peak, total)
            self.peak_pss = max(self.peak_pss, pss)
            self._stop.wait(self.interval)


@dataclass
class Measured:
    """How a child process ran."""

    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    exit_code: int
    load_before: float
    cpu_by_role: dict[str, float] = field(default_factory=dict)
    peak_pss_mb: float = 0.0


def run_measured(
    cmd: list[str], log: Path, cwd: Path | None = None, env: dict | None = None
) -> Measured:
    """Run a command to completion, timing it and sampling its memory and CPU."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env
        )
        with TreeSampler(proc.pid) as sampler:
            code = proc.wait()
        elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Descendants the child reaped (worker pools, news-please's crawler) are included.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(
        elapsed,
        sampler.peak / 2**20,
        cpu,
        code,
        load,
        sampler.cpu_by_role(),
        sampler.peak_pss / 2**20,
    )


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


# --- the site -------------------------------------------------------------------


def pick_address() -> tuple[str, int, str]:
    """Port 80 on a free loopback address (news-please needs port-less URLs), else any port.

    Another benchmark may already hold 127.0.0.2:80, so later addresses are tried too.
    """
    error = ""
    for last in range(2, 40):
        host = f"127.0.0.{last}"
        try:
            with socket.socket() as sock:
                sock.bind((host, 80))
            return host, 80, ""
        except OSError as exc:
            error = exc.strerror or str(exc)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return "127.0.0.1", port, f"cannot bind port 80 on a loopback address ({error})"


def origin_of(host: str, port: int) -> str:
    """The site's origin URL (no port when it is 80)."""
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"


@contextmanager
def site_server(root: Path, host: str, port: int, robots_sitemap: str) -> Iterator[psutil.Process]:
    """Serve the site in a child process for the duration of the block."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BENCH_DIR / "crawlsite.py"),
            "serve",
            str(root),
            "--host",
            host,
            "--port",
            str(port),
            "--robots-sitemap",
            robots_sitemap,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("ready"):
            raise SystemExit(f"the site server did not start (exit {proc.poll()})")
        yield psutil.Process(proc.pid)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- contenders -----------------------------------------------------------------


def fetch_ceiling(
    urls_file: Path, work: Path, per_domain: int, concurrent_items: int, server: psutil.Process
) -> Result:
    """A bare Scrapy spider that downloads every URL and does nothing else."""
    tag = f"{per_domain}-{concurrent_items}"
    log = work / f"fetch-{tag}.log"
    out = work / f"fetch-{tag}.json"
    cmd = [sys.executable, __file__, "_fetch", str(urls_file), str(out), str(per_domain)]
    env = {**os.environ, "BENCH_CONCURRENT_ITEMS": str(concurrent_items)}
    server_cpu = sum(server.cpu_times()[:2])
    run = run_measured(cmd, log, env=env)
    server_cpu = sum(server.cpu_times()[:2]) - server_cpu
    if run.exit_code != 0 or not out.exists():
        raise SystemExit(f"bare Scrapy spider failed:\n{tail(log)}")
    data = json.loads(out.read_text())
    items_note = (
        "Scrapy defaults" if concurrent_items == 100 else f"CONCURRENT_ITEMS={concurrent_items}"
    )
    return Result.of(
        f"bare Scrapy fetch, {per_domain}/domain",
        data["pages"],
        run,
        f"downloads only, {items_note}",
        crawl_seconds=round(data["seconds"], 2),
        concurrent_items=concurrent_items,
        server_cpu_ms_per_page=round(1000 * server_cpu / max(data["pages"], 1), 3),
    )


def _fetch_child(urls_file: str, out_file: str, per_domain: str) -> None:
    """Child process: download the URLs with Scrapy, write {pages, seconds}."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = Path(urls_file).read_text().split()
    counts = {"pages": 0, "bytes": 0}

    class FetchSpider(scrapy.Spider):
        name = "fetch"

        async def start(self):  # Scrapy >= 2.13
            for url in urls:
                yield scrapy.Request(url, callback=self.parse)

        def parse(self, response):
            counts["pages"] += response.status == 200
            counts["bytes"] += len(response.body)

    process = CrawlerProcess(
        {
            "LOG_LEVEL": "WARNING",
            "CONCURRENT_REQUESTS": 16,
            "CONCURRENT_REQUESTS_PER_DOMAIN": int(per_domain),
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "TELNETCONSOLE_ENABLED": False,
            "CONCURRENT_ITEMS": int(os.environ.get("BENCH_CONCURRENT_ITEMS", "100")),
        }
    )
    process.crawl(FetchSpider)
    start = time.perf_counter()
    process.start()
    counts["seconds"] = time.perf_counter() - start
    Path(out_file).write_text(json.dumps(counts))


def _extract_one(path: str) -> int:
    import trafilatura

    html = Path(path).read_bytes()
    return int(bool(trafilatura.extract(html)))


def extraction_ceiling(paths: list[Path], work: Path, workers: int) -> Result:
    """Plain trafilatura.extract over the pages on disk, one process per core."""
    log = work / "extract.log"
    out = work / "extract.json"
    listing = work / "extract-paths.txt"
    listing.write_text("\n".join(str(p) for p in paths))
    cmd = [sys.executable, __file__, "_extract", str(listing), str(out), str(workers)]
    run = run_measured(cmd, log)
    if run.exit_code != 0 or not out.exists():
        raise SystemExit(f"extraction ceiling failed:\n{tail(log)}")
    data = json.loads(out.read_text())
    return Result.of(
        f"trafilatura.extract ({workers} processes)",
        data["extracted"],
        run,
        "pages already on disk",
        pages=data["pages"],
    )


def _extract_child(listing: str, out_file: str, workers: str) -> None:
    """Child process: extract every listed file with a process pool."""
    paths = Path(listing).read_text().split("\n")
    with ProcessPoolExecutor(int(workers)) as pool:
        extracted = sum(pool.map(_extract_one, paths, chunksize=16))
    Path(out_file).write_text(json.dumps({"pages": len(paths), "extracted": extracted}))


def ensure_venv(venv: Path, requirement: str) -> Path:
    """A private virtualenv holding `requirement`, created on first use; its bin directory."""
    bin_dir = venv / "bin"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == requirement:
        return bin_dir
    print(f"installing {requirement} into {venv} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(bin_dir / "pip"), "install", "--quiet", requirement], check=True)
    stamp.write_text(requirement)
    return bin_dir


def ensure_newsplease() -> Path:
    """news-please's executable, installed into its own virtualenv (its pins clash with ours)."""
    return ensure_venv(NEWSPLEASE_VENV, f"news-please=={NEWSPLEASE_VERSION}") / "news-please"


def newsplease_config(work: Path, origin: str) -> Path:
    """A news-please config directory: its default config.cfg, our site in sitelist.hjson."""
    # The default config ships inside the installed package; only the working
    # path changes, so every crawl setting stays news-please's default.
    found = list(NEWSPLEASE_VENV.glob("lib/python*/site-packages/newsplease/config/config.cfg"))
    if not found:
        raise SystemExit(f"news-please's default config.cfg not found under {NEWSPLEASE_VENV}")
    cfg_dir = work / "newsplease-config"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in found[0].read_text().splitlines():
        if line.startswith("working_path"):
            line = f"working_path = {work / 'newsplease-data'}"
        lines.append(line)
    (cfg_dir / "config.cfg").write_text("\n".join(lines) + "\n")
    sitelist = {"base_urls": [{"url": origin + "/", "crawler": "SitemapCrawler"}]}
    (cfg_dir / "sitelist.hjson").write_text(json.dumps(sitelist, indent=2))
    return cfg_dir


def run_newsplease(work: Path, origin: str, pages: int) -> Result:
    """news-please end to end through the site's sitemap; items are its JSON files."""
    exe = ensure_newsplease()
    cfg_dir = newsplease_config(work, origin)
    log = work / "newsplease.log"
    run = run_measured([str(exe), "-c", str(cfg_dir)], log, cwd=work)
    # JsonFileStorage writes one .json per article under data/ (the job dir holds others).
    items = sum(1 for _ in (work / "newsplease-data" / "data").rglob("*.json"))
    if items == 0:
        raise SystemExit(f"news-please stored no article (exit {run.exit_code}):\n{tail(log)}")
    return Result.of(
        f"news-please {NEWSPLEASE_VERSION}", items, run, f"default settings, {pages} sitemap URLs"
    )


def veille_config(work: Path, sitemap_url: str) -> Path:
    """A Veille config: one sitemap source, news-please's concurrency, no throttling."""
    cfg_dir = work / "veille-config"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "veille.yaml").write_text(
        f"""data_dir: {work / "veille-data"}
crawl:
  concurrency: 16
  per_domain_concurrency: {PER_DOMAIN}
  per_domain_delay: 0
  autothrottle: false
  obey_robots_txt: true
  allow_private_addresses: true
"""
    )
    (cfg_dir / "sources.yaml").write_text(
        f"""sources:
  - name: commerce-ledger
    type: sitemap
    url: {sitemap_url}
    category: market
    max_pages: 1000000
"""
    )
    return cfg_dir / "veille.yaml"


def count_items(db: Path) -> int:
    """Items in a Veille store."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def run_veille(work: Path, sitemap_url: str, profile_to: Path | None = None) -> Result:
    """`veille crawl` into a fresh store; items are the rows in it.

    With `profile_to`, py-spy samples the whole process tree (the CLI, the
    crawl process and its extraction workers) into a collapsed-stack file.
    """
    tag = "profiled" if profile_to else "plain"
    # A fresh store every time: a second crawl of the same sitemap would skip every page.
    shutil.rmtree(work / tag, ignore_errors=True)
    config = veille_config(work / tag, sitemap_url)
    log = work / f"veille-{tag}.log"
    veille = REPO / ".venv" / "bin" / "veille"
    cmd = [str(veille) if veille.exists() else "veille", "crawl", "--config", str(config)]
    if profile_to is not None:
        py_spy = ensure_venv(PYSPY_VENV, PYSPY_REQUIREMENT) / "py-spy"
        cmd = [str(py_spy), "record", "--subprocesses", "--rate", "200", "--format", "raw",
               "--output", str(profile_to), "--", *cmd]  # fmt: skip
    run = run_measured(cmd, log, cwd=REPO)
    items = count_items(work / tag / "veille-data" / "veille.db")
    if items == 0:
        raise SystemExit(f"veille crawl stored no item (exit {run.exit_code}):\n{tail(log)}")
    return Result.of(
        "veille crawl" + (" (under py-spy)" if profile_to else ""),
        items,
        run,
        f"{PER_DOMAIN}/domain, no AutoThrottle, no delay",
    )


def in_rounds(rounds: int, runs: dict[str, Callable[[], Result]]) -> dict[str, Result]:
    """Every contender once per round, in turn; each one's fastest run, with all its rounds.

    Taking turns puts the machine's slow minutes on every contender alike, so each
    round's ratio of two contenders compares runs made side by side.
    """
    by_name: dict[str, list[Result]] = {name: [] for name in runs}
    for _ in range(max(rounds, 1)):
        for name, run in runs.items():
            by_name[name].append(run())
    best = {}
    for name, results in by_name.items():
        fastest = min(results, key=lambda r: r.seconds)
        fastest.extra["rounds_seconds"] = [round(r.seconds, 1) for r in results]
        fastest.extra["rounds_items_per_s"] = [round(r.items_per_s, 1) for r in results]
        best[name] = fastest
    return best


def round_ratios(top: Result, bottom: Result) -> list[float]:
    """Round by round, top's items/s over bottom's (runs made side by side)."""
    pairs = zip(top.extra["rounds_items_per_s"], bottom.extra["rounds_items_per_s"], strict=True)
    return [round(a / b, 3) for a, b in pairs]


def git_revision() -> str:
    """The checkout's commit, marked dirty when the crawler's files have local changes."""
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=REPO
    )
    return out.stdout.strip() or "unknown"


def veille_available() -> bool:
    """Whether this checkout has a `veille crawl` command yet."""
    veille = REPO / ".venv" / "bin" / "veille"
    probe = subprocess.run(
        [str(veille) if veille.exists() else "veille", "crawl", "--help"],
        capture_output=True,
        cwd=REPO,
    )
    return probe.returncode == 0


# --- profile summary --------------------------------------------------------------

# Leaf frames where a thread waits rather than computes. py-spy's own idle
# detection misses these in forked workers and helper threads.
_IDLE_LEAVES = (
    "Condition.wait", "select (selectors", "_watch_parent", "doPoll", "Connection._recv",
    "SemLock.__enter__", "Event.wait", "Queue.get", "sleep", "_wait_for_tstate_lock",
    "readinto", "accept",
)  # fmt: skip
# First match wins: (category, substrings of a frame anywhere in the stack).
_CATEGORIES = (
    ("start-up (imports)", ("<frozen importlib",)),
    ("extraction (watch/extract.py, trafilatura)", ("watch/extract.py", "trafilatura/")),
    ("near-duplicate signature (MinHash)", ("watch/dedupe.py",)),
    ("tagging", ("watch/tagging.py", "classifiers/")),
    ("store writes (SQLite)", ("watch/store.py", "sqlite3")),
    ("language id", ("py3langid", "watch/language")),
    ("canonical URL, content hash", ("watch/urls.py", "content_hash")),
    ("pool hand-off (pickle, pipes)", ("multiprocessing/", "concurrent/futures", "pickle")),
    ("sitemap parsing", ("spiders/sitemap.py", "scrapy/utils/sitemap")),
    ("Scrapy/Twisted (fetch, engine)", ("scrapy/", "twisted/", "asyncio/", "w3lib/")),
)


def summarize_profile(path: Path, rate: int = 200) -> dict[str, dict[str, float]]:
    """Busy seconds per process depth and category, from py-spy's collapsed stacks."""
    out: dict[str, dict[str, float]] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        procs = [f for f in frames if f.startswith("process ")]
        code = [f for f in frames if not f.startswith("process ")]
        if not code or any(idle in code[-1] for idle in _IDLE_LEAVES):
            continue
        # Depth 1 is the CLI, 2 the crawl process, 3 its forked extraction workers.
        role = {1: "veille CLI", 2: "crawl process", 3: "extraction workers"}.get(
            len(procs), f"depth {len(procs)}"
        )
        if "Connection._send" in code[-1] and len(procs) == 2:
            # The pool's feeder thread blocked on a full pipe: waiting for busy workers.
            category = "waiting: pipe to busy workers full"
        else:
            category = next(
                (name for name, pats in _CATEGORIES if any(p in f for f in code for p in pats)),
                "other",
            )
        bucket = out.setdefault(role, {})
        bucket[category] = bucket.get(category, 0.0) + int(count) / rate
    return out


def print_profile(profile: dict[str, dict[str, float]], items: int) -> None:
    """Where the profiled crawl spent its busy time, per process, in ms per item."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"veille crawl under py-spy: busy time per item ({items} items)")
    for col in ("process", "where", "ms/item", "share of process"):
        table.add_column(col, justify="right" if col in ("ms/item", "share of process") else "left")
    for role, cats in profile.items():
        total = sum(cats.values()) or 1.0
        for cat, secs in sorted(cats.items(), key=lambda kv: -kv[1]):
            if secs / total < 0.01:
                continue
            table.add_row(role, cat, f"{1000 * secs / items:.2f}", f"{100 * secs / total:.0f}%")
    Console(width=150).print(table)


# --- report ---------------------------------------------------------------------


def print_table(results: dict[str, Result], ratios: dict[str, float | None], notes: list[str]):
    """A readable table of every contender, then the goals."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Crawl benchmark (loopback site, 2 cores)")
    cols = ("contender", "items", "seconds", "items/s", "CPU s", "items/CPU-s", "peak RSS MB",
            "peak PSS MB")  # fmt: skip
    for col in (*cols, "note"):
        table.add_column(col, justify="left" if col in ("contender", "note") else "right")
    for res in results.values():
        table.add_row(
            res.name,
            str(res.items),
            f"{res.seconds:.1f}",
            f"{res.items_per_s:.1f}",
            f"{res.cpu_seconds:.1f}",
            f"{res.items_per_cpu_s:.1f}",
            f"{res.peak_rss_mb:.0f}",
            f"{res.extra.get('peak_pss_mb', 0):.0f}",
            res.note,
        )
    console = Console(width=150)
    console.print(table)
    for label, value in ratios.items():
        console.print(f"{label}: " + ("n/a" if value is None else f"{value:.2f}"))
    for note in notes:
        console.print(f"[dim]{note}[/dim]")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description="End-to-end crawl benchmark.")
    parser.add_argument("--pages", type=int, default=5000, help="article pages to generate")
    parser.add_argument(
        "--newsplease-pages", type=int, help="crawl only this many pages with news-please"
    )
    parser.add_argument("--skip-newsplease", action="store_true")
    parser.add_argument("--skip-veille", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run veille under py-spy and report where its CPU time goes",
    )
    parser.add_argument(
        "--site-dir", type=Path, help="where to generate the site (reused when it matches)"
    )
    parser.add_argument("--work-dir", type=Path, help="where runs write (default: a temp dir)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the ceilings and veille this many times each, taking turns, and keep "
        "each one's fastest (steadier on a shared machine; news-please runs once)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    host, port, why_not_80 = pick_address()
    origin = origin_of(host, port)
    notes = [
        f"Veille runs with news-please's per-domain concurrency ({PER_DOMAIN}), AutoThrottle "
        "off and no download delay, so the comparison is fair.",
        "Times are wall-clock per child process, start-up included; CPU, RSS and PSS sum each "
        "process tree (RSS counts pages shared by forked workers once per process).",
    ]
    skip_np = args.skip_newsplease
    if why_not_80 and not skip_np:
        notes.append(f"news-please skipped: {why_not_80}; it drops URLs with an explicit port.")
        skip_np = True
    np_pages = min(args.newsplease_pages or args.pages, args.pages)

    site_dir = args.site_dir or BENCH_DIR / "results" / f"crawlsite-{args.pages}-{host}-{port}"
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="veille-crawl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("newsplease-data", "plain", "profiled"):
        shutil.rmtree(work / stale, ignore_errors=True)

    say = (lambda *_: None) if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"generating {args.pages} pages in {site_dir} for {origin} ...")
    site_dir.mkdir(parents=True, exist_ok=True)
    subsets = (np_pages,) if np_pages < args.pages else ()
    manifest = crawlsite.generate(site_dir, origin, args.pages, subsets=subsets)
    urls_file = work / "urls.txt"
    urls_file.write_text("\n".join(manifest.article_urls))
    full_sitemap = origin + "/sitemap.xml"

    results: dict[str, Result] = {}
    # robots.txt names the sitemap news-please starts from (the subset, if any); Veille is
    # given the full sitemap's URL and the fetch spider the page URLs, so one server holds
    # the address for the whole run and no other run can take it in between.
    robots_sitemap = full_sitemap
    if not skip_np and np_pages < args.pages:
        robots_sitemap = origin + crawlsite.subset_sitemap_path(np_pages)
        notes.append(f"news-please measured on the first {np_pages} pages only.")
    with site_server(site_dir, host, port, robots_sitemap) as server:
        paths = [site_dir / p.lstrip("/") for p in manifest.article_paths]
        runs: dict[str, Callable[[], Result]] = {
            "fetch": lambda: fetch_ceiling(urls_file, work, PER_DOMAIN, 1, server),
            "fetch_defaults": lambda: fetch_ceiling(urls_file, work, PER_DOMAIN, 100, server),
            "extract": lambda: extraction_ceiling(paths, work, os.cpu_count() or 2),
        }
        if not args.skip_veille:
            if veille_available():
                runs["veille"] = lambda: run_veille(work, full_sitemap)
            else:
                notes.append("veille skipped: this checkout has no `veille crawl` command yet.")
        say(f"{max(args.rounds, 1)} round(s) of {', '.join(runs)}, in turn ...")
        results.update(in_rounds(args.rounds, runs))
        if args.profile and "veille" in results:
            say("veille crawl under py-spy ...")
            results["veille_profiled"] = run_veille(work, full_sitemap, work / "veille-profile.txt")
        if not skip_np:
            say(f"news-please on {np_pages} pages ...")
            results["newsplease"] = run_newsplease(work, origin, np_pages)

    server_ms = results["fetch"].extra["server_cpu_ms_per_page"]
    if server_ms:
        notes.append(
            f"Site server: {server_ms:.2f} ms CPU per page, about {1000 / server_ms:.0f} pages/s "
            "per core, so it is not the bottleneck."
        )
    busiest = max(r.load_before for r in results.values())
    if busiest > 1.5:
        notes.append(
            f"The machine was busy (load average up to {busiest:.1f} on {os.cpu_count()} cores "
            "before a run): wall-clock figures are pessimistic; items/CPU-s is steadier."
        )
    veille = results.get("veille")
    np_res = results.get("newsplease")
    ratios = {
        f"veille / news-please items/s (goal >= {GOAL_VS_NEWSPLEASE:g})": (
            veille.items_per_s / np_res.items_per_s if veille and np_res else None
        ),
        f"veille / extraction ceiling (goal >= {GOAL_VS_EXTRACTION:g})": (
            veille.items_per_s / results["extract"].items_per_s if veille else None
        ),
        "veille / extraction ceiling, median of the rounds' ratios": (
            statistics.median(round_ratios(veille, results["extract"])) if veille else None
        ),
        "fetch ceiling / veille items/s (server headroom)": (
            results["fetch"].items_per_s / veille.items_per_s if veille else None
        ),
    }
    site = {
        "revision": git_revision(),
        "origin": origin,
        "pages": manifest.pages,
        "average_kb": round(manifest.total_bytes / manifest.pages / 1024, 1),
        "site_dir": str(site_dir),
        "work_dir": str(work),
    }
    profile = None
    if "veille_profiled" in results:
        profile = summarize_profile(work / "veille-profile.txt")
    payload = {
        "site": site,
        "results": {
            k: {
                **asdict(v),
                "items_per_s": round(v.items_per_s, 2),
                "items_per_cpu_s": round(v.items_per_cpu_s, 2),
            }
            for k, v in results.items()
        },
        "ratios": ratios,
        "notes": notes,
        "profile_busy_seconds": profile,
        "load_average_after": os.getloadavg()[0],
    }
    (work / "results.json").write_text(json.dumps(payload, indent=2))
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        notes.insert(0, f"Site: {manifest.pages} pages, {site['average_kb']} KB average, {origin}.")
        print_table(results, ratios, notes)
        if profile:
            print_profile(profile, results["veille_profiled"].items)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_fetch":
        _fetch_child(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "_extract":
        _extract_child(*sys.argv[2:5])
    else:
        sys.exit(main())
