"""`veille crawl`: collect every enabled source (or the named ones) once."""

from __future__ import annotations

import sys

import click
from rich import box
from rich.table import Table

from watch.commands.options import config_option, console, json_option, load, print_json
from watch.crawl import CrawlReport, run_crawl

# Table heading -> SourceRunStats field.
COLUMNS = {
    "requests": "requests",
    "new": "new",
    "updated": "updated",
    "unchanged": "unchanged",
    "duplicates": "duplicates",
    "304": "not_modified",
    "errors": "errors",
}


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
    if report.crashed:
        sys.exit(1)


def print_summary(report: CrawlReport) -> None:
    """The per-source table, then the messages of sources that had problems."""
    table = Table(
        title=f"Crawl run {report.run_id}: {report.status}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        # One space between columns: the full headings fit an 80-column terminal.
        padding=(0, 0),
        pad_edge=False,
    )
    table.add_column("source", overflow="fold", min_width=12)
    table.add_column("", no_wrap=True)
    for heading in COLUMNS:
        table.add_column(heading, justify="right", no_wrap=True, min_width=len(heading))
    for src in report.sources:
        counts = [getattr(src.stats, key) for key in COLUMNS.values()]
        cells = [str(v) for v in counts[:-1]]
        cells.append(f"[red]{counts[-1]}" if counts[-1] else "0")
        table.add_row(src.name, "[green]ok" if src.ok else "[red]failed", *cells)
    totals = report.totals()
    table.add_section()
    table.add_row("total", "", *(str(totals[key]) for key in COLUMNS.values()))
    console.print(table)
    for src in report.sources:
        if src.ok and not src.stats.messages:
            continue
        state = "[red]failed[/]" if not src.ok else "[yellow]completed with problems[/]"
        console.print(f"[bold]{src.name}[/] {state}:")
        messages = src.stats.messages or [src.error or "no details recorded"]
        for message in messages:
            console.print(f"  - {message}", markup=False, highlight=False)
    if report.index_error:
        console.print(f"[yellow]search index[/]: {report.index_error}")
    if report.log_path and not report.ok:
        console.print(f"[dim]crawl log: {report.log_path}[/]")


COMMANDS = [crawl]
