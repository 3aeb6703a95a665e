"""`veille demo`: serve the demo web, crawl it with the bundled config, show searches.

The demo runs the real pipeline (the same `run_crawl` and search backend as
`veille crawl` and `veille search`) against the fictional sites of
`watch.demo.server`, in a throw-away data directory unless `--keep` names one.
Each step is a small function, so options such as another search backend or
an SMTP server are one field of `DemoOptions` and one step here.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from jinja2 import Environment, StrictUndefined
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from watch.alerts import AlertRunReport, deliver_to
from watch.config import Config, load_config
from watch.crawl import CrawlReport, run_crawl
from watch.demo.server import DemoWeb
from watch.errors import UserError
from watch.search import open_backend
from watch.search.backend import SearchQuery, SearchResult
from watch.smtpsink import Received, SmtpSink
from watch.store import Store

# Marks a directory as the demo's own, so `--keep DIR` may reset it on a rerun.
MARKER = ".veille-demo"
CONFIG_FILES = ("veille.yaml", "sources.yaml", "alerts.yaml")

# Lines of an alert's plain-text body the demo prints (the rest is counted).
BODY_LINES = 40

SITE_ROLES = {
    "ranking-signals": "SEO blog, RSS 2.0 feed",
    "comptoir": "French e-commerce blog, Atom feed",
    "retail-wire": "trade press, Google News sitemap",
    "agora-market": "marketplace newsroom, crawled as a site",
    "kettle-co": "competitor shop: news and products, crawled as a site",
}


@dataclass
class DemoOptions:
    """What `veille demo` was asked to do."""

    # Keep the config and data here instead of a temporary directory.
    keep: Path | None = None
    # First port of the demo web (0: free ports chosen by the system).
    port: int = 0
    search_backend: str = "sqlite"
    es_url: str = "http://127.0.0.1:9200"
    # Deliver the demo's alerts to this SMTP server (HOST:PORT) instead of a local sink.
    smtp: str | None = None
    progress: bool = True


@dataclass
class DemoSearch:
    """One search the demo shows, with why it is interesting."""

    title: str
    query: SearchQuery
    why: str


FACETS = ["source", "category", "language", "tags", "day"]

DEMO_SEARCHES = [
    DemoSearch(
        "Marketplaces opening to sellers",
        SearchQuery(
            text='"third-party sellers" OR "vendeurs tiers"',
            collapse=True,
            facets=["source", "language"],
            per_page=5,
        ),
        "English and French coverage; the syndicated copy of the press release is collapsed "
        "into its original's cluster.",
    ),
    DemoSearch(
        "SEO: core updates and structured data",
        SearchQuery(
            text='"core update" OR "structured data" OR ranking*',
            facets=["source", "category"],
            per_page=5,
        ),
        "Phrases, OR and prefix* in one query.",
    ),
    DemoSearch(
        "Competitor watch: Kettle & Co prices and stock",
        SearchQuery(
            text='price OR prices OR "out of stock"',
            sources=["kettle-co"],
            sort="date",
            facets=["category"],
            per_page=5,
        ),
        "Filtered to one source, newest first: price rises, sales and stock-outs.",
    ),
    DemoSearch(
        "En français : paiement, livraison, commissions",
        SearchQuery(
            text="paiement OR livraison OR commission*",
            languages=["fr"],
            facets=["source", "language"],
            per_page=5,
        ),
        "A language filter on French items.",
    ),
    DemoSearch(
        "Everything collected, by facet",
        SearchQuery(text="", facets=FACETS, per_page=3),
        "An empty query matches every item: the facets summarise the watch.",
    ),
]


@dataclass
class DemoAlerts:
    """The demo's alert step: where the mail went, what the run did, what the sink received."""

    server: str
    report: AlertRunReport
    # Empty when the mail went to a server given with --smtp.
    messages: list[Received] = field(default_factory=list)


@dataclass
class DemoOutcome:
    """What a demo run did: where its data is, the crawl report, the searches and the alerts."""

    directory: Path
    kept: bool
    report: CrawlReport
    searches: list[tuple[DemoSearch, SearchResult]] = field(default_factory=list)
    alerts: DemoAlerts | None = None
    seconds: float = 0.0


