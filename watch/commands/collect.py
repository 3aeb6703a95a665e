"""`veille crawl`: collect every enabled source (or the named ones) once."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from watch.commands.options import config_option, console, json_option, load, print_json
from watch.crawl import CrawlReport, run_crawl


@click.command()
@click.option(
    "--source",
    "source_names",
    multiple=True,
    metavar="NAME",
    help="Crawl only this source (repeat for several); disabled sources may be named too.",
)
@config_option
@json_option
def crawl(source_names: tuple[str, ...], config_path: str | None, as_json: bool) -> None:
    """Collect the sources: fetch, extract, tag and store what is new, then print a summary.

    Exits with status 1 when the crawl itself could not run; a failing source
    is reported in the summary and does not stop the others.
    """
    config = load(config_path)
    report = run_crawl(config, list(source_names) or None, progress=not as_json)
    if as_json:
        print_json(report.to_dict())
    else:
        print_summary(report)
    if report.status == "failed" and not any(s.ok for s in report.sources):
        sys.exit(1)


def print_summary(report: CrawlReport) -> None:
    """The per-source table, then the messages of sources that had problems."""
    table = Table(title=f"Crawl run {report.run_id}: {report.status}", title_justify="left")
    table.add_column("source")
    table.add_column("type")
    table.add_column("status")
    for heading in ("requests", "new", "updated", "unchanged", "duplicates", "304", "errors"):
        table.add_column(heading, justify="right")
    for src in report.sources:
        s = src.stats
        status = "[green]ok" if src.ok else "[red]failed"
        table.add_row(
            src.name, src.type, status,
            *(str(v) for v in (s.requests, s.new, s.updated, s.unchanged, s.duplicates,
                               s.not_modified)),
            f"[red]{s.errors}" if s.errors else "0",
        )  # fmt: skip
    totals = report.totals()
    table.add_section()
    table.add_row(
        "total", "", "",
        *(str(totals[k]) for k in ("requests", "new", "updated", "unchanged", "duplicates",
                                   "not_modified", "errors")),
    )  # fmt: skip
    console.print(table)
    for src in report.sources:
        if src.ok and not src.stats.messages:
            continue
        colour = "red" if not src.ok else "yellow"
        console.print(f"[{colour}]{src.name}[/]: {src.error or 'completed with problems'}")
        for message in src.stats.messages:
            console.print(f"  - {message}", markup=False, highlight=False)
    if report.index_error:
        console.print(f"[yellow]search index[/]: {report.index_error}")
    if report.log_path and not report.ok:
        console.print(f"[dim]crawl log: {report.log_path}[/]")


COMMANDS = [crawl]
