"""Read commands: `veille search`, `veille show ID` and `veille sources` (a health table)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from math import ceil
from typing import Any

import click
from rich import box
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from watch.commands.options import config_option, console, json_option, load, print_json
from watch.config import Config
from watch.errors import UserError
from watch.search import open_backend
from watch.search.backend import FACET_FIELDS, SearchQuery, SearchResult
from watch.store import SourceState, Store, StoredItem

_RELATIVE = re.compile(r"^(\d+)\s*([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_MARK = re.compile(r"(<mark>.*?</mark>)", re.DOTALL)
MARK_STYLE = "bold black on yellow"


class DateOrAge(click.ParamType):
    """A date (2024-03-01), a date and time (2024-03-01T08:00), or an age (36h, 7d, 2w)."""

    name = "DATE"

    def __init__(self, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse the value into an aware UTC datetime."""
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        age = _RELATIVE.match(text.lower())
        if age:
            amount, unit = int(age.group(1)), _UNITS[age.group(2)]
            return datetime.now(UTC) - timedelta(**{unit: amount})
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = time.max.replace(microsecond=0) if self.end_of_day else time.min
                return datetime.combine(day, moment, tzinfo=UTC)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{value!r} is not a date: use YYYY-MM-DD, YYYY-MM-DDTHH:MM, "
                "or an age such as 36h, 7d or 2w.",
                param,
                ctx,
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@contextmanager
def _opened(config: Config) -> Iterator[Store]:
    store = Store(config.db_path)
    try:
        yield store
    finally:
        store.close()


