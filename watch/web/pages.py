"""The search page (/) and the item page (/items/<id>): server-rendered HTML, no scripts.

Filters are links that add or remove one URL parameter, so every state of the
page is a URL that can be bookmarked or shared, and the page works with any
browser, keyboard or screen reader. Source, category and language filters
combine with OR, so their counts ignore their own selection (you can add a
second source); tags combine with AND, so their counts narrow as you pick.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from math import ceil
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, render_template, request
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from watch.search.backend import FacetBucket, QueryError, SearchQuery, SearchResult
from watch.search.query import MAX_WINDOW
from watch.web.connections import connections
from watch.web.params import ParamError, search_query
from watch.web.params import item_id as parse_id

pages = Blueprint("pages", __name__)

PER_PAGE = 10
DAYS_SHOWN = 14
# (facet in SearchResult, URL parameter, SearchQuery field, heading); OR-combined first.
VALUE_FACETS = (
    ("source", "source", "sources", "Source"),
    ("category", "category", "categories", "Category"),
    ("language", "language", "languages", "Language"),
    ("tags", "tag", "tags", "Tags"),
)
OR_FACETS = ("source", "category", "language")
RECENT = (("24h", "Past 24 hours"), ("7d", "Past week"), ("30d", "Past month"))
_MARK_TAG = re.compile(r"(</?mark>)")


@dataclass
class FacetOption:
    """One value of a facet, as a link that selects or unselects it."""

    label: str
    count: int
    selected: bool
    url: str


@dataclass
class FacetGroup:
    """A facet's heading and its options."""

    name: str
    heading: str
    options: list[FacetOption]


@dataclass
class Chip:
    """An active filter and the link that removes it."""

    label: str
    url: str


@dataclass
class SearchView:
    """Everything the search template shows."""

    links: Links
    query: SearchQuery | None = None
    result: SearchResult | None = None
    error: str | None = None
    empty_store: bool = False
    facets: list[FacetGroup] = field(default_factory=list)
    dates: list[FacetOption] = field(default_factory=list)
    chips: list[Chip] = field(default_factory=list)
    pages: list[int | None] = field(default_factory=list)
    last_page: int = 1


class Links:
    """URLs of the search page derived from the current one (a filter added, the page moved)."""

    def __init__(self, args: MultiDict[str, str]) -> None:
        # Empty form fields carry nothing; dropping them keeps URLs short.
        self.args = MultiDict([(k, v) for k, v in args.items(multi=True) if v.strip()])

    def get(self, name: str) -> str:
        """The current value of a parameter ('' when absent)."""
        return self.args.get(name, "")

    def has(self, name: str, value: str) -> bool:
        """Whether the parameter currently holds this value."""
        return value in self.args.getlist(name)

    def build(self, args: MultiDict[str, str]) -> str:
        """The page URL for these parameters."""
        query = urlencode(list(args.items(multi=True)))
        return f"/?{query}" if query else "/"

    def changed(self, **values: str | None) -> str:
        """This URL with parameters set (None removes), back on page 1 unless `page` is given."""
        args = self.args.copy()
        args.pop("page", None)
        for name, value in values.items():
            args.pop(name, None)
            if value:
                args[name] = value
        return self.build(args)

    def toggled(self, name: str, value: str) -> str:
        """This URL with one value of a repeatable parameter added or removed, on page 1."""
        args = self.args.copy()
        args.pop("page", None)
        values = args.poplist(name)
        values = [v for v in values if v != value] if value in values else [*values, value]
        args.setlist(name, values)
        return self.build(args)

    def cleared(self) -> str:
        """This URL without any filter: the query text and the sort only."""
        return self.build(
            MultiDict([(k, self.args[k]) for k in ("q", "sort", "per_page") if k in self.args])
        )

    def page(self, number: int) -> str:
        """This URL on another page."""
        args = self.args.copy()
        args.pop("page", None)
        if number > 1:
            args["page"] = str(number)
        return self.build(args)


@pages.get("/")
def search_page() -> tuple[str, int]:
    """The search page: box, filters with counts, sort, results and paging."""
    links = Links(request.args)
    view = SearchView(links=links)
    status = 200
    conns = connections()
    try:
        view.query = search_query(request.args, per_page=PER_PAGE)
        view.result = conns.backend().search(view.query)
        view.facets = _facet_groups(view.query, view.result, links)
    except (ParamError, QueryError) as exc:
        view.error, status = str(exc), 400
    if view.result is None or view.result.total == 0:
        view.empty_store = conns.store().count() == 0
    view.dates = _dates(view.result, links)
    view.chips = _chips(links)
    if view.result is not None:
        view.last_page = max(1, ceil(min(view.result.total, MAX_WINDOW) / view.result.per_page))
        view.pages = _page_numbers(view.result.page, view.last_page)
    return render_template("search.html", view=view), status