def parse_smtp_address(text: str) -> tuple[str, int]:
    """HOST and PORT from 'HOST:PORT' (an empty host is 127.0.0.1); ValueError if malformed."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:1025 (a port from 1 to 65535)")
    return host, int(port)


def run_demo(options: DemoOptions, console: Console) -> DemoOutcome:
    """Serve the demo web, crawl it into a fresh watch, print searches and what to try next."""
    started = time.monotonic()
    with _directory(options.keep) as directory, DemoWeb(port=options.port) as web:
        _print_intro(console, web, directory)
        config = prepare_config(directory, web, options)
        console.rule("[bold]1. Crawl")
        report = run_crawl(config, progress=options.progress)
        from watch.commands.collect import print_summary

        print_summary(report)
        if not any(s.ok for s in report.sources):
            raise UserError(f"The demo crawl failed; its log is {report.log_path}.")
        console.rule("[bold]2. Search")
        searches = run_searches(config)
        for search, result in searches:
            print_search(console, config, search, result)
        console.rule("[bold]3. Alerts")
        alerts = run_alerts_step(config, options.smtp)
        print_alerts(console, alerts)
        outcome = DemoOutcome(directory, options.keep is not None, report, searches, alerts)
        outcome.seconds = time.monotonic() - started
        _print_next_steps(console, outcome, config)
        return outcome


@contextmanager
def _directory(keep: Path | None) -> Iterator[Path]:
    if keep is None:
        path = Path(tempfile.mkdtemp(prefix="veille-demo-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
        return
    path = keep.resolve()
    if path.exists() and any(path.iterdir()) and not (path / MARKER).exists():
        raise UserError(
            f"{path} is not empty and was not made by `veille demo`; "
            "pass --keep with a new or empty directory."
        )
    # A rerun starts from scratch: the demo web's ports, hence its URLs, change.
    shutil.rmtree(path / "data", ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("Written by `veille demo`; safe to delete.\n", encoding="utf-8")
    yield path


def prepare_config(directory: Path, web: DemoWeb, options: DemoOptions) -> Config:
    """Write the bundled demo config, filled in for this run, into `directory` and load it."""
    values = {
        "sites": web.bases,
        "search_backend": options.search_backend,
        "es_url": options.es_url,
        "smtp_host": "127.0.0.1",
        "smtp_port": 25,
    }
    if options.smtp:
        host, port = parse_smtp_address(options.smtp)
        values.update(smtp_host=host, smtp_port=port)
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    folder = resources.files("watch.demo")
    for name in CONFIG_FILES:
        template = env.from_string((folder / name).read_text(encoding="utf-8"))
        (directory / name).write_text(template.render(values), encoding="utf-8")
    (directory / "taxonomy.yaml").write_text(demo_taxonomy_text(), encoding="utf-8")
    config = load_config(directory / "veille.yaml")
    if options.search_backend == "elasticsearch":
        from watch.search.elastic import prepare_demo

        config = prepare_demo(config, options.es_url)
    return config


def demo_taxonomy_text() -> str:
    """The default taxonomy with the demo's competitor, so its items get `competitor:kettle-co`."""
    from classifiers.taxonomy import default_taxonomy_text

    return default_taxonomy_text().replace(
        "competitors: []",
        "competitors:\n"
        "  - name: Kettle & Co\n"
        "    aliases: [Kettle and Co]\n"
        "    sources: [kettle-co]\n",
    )


def run_searches(config: Config) -> list[tuple[DemoSearch, SearchResult]]:
    """Run the demo's searches on the configured backend."""
    with Store(config.db_path) as store:
        backend = open_backend(config, store)
        return [(search, backend.search(search.query)) for search in DEMO_SEARCHES]


def run_alerts_step(config: Config, smtp: str | None) -> DemoAlerts:
    """Evaluate the demo's alert rules and mail them to a local sink, or to `smtp` (HOST:PORT)."""
    if smtp:
        host, port = parse_smtp_address(smtp)
        report = deliver_to(config, host, port)
        alerts = DemoAlerts(f"{host}:{port}", report)
    else:
        with SmtpSink() as sink:
            report = deliver_to(config, sink.host, sink.port)
        alerts = DemoAlerts(f"{sink.host}:{sink.port}", report, list(sink.messages))
    delivery = report.delivery
    if delivery is not None and delivery.errors and not delivery.sent:
        raise UserError(
            f"The demo's alert could not be delivered to {alerts.server}: "
            f"{'; '.join(delivery.errors)}. Check that an SMTP server listens there "
            "(without TLS or login), or leave out --smtp to use the demo's own sink."
        )
    return alerts


