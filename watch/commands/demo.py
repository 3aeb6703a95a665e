"""`veille demo`: the offline demo, end to end, on a bundled web of fictional sites."""

from __future__ import annotations

from pathlib import Path

import click

from watch.commands.options import console
from watch.demo.runner import DemoOptions, parse_smtp_address, run_demo


def _smtp_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_smtp_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Keep the demo's config and data in DIR (default: a temporary directory, removed).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Serve the demo sites on ports N, N+1, ... (default: free ports).",
)
@click.option(
    "--search-backend",
    type=click.Choice(["sqlite", "elasticsearch"]),
    default="sqlite",
    show_default=True,
    help="Where the demo's items are indexed and searched.",
)
@click.option(
    "--es-url",
    default=DemoOptions.es_url,
    show_default=True,
    metavar="URL",
    help="The Elasticsearch cluster for --search-backend elasticsearch "
    "(the demo uses, and resets, its own veille-demo-items index there).",
)
@click.option(
    "--smtp",
    callback=_smtp_address,
    default=None,
    metavar="HOST:PORT",
    help="Mail the demo's alert to this SMTP server (no TLS, no login) "
    "instead of a local sink whose message is printed.",
)
def demo(keep: Path | None, port: int, search_backend: str, es_url: str, smtp: str | None) -> None:
    """Crawl a bundled web of fictional e-commerce sites on this machine, search it, mail an alert.

    Serves the demo web on 127.0.0.1, writes the bundled config, runs a real
    crawl into a fresh store, prints a few searches with facets, then mails one
    alert to a local SMTP sink and prints it. Needs no network and no configuration.
    """
    options = DemoOptions(
        keep=keep, port=port, search_backend=search_backend, es_url=es_url, smtp=smtp
    )
    run_demo(options, console)


COMMANDS = [demo]