@pages.get("/items/<item_id>")
def item_page(item_id: str) -> str:
    """One item: its fields, tags, summary and full text, and a link to the original."""
    number = parse_id(item_id)
    item = connections().store().get(number) if number is not None else None
    if item is None:
        abort(404, f"There is no item {item_id}. It may have been removed; search again.")
    return render_template("item.html", item=item, back=_back_url())


def _facet_groups(query: SearchQuery, result: SearchResult, links: Links) -> list[FacetGroup]:
    groups = []
    backend = connections().backend()
    for name, param, attr, heading in VALUE_FACETS:
        buckets = result.facets.get(name, [])
        selected = getattr(query, attr)
        if name in OR_FACETS and selected:
            # Counts as if this facet had no selection, so other values stay offered.
            others = replace(query, facets=[name], page=1, **{attr: []})
            buckets = backend.facets(others).get(name, [])
        shown = {b.value for b in buckets}
        buckets = buckets + [FacetBucket(v, 0) for v in selected if v not in shown]
        options = [
            FacetOption(b.value, b.count, links.has(param, b.value), links.toggled(param, b.value))
            for b in buckets
        ]
        if options:
            groups.append(FacetGroup(name, heading, options))
    return groups


def _dates(result: SearchResult | None, links: Links) -> list[FacetOption]:
    """Quick date ranges, then the most recent days with items (newest first)."""
    since, until = links.get("since"), links.get("until")
    options = [
        FacetOption(label, -1, since == age and not until, links.changed(since=age, until=None))
        for age, label in RECENT
    ]
    days = (result.facets.get("day", []) if result else [])[-DAYS_SHOWN:]
    for bucket in reversed(days):
        chosen = since == bucket.value and until == bucket.value
        url = (
            links.changed(since=None, until=None)
            if chosen
            else links.changed(since=bucket.value, until=bucket.value)
        )
        options.append(FacetOption(bucket.value, bucket.count, chosen, url))
    return options


def _chips(links: Links) -> list[Chip]:
    chips = []
    for _, param, _, heading in VALUE_FACETS:
        for value in links.args.getlist(param):
            chips.append(Chip(f"{heading}: {value}", links.toggled(param, value)))
    for name, label in (
        ("since", "Since"),
        ("until", "Until"),
        ("min_opportunity", "Opportunity at least"),
    ):
        if links.get(name):
            chips.append(Chip(f"{label}: {links.get(name)}", links.changed(**{name: None})))
    if links.get("collapse") not in ("", "0", "false", "no", "off"):
        chips.append(Chip("One result per story", links.changed(collapse=None)))
    return chips


def _page_numbers(current: int, last: int) -> list[int | None]:
    """Page links around the current page, the first and the last; None marks a gap."""
    wanted = {1, last, *range(max(1, current - 2), min(last, current + 2) + 1)}
    numbers: list[int | None] = []
    for number in sorted(wanted):
        if numbers and numbers[-1] is not None and number - numbers[-1] > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def _back_url() -> str:
    """The search that led here (same site only), or the empty search page."""
    ref = urlsplit(request.referrer or "")
    if ref.netloc == request.host and ref.path == "/":
        return f"/?{ref.query}" if ref.query else "/"
    return "/"


@pages.app_template_filter("snippet")
def snippet_markup(snippet: str) -> Markup:
    """A backend snippet as markup where only <mark> is live.

    Backends escape snippets already; unescaping and escaping each piece again
    gives the same text for them and makes any tag but <mark> inert regardless.
    """
    parts = _MARK_TAG.split(snippet or "")
    return Markup("").join(
        Markup(part) if _MARK_TAG.fullmatch(part) else escape(html.unescape(part)) for part in parts
    )


@pages.app_template_filter("day")
def day(value: datetime | None) -> str:
    """A date as YYYY-MM-DD in UTC ('' when unknown)."""
    if value is None:
        return ""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d")


@pages.app_template_filter("moment")
def moment(value: datetime | None) -> str:
    """A date and time in UTC ('' when unknown)."""
    if value is None:
        return ""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@pages.app_template_filter("paragraphs")
def paragraphs(text: str) -> list[str]:
    """Text split into paragraphs on blank lines, or on single newlines when it has none."""
    text = (text or "").strip()
    if not text:
        return []
    parts = re.split(r"\n\s*\n", text) if "\n\n" in text else text.split("\n")
    return [p.strip() for p in parts if p.strip()]


@pages.app_template_filter("external")
def external(url: str) -> str | None:
    """The URL when it is safe to link to (http or https), else None."""
    return url if urlsplit(url or "").scheme.lower() in ("http", "https") else None