# -- veille search ------------------------------------------------------------


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]})
@click.argument("words", nargs=-1, metavar="[QUERY]...")
@click.option(
    "--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable)."
)
@click.option(
    "--category", "categories", multiple=True, metavar="C", help="Only this category (repeatable)."
)
@click.option(
    "--language",
    "languages",
    multiple=True,
    metavar="L",
    help="Only this language, e.g. en (repeatable).",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="T",
    help="Only items with this tag (repeat: all of them).",
)
@click.option("--since", type=DateOrAge(), help="From this date: YYYY-MM-DD or an age (7d, 36h).")
@click.option("--until", type=DateOrAge(end_of_day=True), help="Up to this date (inclusive).")
@click.option(
    "--min-opportunity", type=click.FloatRange(0, 1), help="Only items scored at least this (0-1)."
)
@click.option(
    "--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True
)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--collapse", is_flag=True, help="One result per story (near-duplicates folded).")
@click.option(
    "--facets",
    "with_facets",
    is_flag=True,
    help="Also count results by source, category, language, tag and day.",
)
@config_option
@json_option
def search(
    words: tuple[str, ...],
    sources: tuple[str, ...],
    categories: tuple[str, ...],
    languages: tuple[str, ...],
    tags: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    min_opportunity: float | None,
    sort: str,
    page: int,
    per_page: int,
    collapse: bool,
    with_facets: bool,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Search the stored items; with no QUERY, list what matches the filters, newest first.

    \b
    Query syntax:
      fees marketplace          every word must match
      "press release"           an exact phrase
      amazon OR ebay            either one
      -rumour  -"press release" exclude a word or phrase
      market*                   a prefix: market, markets, marketplace...
    Quote the whole query for your shell, e.g. veille search '"price drop" -rumour'.
    """
    config = load(config_path)
    query = SearchQuery(
        text=" ".join(words).strip(),
        sources=list(sources),
        categories=list(categories),
        languages=list(languages),
        tags=list(tags),
        published_from=since,
        published_to=until,
        min_opportunity=min_opportunity,
        sort=sort,  # type: ignore[arg-type]
        page=page,
        per_page=per_page,
        collapse=collapse,
        facets=list(FACET_FIELDS) if with_facets else [],
    )
    with _opened(config) as store:
        backend = open_backend(config, store)
        result = backend.search(query)
        stored = store.count() if result.total == 0 else None
    if as_json:
        print_json(result.to_dict())
        return
    print_result(result, query.text)
    if stored == 0:
        console.print(
            Text(f"The store at {config.db_path} is empty: run `veille crawl` first.", "yellow")
        )


def print_result(result: SearchResult, text: str = "") -> None:
    """A search result for the terminal: a header, one block per hit, then the facets."""
    pages = max(1, ceil(result.total / result.per_page))
    noun = "result" if result.total == 1 else "results"
    header = Text(f"{result.total} {noun}", style="bold")
    if text:
        header.append(f" for {text}")
    if result.total:
        header.append(f" · page {result.page} of {pages}", style="dim")
    console.print(header)
    first = (result.page - 1) * result.per_page + 1
    for number, hit in enumerate(result.hits, start=first):
        console.print()
        line = Text(f"{number:>3}. ", style="dim")
        line.append(hit.title or hit.url, style="bold")
        console.print(line)
        meta = [hit.source, hit.category, _when(hit.published or hit.first_seen)]
        if hit.language:
            meta.append(hit.language)
        if hit.tags:
            meta.append("tags: " + ", ".join(hit.tags))
        if hit.opportunity is not None:
            meta.append(f"opportunity {hit.opportunity:.2f}")
        if text:
            meta.append(f"score {hit.score:.2f}")
        meta.append(f"id {hit.id}")
        console.print(_indented(Text(" · ".join(meta), style="cyan")))
        if hit.snippet:
            console.print(_indented(render_snippet(hit.snippet)))
        console.print(_indented(Text(hit.url, style="dim")))
    if result.total and not result.hits:
        console.print(Text(f"Page {result.page} is past the last page ({pages}).", "yellow"))
    if result.facets:
        console.print()
        console.print(facet_table(result))


def _indented(text: Text) -> Padding:
    return Padding(text, (0, 0, 0, 5), expand=False)


def render_snippet(snippet: str) -> Text:
    """A backend snippet (escaped HTML with <mark>) as styled terminal text."""
    out = Text()
    for part in _MARK.split(snippet):
        if part.startswith("<mark>") and part.endswith("</mark>"):
            out.append(html.unescape(part[6:-7]), style=MARK_STYLE)
        elif part:
            out.append(html.unescape(part))
    return out


def facet_table(result: SearchResult) -> Table:
    """The facet counts, one row per facet."""
    table = Table(title="Facets", title_justify="left", show_header=False, box=None)
    table.add_column("facet", style="bold")
    table.add_column("counts")
    for name, buckets in result.facets.items():
        counts = Text()
        for i, bucket in enumerate(buckets):
            if i:
                counts.append(" · ", style="dim")
            counts.append(bucket.value)
            counts.append(f" {bucket.count}", style="cyan")
        table.add_row(name, counts if buckets else Text("none", style="dim"))
    return table


# -- veille show ----------------------------------------------------------------


@click.command()
@click.argument("item_id", type=int, metavar="ID")
@config_option
@json_option
def show(item_id: int, config_path: str | None, as_json: bool) -> None:
    """Show one stored item: its fields, tags and full text."""
    config = load(config_path)
    with _opened(config) as store:
        item = store.get(item_id)
    if item is None:
        raise UserError(
            f"No item with id {item_id} in {config.db_path}. "
            "Find ids with `veille search` (each result shows its id)."
        )
    if as_json:
        print_json(item.to_dict())
        return
    print_item(item)


def print_item(item: StoredItem) -> None:
    """An item's fields as a table, then its summary and text."""
    table = Table(show_header=False, box=None, title=Text(item.title, "bold"), title_justify="left")
    table.add_column("field", style="bold cyan")
    table.add_column("value", overflow="fold")
    rows: list[tuple[str, str | None]] = [
        ("id", str(item.id)),
        ("url", item.url),
        ("canonical url", item.canonical_url if item.canonical_url != item.url else None),
        ("source", item.source),
        ("category", item.category),
        ("author", item.author),
        ("published", _when(item.published, full=True)),
        ("first seen", _when(item.first_seen, full=True)),
        ("updated", _when(item.updated_at, full=True)),
        ("fetched", _when(item.fetched_at, full=True)),
        ("language", item.language),
        ("keywords", ", ".join(item.keywords) or None),
        ("tags", _tags(item)),
        ("opportunity", f"{item.opportunity:.2f}" if item.opportunity is not None else None),
        ("cluster", _cluster(item)),
        ("content hash", item.content_hash or None),
    ]
    for name, value in rows:
        if value:
            table.add_row(name, Text(value))
    console.print(table)
    if item.summary:
        console.print()
        console.print(Text("Summary", "bold"))
        console.print(Text(item.summary))
    console.print()
    console.print(Text("Text", "bold"))
    console.print(Text(item.text or "(no text extracted)"))


def _tags(item: StoredItem) -> str | None:
    if not item.tags:
        return None
    parts = []
    for tag in item.tags:
        reasons = item.tag_reasons.get(tag)
        parts.append(f"{tag} ({'; '.join(reasons)})" if reasons else tag)
    return ", ".join(parts)


def _cluster(item: StoredItem) -> str | None:
    if item.cluster_id is None:
        return None
    if item.cluster_id == item.id:
        return f"{item.cluster_id} (first of its story)"
    return f"{item.cluster_id} (near-duplicate of item {item.cluster_id})"


# -- veille sources ---------------------------------------------------------------


@click.command()
@config_option
@json_option
def sources(config_path: str | None, as_json: bool) -> None:
    """The sources' health: items stored, last success and error, failures, next run."""
    config = load(config_path)
    with _opened(config) as store:
        states = store.source_states()
        counts = store.source_item_counts()
        backlog = store.pending_index_count()
    rows = source_rows(config, states, counts)
    backend = config.settings.search.backend
    if as_json:
        print_json({"sources": rows, "search_backend": backend, "index_backlog": backlog})
        return
    console.print(health_table(rows))
    for line in error_lines(rows):
        console.print(line)
    line = Text(f"Search backend: {backend} · ")
    waiting = f"{backlog} item{'s' if backlog != 1 else ''} waiting to be indexed"
    line.append(waiting, style="yellow" if backlog else "green")
    if backlog:
        line.append(" (the next crawl or `veille reindex --pending` sends them)", style="dim")
    console.print(line)


def source_rows(
    config: Config, states: dict[str, SourceState], counts: dict[str, int]
) -> list[dict[str, Any]]:
    """One JSON-ready row per configured source, then per stored source no longer configured."""
    rows = []
    for src in config.sources:
        rows.append(
            _row(
                src.name,
                states.get(src.name),
                counts,
                src.type,
                src.category,
                src.url,
                src.enabled,
                True,
            )
        )
    known = {src.name for src in config.sources}
    for name in sorted((set(states) | set(counts)) - known):
        rows.append(_row(name, states.get(name), counts, None, None, None, False, False))
    return rows


def _row(
    name: str,
    state: SourceState | None,
    counts: dict[str, int],
    type_: str | None,
    category: str | None,
    url: str | None,
    enabled: bool,
    configured: bool,
) -> dict[str, Any]:
    state = state or SourceState(name=name)
    return {
        "name": name,
        "type": type_,
        "category": category,
        "url": url,
        "enabled": enabled,
        "configured": configured,
        "items": counts.get(name, 0),
        "last_run_at": _iso(state.last_run_at),
        "last_success_at": _iso(state.last_success_at),
        "last_error": state.last_error,
        "last_error_at": _iso(state.last_error_at),
        "consecutive_failures": state.consecutive_failures,
        "next_due_at": _iso(state.next_due_at),
        "current_interval": state.current_interval,
    }


def health_table(rows: list[dict[str, Any]], now: datetime | None = None) -> Table:
    """The sources table (times relative to now); failing sources stand out."""
    now = now or datetime.now(UTC)
    table = Table(
        title="Sources",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("name", no_wrap=True)
    for heading in ("type", "category", "enabled"):
        table.add_column(heading)
    table.add_column("items", justify="right")
    table.add_column("last success")
    table.add_column("fails", justify="right")
    table.add_column("next due")
    for row in rows:
        failures = row["consecutive_failures"]
        enabled = "yes" if row["enabled"] else ("no" if row["configured"] else "gone")
        success = _age(row["last_success_at"], now)
        table.add_row(
            Text(row["name"], "bold red" if failures else "bold"),
            Text(row["type"] or "-"),
            Text(row["category"] or "-"),
            Text(enabled, "green" if row["enabled"] else "dim"),
            str(row["items"]),
            Text(success or "never", "" if success else "dim"),
            Text(str(failures), "bold red" if failures else ""),
            Text(_age(row["next_due_at"], now) or "-"),
        )
    if any(not r["configured"] for r in rows):
        table.caption = "gone: in the store but no longer in the sources file"
    return table


def error_lines(rows: list[dict[str, Any]], now: datetime | None = None) -> list[Text]:
    """One line per source whose last run failed: its failures, when, and the error."""
    now = now or datetime.now(UTC)
    lines = []
    for row in rows:
        if not row["last_error"] or not row["consecutive_failures"]:
            continue
        line = Text(f"{row['name']}", "bold red")
        n = row["consecutive_failures"]
        line.append(f" ({n} failure{'s' if n != 1 else ''} in a row")
        if row["last_error_at"]:
            line.append(f", last {_age(row['last_error_at'], now)}")
        line.append("): ")
        line.append(row["last_error"])
        lines.append(line)
    return lines


def _age(iso: str | None, now: datetime) -> str:
    """An ISO timestamp as a short age from now: '5m ago', '3h ago', 'in 2d'."""
    if not iso:
        return ""
    seconds = (now - datetime.fromisoformat(iso)).total_seconds()
    span = abs(seconds)
    if span < 60:
        return "just now" if seconds >= 0 else "now"
    for limit, unit, size in ((3600, "m", 60), (86400, "h", 3600), (float("inf"), "d", 86400)):
        if span < limit:
            amount = f"{int(span // size)}{unit}"
            return f"{amount} ago" if seconds >= 0 else f"in {amount}"
    return iso  # unreachable: the last limit is infinite


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: datetime | None, full: bool = False) -> str:
    """A date for display in UTC: the day, or day and time with `full`."""
    if value is None:
        return "-" if not full else ""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC") if full else value.strftime("%Y-%m-%d")


COMMANDS = [search, show, sources]
