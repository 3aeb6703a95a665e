"""Search parameters in a URL (the API's and the page's) turned into a SearchQuery.

The names mirror `veille search`'s options (source, category, language, tag,
since, until, min_opportunity, sort, page, per_page, collapse) and dates go
through the command line's own parser, so a URL and a command mean the same
thing. Paging and sort limits are left to `watch.search.query.check`, which
every backend applies, so they are stated once.
"""

from __future__ import annotations

from datetime import datetime

import click
from werkzeug.datastructures import MultiDict

from watch.commands.read import DateOrAge
from watch.errors import UserError
from watch.search.backend import FACET_FIELDS, SearchQuery

# URL parameter -> SearchQuery field, for the filters that repeat.
LIST_PARAMS = {
    "source": "sources",
    "category": "categories",
    "language": "languages",
    "tag": "tags",
}
SCALAR_PARAMS = ("q", "since", "until", "min_opportunity", "sort", "page", "per_page", "collapse")
PARAMS = (*SCALAR_PARAMS[:1], *LIST_PARAMS, *SCALAR_PARAMS[1:])
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ParamError(UserError):
    """A search parameter with a bad value; the message names it and says what to write."""


def search_query(
    args: MultiDict[str, str], *, strict: bool = False, per_page: int = 10
) -> SearchQuery:
    """The SearchQuery a URL's parameters describe, with every facet requested.

    Empty values count as absent (an HTML form sends empty fields). With
    `strict`, an unknown parameter is an error, so a typo such as `sources=`
    is not silently ignored by an API client.
    """
    if strict:
        unknown = sorted(set(args) - set(PARAMS))
        if unknown:
            raise ParamError(
                f"Unknown parameter {unknown[0]!r}: use {', '.join(PARAMS)} "
                "(repeat source, category, language or tag for several values)."
            )
    query = SearchQuery(
        text=(args.get("q") or "").strip(),
        published_from=_date(args, "since", end_of_day=False),
        published_to=_date(args, "until", end_of_day=True),
        min_opportunity=_opportunity(args),
        sort=_sort(args),  # type: ignore[arg-type]
        page=_integer(args, "page", 1),
        per_page=_integer(args, "per_page", per_page),
        collapse=_flag(args, "collapse"),
        facets=list(FACET_FIELDS),
    )
    for param, attr in LIST_PARAMS.items():
        values = [v.strip() for v in args.getlist(param) if v.strip()]
        setattr(query, attr, list(dict.fromkeys(values)))
    return query


def _value(args: MultiDict[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    return value or None


def _date(args: MultiDict[str, str], name: str, end_of_day: bool) -> datetime | None:
    value = _value(args, name)
    if value is None:
        return None
    try:
        return DateOrAge(end_of_day=end_of_day).convert(value, None, None)
    except click.BadParameter as exc:
        raise ParamError(f"Bad {name}: {exc.message}") from None


def _integer(args: MultiDict[str, str], name: str, default: int) -> int:
    value = _value(args, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ParamError(f"Bad {name}: {value!r} is not a whole number.") from None


def _opportunity(args: MultiDict[str, str]) -> float | None:
    value = _value(args, "min_opportunity")
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise ParamError(f"Bad min_opportunity: {value!r} is not a number from 0 to 1.")
    return number


def _sort(args: MultiDict[str, str]) -> str:
    value = _value(args, "sort") or "relevance"
    if value not in ("relevance", "date"):
        raise ParamError(f"Bad sort: {value!r}; use relevance or date.")
    return value


def _flag(args: MultiDict[str, str], name: str) -> bool:
    value = (args.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ParamError(f"Bad {name}: {value!r}; use 1 or 0.")


def item_id(text: str) -> int | None:
    """The item id in a URL path, or None when it cannot be one (so: not found)."""
    # ASCII digits only, and small enough for SQLite's 64-bit integers.
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
