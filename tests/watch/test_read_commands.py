"""`veille search`, `veille show` and `veille sources` against a real config and store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.watch.search.corpus import BY_KEY, CORPUS, fill
from watch.cli import cli
from watch.errors import UserError
from watch.search.backend import QueryError
from watch.store import Store

SOURCES = """\
sources:
  - name: marketplace-news
    type: feed
    url: https://marketplace-news.example/feed.xml
    category: distribution
  - name: shop-radar
    type: site
    url: https://shop-radar.example/
    category: competitor
  - name: quiet-blog
    type: feed
    url: https://quiet.example/rss
    enabled: false
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A config directory with sources and an empty data directory."""
    (tmp_path / "veille.yaml").write_text("data_dir: data\n", encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    return tmp_path


@pytest.fixture
def filled(workdir: Path) -> dict[str, int]:
    """The corpus in the store, with some source health recorded; key -> item id."""
    with Store(workdir / "data" / "veille.db") as store:
        ids = fill(store)
        store.record_source_result("marketplace-news", None)
        store.record_source_result("shop-radar", "HTTP 500 on https://shop-radar.example/")
        store.record_source_result("shop-radar", "HTTP 503 on https://shop-radar.example/")
    return ids


def run(workdir: Path, *args: str) -> Result:
    """Invoke the CLI with --config pointing at workdir."""
    return CliRunner().invoke(cli, [*args, "--config", str(workdir / "veille.yaml")])


def as_json(workdir: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = run(workdir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def keys_of(data: dict, ids: dict[str, int]) -> list[str]:  # type: ignore[type-arg]
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h["id"]] for h in data["hits"]]


# -- search ------------------------------------------------------------------


def test_search_lists_hits_with_highlighted_snippets_and_facets(
    workdir: Path, filled: dict[str, int]
) -> None:
    result = run(workdir, "search", "referral", "--facets")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2 results for referral" in out
    assert "Amazon raises marketplace referral fees" in out
    assert "marketplace-news" in out and "retail-wire" in out
    assert "score" in out and f"id {filled['amazon-fees']}" in out
    assert "<mark>" not in out  # highlights are rendered, not printed as HTML
    assert "Facets" in out and "2024-03-05 1" in out


def test_search_prints_page_text_as_text(workdir: Path, filled: dict[str, int]) -> None:
    out = run(workdir, "search", "vulnerability").output
    assert '<script>alert("owned")</script>' in out and "&lt;" not in out


def test_search_json_is_the_search_result(workdir: Path, filled: dict[str, int]) -> None:
    data = as_json(workdir, "search", "fees", "--facets", "--sort", "date")
    assert data["total"] == 3 and (data["page"], data["per_page"]) == (1, 10)
    assert keys_of(data, filled) == ["ebay-fees", "amazon-fees-copy", "amazon-fees"]
    assert set(data["facets"]) == {"source", "category", "language", "tags", "day"}
    hit = data["hits"][0]
    assert hit["published"] == "2024-03-05T12:00:00+00:00"
    assert "<mark>" in hit["snippet"]


def test_search_takes_unquoted_syntax_including_exclusions(
    workdir: Path, filled: dict[str, int]
) -> None:
    assert keys_of(as_json(workdir, "search", "shopify", "-rumour"), filled) == ["shopify-checkout"]
    data = as_json(workdir, "search", "zalando", "OR", "cdiscount")
    assert set(keys_of(data, filled)) == {"zalando-partners", "cdiscount-vendeurs"}
    data = as_json(workdir, "search", '"press release"')
    assert keys_of(data, filled) == ["zalando-partners"]


def test_search_filters_reach_the_backend(workdir: Path, filled: dict[str, int]) -> None:
    data = as_json(
        workdir, "search", "--source", "shop-radar", "--source", "tech-digest",
        "--tag", "pricing", "--min-opportunity", "0.9",
    )  # fmt: skip
    assert keys_of(data, filled) == ["running-shoes"]
    data = as_json(workdir, "search", "--category", "seo", "--language", "fr")
    assert keys_of(data, filled) == ["referencement"]


def test_since_and_until_take_dates_inclusively(workdir: Path, filled: dict[str, int]) -> None:
    data = as_json(workdir, "search", "--since", "2024-03-10", "--until", "2024-03-10")
    assert set(keys_of(data, filled)) == {"logistics-title", "logistics-text", "undated-returns"}
    assert as_json(workdir, "search", "--since", "7d")["total"] == 0  # the corpus is from 2024


def test_paging_and_collapse_options(workdir: Path, filled: dict[str, int]) -> None:
    first = as_json(workdir, "search", "--per-page", "5", "--sort", "date")
    second = as_json(workdir, "search", "--per-page", "5", "--page", "2", "--sort", "date")
    assert first["total"] == second["total"] == len(CORPUS)
    assert not set(keys_of(first, filled)) & set(keys_of(second, filled))
    collapsed = as_json(workdir, "search", "amazon", "--collapse")
    assert collapsed["total"] == 1


def test_malformed_query_is_a_user_error(workdir: Path, filled: dict[str, int]) -> None:
    result = run(workdir, "search", '"press release')
    assert isinstance(result.exception, QueryError)
    assert "not closed" in str(result.exception)


def test_malformed_query_prints_one_message_and_no_traceback(
    workdir: Path, filled: dict[str, int]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from watch.cli import main; main()", "search", "amazon OR",
         "--config", str(workdir / "veille.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Error: The query ends with OR" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_dates_are_refused_with_the_accepted_forms(
    workdir: Path, filled: dict[str, int]
) -> None:
    result = run(workdir, "search", "--since", "last tuesday")
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output and "7d" in result.output


def test_search_on_an_empty_store_says_to_crawl(workdir: Path) -> None:
    result = run(workdir, "search", "anything")
    assert result.exit_code == 0
    assert "0 results" in result.output and "veille crawl" in result.output


# -- show --------------------------------------------------------------------


def test_show_prints_fields_and_text(workdir: Path, filled: dict[str, int]) -> None:
    item_id = filled["amazon-fees-copy"]
    out = run(workdir, "show", str(item_id)).output
    doc = BY_KEY["amazon-fees-copy"]
    assert doc.title in out and doc.url in out and "retail-wire" in out
    assert "2024-03-05 07:00 UTC" in out
    assert f"near-duplicate of item {filled['amazon-fees']}" in out
    assert "Retail Wire readers shared their reactions." in out


def test_show_json_is_the_stored_item(workdir: Path, filled: dict[str, int]) -> None:
    data = as_json(workdir, "show", str(filled["espresso-machines"]))
    assert data["id"] == filled["espresso-machines"]
    assert data["title"] == BY_KEY["espresso-machines"].title
    assert data["tags"] == ["catalogue", "competitor"]
    assert data["first_seen"] == "2024-03-12T12:00:00+00:00"


def test_show_unknown_id_says_how_to_find_ids(workdir: Path, filled: dict[str, int]) -> None:
    result = run(workdir, "show", "9999")
    assert isinstance(result.exception, UserError)
    assert "No item with id 9999" in str(result.exception)


# -- sources -------------------------------------------------------------------


def test_sources_shows_health_and_the_index_backlog(workdir: Path, filled: dict[str, int]) -> None:
    with Store(workdir / "data" / "veille.db") as store:
        store.enqueue_index([filled["amazon-fees"], filled["ebay-fees"]])
    out = run(workdir, "sources").output
    for name in ("marketplace-news", "shop-radar", "quiet-blog", "tech-digest"):
        assert name in out
    assert "gone" in out  # tech-digest has items but is no longer configured
    assert "shop-radar (2 failures in a row" in out and "HTTP 503" in out
    assert "2 items waiting to be indexed" in out


def test_sources_json(workdir: Path, filled: dict[str, int]) -> None:
    data = as_json(workdir, "sources")
    rows = {r["name"]: r for r in data["sources"]}
    assert list(rows)[:3] == ["marketplace-news", "shop-radar", "quiet-blog"]
    radar = rows["shop-radar"]
    assert (radar["items"], radar["consecutive_failures"]) == (3, 2)
    assert radar["last_error"].startswith("HTTP 503") and radar["last_success_at"] is None
    assert rows["marketplace-news"]["last_success_at"] is not None
    assert rows["quiet-blog"]["enabled"] is False and rows["quiet-blog"]["items"] == 0
    assert rows["tech-digest"]["configured"] is False
    assert (data["search_backend"], data["index_backlog"]) == ("sqlite", 0)


def test_sources_before_any_crawl(workdir: Path) -> None:
    data = as_json(workdir, "sources")
    assert [r["name"] for r in data["sources"]] == ["marketplace-news", "shop-radar", "quiet-blog"]
    assert all(r["items"] == 0 and r["last_run_at"] is None for r in data["sources"])
