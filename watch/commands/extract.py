"""`veille extract FILE_OR_URL...`: what Veille extracts from pages, as JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from watch.charset import MAX_DECODED_BYTES, decompress_gzip
from watch.config import CrawlSettings, load_config
from watch.errors import UserError
from watch.page_fetch import FetchError, fetch_page

if TYPE_CHECKING:
    from watch.extract import Extracted

# The keys of each output line, in order.
KEYS = ("input", "url", "title", "text", "summary", "published", "author", "language")


class InputError(Exception):
    """One input could not be read; the message says why."""


def read_file(path: Path) -> bytes:
    """The bytes of an HTML file, inflated when it is gzipped."""
    try:
        with path.open("rb") as handle:
            # Extraction reads no further than this anyway; a huge file is not loaded whole.
            data = handle.read(MAX_DECODED_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an HTML file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if data[:2] == b"\x1f\x8b":
        inflated = decompress_gzip(data, MAX_DECODED_BYTES)
        if not inflated:
            raise InputError(f"{path}: not a valid gzip file")
        return inflated
    return data


def extract_input(item: str, settings: CrawlSettings) -> dict[str, Any]:
    """Extract one input (an http(s) URL or a file path) into an output record."""
    # Imported here: trafilatura and the language model would slow every `veille` start.
    from watch.extract import extract

    if item.startswith(("http://", "https://")):
        try:
            page = fetch_page(item, settings)
        except FetchError as exc:
            raise InputError(str(exc)) from None
        found = extract(page.body, page.url, content_type=page.content_type)
        return record(item, found, page.url)
    return record(item, extract(read_file(Path(item))), None)


def record(item: str, found: Extracted, fetched_url: str | None) -> dict[str, Any]:
    """The output line for one input: the page's canonical URL, else the URL fetched."""
    return {
        "input": item,
        "url": found.canonical_url or fetched_url,
        "title": found.title,
        "text": found.text,
        "summary": found.summary,
        "published": found.published.isoformat() if found.published else None,
        "author": found.author,
        "language": found.language,
    }


def crawl_settings(config_path: str | None) -> CrawlSettings:
    """The crawl settings of the configuration when there is one, else the defaults."""
    try:
        return load_config(config_path).settings.crawl
    except UserError:
        if config_path:
            raise  # an explicit --config that does not load is the user's to fix
        return CrawlSettings()


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, metavar="FILE_OR_URL...")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="veille.yaml whose User-Agent, timeout and size cap to fetch with (default: "
    "$VEILLE_CONFIG, ./veille.yaml, ./config/veille.yaml, else built-in defaults).",
)
@click.option("--json", "as_json", is_flag=True, help="Accepted for symmetry: output is JSON.")
def extract_command(inputs: tuple[str, ...], config_path: str | None, as_json: bool) -> None:
    """Print what Veille extracts from each page, one JSON object per line.

    Each FILE_OR_URL is an HTML file, a .html.gz file or an http(s) URL. The keys
    are input, url (the page's canonical URL, else the URL fetched), title, text,
    summary, published (ISO 8601 or null), author and language. An input that
    cannot be read or fetched gets an error on stderr and the others go on; the
    exit status is then 1.
    """
    del as_json  # the output is JSON lines either way
    settings = crawl_settings(config_path)
    failed = 0
    for item in inputs:
        try:
            line = extract_input(item, settings)
        except InputError as exc:
            failed += 1
            click.secho(f"veille extract: {exc}", fg="red", err=True)
            continue
        click.echo(json.dumps(line, ensure_ascii=False))
        sys.stdout.flush()
    if failed:
        raise SystemExit(1)


COMMANDS = [extract_command]