def print_alerts(console: Console, alerts: DemoAlerts) -> None:
    """What the alert step did: each rule's outcome, then the message the sink received."""
    for rule in alerts.report.rules:
        console.print(f"Rule [bold]{rule.rule}[/] ({rule.mode}): {rule.status}, {rule.items} items")
    delivery = alerts.report.delivery
    sent = delivery.sent if delivery else 0
    if not alerts.messages:
        console.print(f"Sent {sent} message(s) to the SMTP server at [bold]{alerts.server}[/].")
        return
    console.print(
        f"The demo's SMTP sink on {alerts.server} received {len(alerts.messages)} message(s):"
    )
    for received in alerts.messages:
        console.print(Panel(Text(email_text(received)), title="Email", title_align="left"))


def email_text(received: Received) -> str:
    """A received message as the demo prints it: From, To, Subject and the plain text, trimmed."""
    message = received.message
    head = "\n".join(f"{k}: {message.get(k, '')}" for k in ("From", "To", "Subject"))
    lines = received.part("plain").strip().splitlines()
    body = "\n".join(lines[:BODY_LINES])
    if len(lines) > BODY_LINES:
        body += f"\n[... {len(lines) - BODY_LINES} more lines]"
    return head + "\n\n" + body


def search_command(config: Config, query: SearchQuery) -> str:
    """The `veille search` command line that runs the same query."""
    args = ["veille", "search", shlex.quote(query.text) if query.text else "''"]
    for flag, values in (
        ("--source", query.sources),
        ("--category", query.categories),
        ("--language", query.languages),
    ):
        for value in values:
            args += [flag, value]
    if query.sort == "date":
        args += ["--sort", "date"]
    if query.collapse:
        args.append("--collapse")
    if query.facets:
        args.append("--facets")
    args += ["--config", shlex.quote(str(config.path))]
    return " ".join(args)


def print_search(
    console: Console, config: Config, search: DemoSearch, result: SearchResult
) -> None:
    """One search: its title, why it is shown, its command line, then what `veille search` shows."""
    from watch.commands.read import print_result

    console.print()
    console.rule(Text(search.title, style="bold"), align="left", characters="·")
    console.print(Text(search.why, style="dim"))
    console.print(Text("$ " + search_command(config, search.query), style="cyan"))
    console.print()
    print_result(result, search.query.text)


def _print_intro(console: Console, web: DemoWeb, directory: Path) -> None:
    console.print(
        Panel.fit(
            "Veille collects news from feeds, sitemaps and sites, stores clean articles and "
            "answers searches.\nThis demo serves a small web of [bold]fictional[/] e-commerce "
            "sites on this machine, crawls it with the real pipeline, searches it, then\n"
            "mails one alert to a local SMTP server and shows it.",
            title="Veille demo",
        )
    )
    table = Table(title="The demo web (loopback only)", title_justify="left")
    table.add_column("site")
    table.add_column("what it is")
    table.add_column("address")
    for site in web.sites:
        table.add_row(site.name, SITE_ROLES.get(site.key, site.kind), web.base(site.key))
    console.print(table)
    console.print(f"Config and data: [bold]{directory}[/]")


def _print_next_steps(console: Console, outcome: DemoOutcome, config: Config) -> None:
    console.rule("[bold]4. What next")
    totals = outcome.report.totals()
    stored = totals["new"] + totals["duplicates"]
    console.print(
        f"The demo crawled {len(outcome.report.sources)} sources and stored {stored} items "
        f"({totals['duplicates']} near-duplicate) in {outcome.seconds:.1f} s."
    )
    cfg = shlex.quote(str(config.path))
    if outcome.kept:
        console.print(f"The data is kept in [bold]{outcome.directory}[/]. Try:")
        commands = [
            f"veille search 'marketplace' --config {cfg}",
            f"veille search 'sellers' --language fr --config {cfg}",
            f"veille show ID --config {cfg}",
            f"veille sources --config {cfg}",
            f"veille alerts list --config {cfg}",
        ]
    else:
        console.print(
            "The demo's data directory has been removed. Keep it to explore with "
            "`veille search`, `veille show` and `veille sources`:"
        )
        commands = [
            "veille demo --keep demo-data",
            "veille search 'marketplace' --config demo-data/veille.yaml",
        ]
    commands += [
        "veille init my-watch        # a commented starter config with real feeds",
        "veille crawl --config my-watch/veille.yaml",
    ]
    for command in commands:
        console.print(Text("  $ " + command, style="cyan"))
    console.print(
        Text("(From a checkout, `source .venv/bin/activate` first puts `veille` on your PATH.)")
    )
    console.print("See README.md for the configuration and every command.")
