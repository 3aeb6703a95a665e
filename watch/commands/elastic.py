"""`veille reindex [--pending]`: rebuild the Elasticsearch index, or send its backlog."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from watch.commands.options import (
    config_option,
    console,
    err_console,
    json_option,
    load,
    print_json,
)
from watch.errors import UserError
from watch.indexer import SyncReport, rebuild, sync, uses_outbox
from watch.store import Store


@contextmanager
def _progress(title: str, total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (docs/s, time left) on stderr; a no-op when quiet."""
    if quiet or total == 0:
        yield lambda n: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(title, total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[task].speed
            if speed:
                progress.update(task, rate=f"{speed:,.0f} docs/s")

        yield advance


@click.command()
@config_option
@json_option
@click.option(
    "--pending",
    is_flag=True,
    help="Only send the backlog: items stored but not yet accepted by Elasticsearch.",
)
@click.option(
    "--keep-previous",
    is_flag=True,
    help="Keep the previous index generation after switching the alias (to roll back by hand).",
)
def reindex(config_path: str | None, as_json: bool, pending: bool, keep_previous: bool) -> None:
    """Rebuild the Elasticsearch index from the store, with no downtime.

    Builds a new versioned index (veille-items-vN) from every stored item, then
    switches the alias to it in one atomic step; searches keep working on the old
    index meanwhile. With --pending, only sends the outbox backlog.
    """
    config = load(config_path)
    if not uses_outbox(config):
        raise UserError(
            f"search.backend is {config.settings.search.backend!r} in {config.path}: the "
            "embedded index is kept up to date by the store itself; nothing to reindex. "
            "Set search.backend: elasticsearch to index in Elasticsearch."
        )
    url = config.settings.search.elasticsearch.url
    with Store(config.db_path) as store:
        if pending:
            total = store.pending_index_count()
            with _progress("Sending backlog", total, as_json) as advance:
                report = sync(config, store, on_progress=advance)
            _show_sync(report, url, as_json)
            if report.error:
                raise SystemExit(1)
            return
        with _progress("Indexing", store.count(), as_json) as advance:
            result = rebuild(config, store, on_progress=advance, keep_previous=keep_previous)
    if as_json:
        print_json(result.to_dict())
        return
    old = ", ".join(result.previous) or "none"
    console.print(
        f"Indexed [bold]{result.indexed:,}[/] items into [bold]{result.index}[/] in "
        f"{result.seconds:.1f}s; alias [bold]{config.settings.search.elasticsearch.index}[/] "
        f"now points to it (previously: {old})."
    )
    if result.catch_up.sent:
        console.print(f"Caught up {result.catch_up.sent:,} items stored during the build.")
    _show_rejected(result.rejected)
    if result.catch_up.error:
        err_console.print(f"[red]{escape(result.catch_up.error)}[/]")


def _show_sync(report: SyncReport, url: str, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"Sent [bold]{report.sent:,}[/] items to {url}"
        + (f", removed {report.removed:,} deleted ones" if report.removed else "")
        + f"; {report.pending:,} still pending."
    )
    _show_rejected(report.rejected)
    if report.error:
        err_console.print(f"[red]{escape(report.error)}[/]")


def _show_rejected(rejected: dict[int, str]) -> None:
    if not rejected:
        return
    table = Table(title=f"{len(rejected)} items rejected by Elasticsearch (kept in the outbox)")
    table.add_column("Item", justify="right")
    table.add_column("Reason")
    for item_id, reason in sorted(rejected.items())[:50]:
        table.add_row(str(item_id), escape(reason))
    console.print(table)
    if len(rejected) > 50:
        console.print(f"... and {len(rejected) - 50} more (use --json for all).")


COMMANDS = [reindex]
