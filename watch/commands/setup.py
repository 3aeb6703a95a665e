"""`veille init`: write a commented starter configuration."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from watch.errors import UserError


def starter_files() -> dict[str, str]:
    """The starter configuration files bundled with Veille, by file name."""
    folder = resources.files("watch") / "starter"
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: str, force: bool) -> None:
    """Write a commented starter configuration (veille.yaml, sources.yaml ...) into DIRECTORY."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    files = starter_files()
    existing = [name for name in files if (target / name).exists()]
    if existing and not force:
        raise UserError(
            f"{', '.join(str(target / n) for n in existing)} already exist; "
            "pass --force to overwrite them."
        )
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {target / name}")
    click.echo(
        f"Next: edit {target / 'sources.yaml'}, then run "
        f"`veille crawl --config {target / 'veille.yaml'}`."
    )


COMMANDS = [init]
