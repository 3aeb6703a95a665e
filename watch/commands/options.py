"""Options and output shared by every command: --config, --json, tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from watch.config import Config, load_config

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


def config_option(func: F) -> F:
    """Add --config PATH (default: $VEILLE_CONFIG, ./veille.yaml, ./config/veille.yaml)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Path to veille.yaml (default: $VEILLE_CONFIG, ./veille.yaml, ./config/veille.yaml).",
    )(func)


def json_option(func: F) -> F:
    """Add --json: print machine-readable output instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        func
    )


def load(config_path: str | None) -> Config:
    """Load the configuration named by --config (errors surface as UserError)."""
    return load_config(config_path)


def print_json(data: Any) -> None:
    """Print data as indented JSON on stdout (dates and paths as text)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
