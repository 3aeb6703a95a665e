"""`veille serve`: the search page and the JSON API over HTTP."""

from __future__ import annotations

import signal

import click

from watch.commands.options import config_option, load


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The server has no login: keep it on loopback "
    "unless a proxy in front of it controls access.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@config_option
def serve(host: str, port: int, config_path: str | None) -> None:
    """Serve the search page and the read-only JSON API until Ctrl-C.

    SIGTERM stops it cleanly too.

    \b
    Pages:  /  (search with filters)   /items/ID
    API:    /api/search?q=...&source=...&since=7d&sort=date&page=2
            /api/items/ID   /api/sources
    """
    # Imported here so other commands never pay for the web stack.
    from watch.web.server import WebServer, is_loopback

    config = load(config_path)
    server = WebServer(config, host, port)
    backend = config.settings.search.backend
    click.echo(f"Veille is serving {config.db_path} (search: {backend}) at {server.url}")
    click.echo(f"JSON API: {server.url}api/search?q=...  ·  Ctrl-C stops.")
    if not is_loopback(host):
        click.secho(
            f"Warning: listening on {host}, which other machines may reach; "
            "anyone who can connect can read the watch.",
            fg="yellow",
            err=True,
        )
    # Ctrl-C and SIGTERM (sent by service managers) both stop cleanly, also when a
    # shell started us as a background job, with SIGINT ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, server.request_stop)
    server.serve()
    click.echo("Stopped.")


COMMANDS = [serve]
