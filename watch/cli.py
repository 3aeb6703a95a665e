"""The `veille` command line: a click group whose commands live in watch/commands/."""

from __future__ import annotations

import sys

import click

from watch import __version__
from watch.commands import LazyGroup
from watch.errors import UserError


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="veille")
def cli() -> None:
    """Veille: market and technology watch for e-commerce teams.

    Collect feeds, sitemaps and sites; tag and score what is new; search it;
    get alerts and digests by email.
    """


def main() -> None:
    """Entry point of the `veille` console script: user errors print one message, no traceback."""
    try:
        cli.main(standalone_mode=False)
    except UserError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
