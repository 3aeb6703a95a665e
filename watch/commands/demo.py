"""`veille demo`: the offline demo, end to end, on a bundled web of fictional sites."""

from __future__ import annotations

from pathlib import Path

import click

from watch.commands.options import console
from watch.demo.runner import DemoOptions, run_demo


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
def demo(keep: Path | None, port: int) -> None:
    """Crawl a bundled web of fictional e-commerce sites on this machine, then search it.

    Serves the demo web on 127.0.0.1, writes the bundled config, runs a real
    crawl into a fresh store, and prints a few searches with facets. Needs no
    network and no configuration.
    """
    run_demo(DemoOptions(keep=keep, port=port), console)


COMMANDS = [demo]
