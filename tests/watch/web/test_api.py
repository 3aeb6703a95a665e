"""The JSON API on a real loopback server: shapes, filters, errors, and the CLI's own data."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from tests.watch.web.conftest import Served, fetch
from tests.watch.web.data import BY_KEY, DOCS, HOSTILE_TITLE
from watch.cli import cli
from watch.search.backend import FACET_FIELDS


def api(served: Served, path: str, **params: object) -> dict:  # type: ignore[type-arg]
    """GET an API path with params (lists repeat); assert 200 and return the JSON."""
    query = urlencode(params, doseq=True)
    reply = fetch(f"{served.url}api/{path}" + (f"?{query}" if query else ""))
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    return reply.json()


def api_error(served: Served, path: str, status: int) -> str:
    """GET a path that must fail with `status`; return the JSON error message."""
    reply = fetch(f"{served.url}{path}")
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    data = reply.json()
    assert list(data) == ["error"]
    return data["error"]


def keys(served: Served, data: dict) -> list[str]:  # type: ignore[type-arg]
    by_id = {v: k for k, v in served.ids.items()}
    return [by_id[h["id"]] for h in data["hits"]]


def cli_json(served: Served, *args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, [*args, "--json", "--config", str(served.config.path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- /api/search ------------------------------------------------------------------


def test_search_returns_hits_with_highlights_and_every_facet(served: Served) -> None:
    data = api(served, "search", q="marketplace")
    assert list(data) == ["total", "hits", "facets", "page", "per_page"]
    assert data["total"] == 21
    assert (data["page"], data["per_page"], len(data["hits"])) == (1, 10, 10)
    assert list(data["facets"]) == list(FACET_FIELDS)
    assert {b["value"]: b["count"] for b in data["facets"]["source"]} == {
        "market-wire": 7,
        "seo-desk": 7,
        "shop-radar": 7,
    }
    hit = data["hits"][0]
    assert "<mark>marketplace</mark>" in hit["snippet"].lower()
    assert set(hit) >= {"id", "title", "url", "source", "published", "tags", "opportunity"}


def test_search_answers_exactly_what_the_command_line_prints(served: Served) -> None:
    params = {"q": "marketplace OR faceted", "tag": ["marketplace"], "sort": "date", "page": 2}
    from_api = api(served, "search", **params)
    from_cli = cli_json(
        served,
        "search",
        "marketplace OR faceted",
        "--tag",
        "marketplace",
        "--sort",
        "date",
        "--page",
        "2",
        "--facets",
    )
    assert from_api == from_cli


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "marketplace", "source": "shop-radar"}, 7),
        ({"q": "marketplace", "source": ["shop-radar", "seo-desk"]}, 14),
        ({"category": "seo"}, 8),
        ({"language": "fr"}, 1),
        ({"tag": "pricing"}, 8),
        ({"tag": ["pricing", "marketplace"]}, 7),
        ({"min_opportunity": "0.85"}, 4),
        ({"since": "2024-05-20"}, 2),
        ({"until": "2024-05-07"}, 1),
        ({"since": "2024-05-18", "until": "2024-05-18"}, 3),
    ],
)
def test_search_filters_combine_like_the_command_line(
    served: Served, params: dict, expected: int
) -> None:  # type: ignore[type-arg]
    assert api(served, "search", **params)["total"] == expected


def test_search_sorts_by_date_and_pages(served: Served) -> None:
    newest = api(served, "search", sort="date", per_page=100)
    dates = [h["published"] for h in newest["hits"]]
    assert dates == sorted(dates, reverse=True)
    assert len(dates) == len(DOCS)
    last = api(served, "search", q="marketplace", page=3)
    assert (last["page"], len(last["hits"]), last["total"]) == (3, 1, 21)
    past = api(served, "search", q="marketplace", page=9)
    assert (past["hits"], past["total"]) == ([], 21)


def test_search_collapse_and_empty_values_are_accepted(served: Served) -> None:
    # The test items are all distinct stories, so collapsing keeps every one.
    assert api(served, "search", q="marketplace", collapse="1")["total"] == 21
    # An HTML form sends empty fields; they mean "no filter".
    data = api(served, "search", q="", source="", since="", min_opportunity="", collapse="")
    assert data["total"] == len(DOCS)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"q": '"unclosed'}, "quote is not closed"),
        ({"q": "a*"}, "prefix"),
        ({"since": "last tuesday"}, "Bad since: 'last tuesday' is not a date"),
        ({"until": "2024-13-45"}, "Bad until"),
        ({"page": "two"}, "Bad page: 'two' is not a whole number"),
        ({"page": "0"}, "pages start at 1"),
        ({"per_page": "500"}, "between 1 and 100"),
        ({"page": "2000", "per_page": "10"}, "Paging stops at result 10000"),
        ({"min_opportunity": "2"}, "Bad min_opportunity"),
        ({"sort": "popular"}, "Bad sort: 'popular'; use relevance or date"),
        ({"collapse": "maybe"}, "Bad collapse"),
        ({"sources": "seo-desk"}, "Unknown parameter 'sources'"),
    ],
)
def test_bad_queries_and_parameters_get_400_with_a_clear_message(
    served: Served, query: dict, message: str
) -> None:  # type: ignore[type-arg]
    error = api_error(served, "api/search?" + urlencode(query), 400)
    assert message.lower() in error.lower()


# -- /api/items and /api/sources ------------------------------------------------------


def test_item_returns_every_stored_field(served: Served) -> None:
    item_id = served.ids["hostile"]
    data = api(served, f"items/{item_id}")
    assert data == cli_json(served, "show", str(item_id))
    assert data["title"] == HOSTILE_TITLE
    assert data["text"] == BY_KEY["hostile"].text
    assert data["tags"] == ["checkout"]
    assert data["published"] == "2024-05-18T09:00:00+00:00"


@pytest.mark.parametrize("item_id", ["999999", "abc", "12x", "99999999999999999999999"])
def test_missing_or_malformed_item_ids_get_404(served: Served, item_id: str) -> None:
    assert f"No item with id '{item_id}'" in api_error(served, f"api/items/{item_id}", 404)


def test_sources_match_veille_sources_json(served: Served) -> None:
    data = api(served, "sources")
    assert data == cli_json(served, "sources")
    rows = {r["name"]: r for r in data["sources"]}
    assert rows["shop-radar"]["consecutive_failures"] == 1
    assert rows["market-wire"]["items"] == 8
    assert data["search_backend"] == "sqlite"


def test_unknown_paths_and_methods_answer_json_errors(served: Served) -> None:
    assert api_error(served, "api/nothing-here", 404)
    reply = fetch(f"{served.url}api/search?q=x", method="POST")
    assert reply.status == 405
    assert "GET" in reply.headers["Allow"]
    assert "error" in reply.json()


def test_requests_naming_another_host_are_refused(served: Served) -> None:
    # A page on another site that rebinds its name to 127.0.0.1 must not read the watch.
    reply = fetch(f"{served.url}api/sources", headers={"Host": "attacker.example"})
    assert reply.status == 400
    port = re.search(r":(\d+)/$", served.url).group(1)  # type: ignore[union-attr]
    for name in ("localhost", "127.0.0.1", "[::1]"):
        ok = fetch(f"{served.url}api/sources", headers={"Host": f"{name}:{port}"})
        assert ok.status == 200, name


def test_concurrent_requests_each_get_their_answer(served: Served) -> None:
    # Worker threads open their own sqlite connections; none may be shared.
    queries = [("marketplace", 21), ("faceted", 1), ("rentrée", 1), ("fees", 7)] * 10

    def total(query: str) -> int:
        return api(served, "search", q=query)["total"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        totals = list(pool.map(total, [q for q, _ in queries]))
    assert totals == [n for _, n in queries]
