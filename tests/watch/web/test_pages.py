"""The search and item pages as HTML over HTTP: escaping, errors, hints and filter links."""

from __future__ import annotations

import re
from html import unescape

from werkzeug.datastructures import MultiDict

from tests.watch.web.conftest import Served, fetch
from watch.web.pages import Links, _page_numbers, snippet_markup


def page(served: Served, path: str, status: int = 200, **headers: str) -> str:
    reply = fetch(f"{served.url}{path.lstrip('/')}", headers=headers)
    assert reply.status == status, reply.body[:2000]
    assert reply.headers["Content-Type"].startswith("text/html")
    return reply.body


def test_search_page_lists_hits_with_marked_snippets_and_facets(served: Served) -> None:
    html = page(served, "/?q=marketplace")
    assert "21 results" in html
    assert "<mark>marketplace</mark>" in html.lower()
    assert len(re.findall(r'<h3><a href="/items/\d+">', html)) == 10
    assert 'href="/?q=marketplace&amp;source=shop-radar"' in html
    assert 'href="/?q=marketplace&amp;sort=date"' in html
    assert 'href="/?q=marketplace&amp;page=2"' in html


def test_hostile_item_html_is_shown_as_text_never_as_markup(served: Served) -> None:
    item_id = served.ids["hostile"]
    for html in (page(served, "/?q=teardown"), page(served, f"/items/{item_id}")):
        assert "<script" not in html.lower()
        assert "<img" not in html.lower()
        assert "&lt;script&gt;document.title=" in html
    item = page(served, f"/items/{item_id}")
    assert "&lt;img src=x onerror=" in item


def test_snippet_markup_leaves_only_mark_tags_live() -> None:
    escaped = "a <mark>fee</mark> &lt;b&gt;bold&lt;/b&gt;"
    assert str(snippet_markup(escaped)) == escaped
    # Even a snippet that a backend failed to escape cannot inject markup.
    raw = 'x <mark>y</mark> <script>alert(1)</script><img src=x onerror="z">'
    assert str(snippet_markup(raw)) == (
        "x <mark>y</mark> &lt;script&gt;alert(1)&lt;/script&gt;"
        "&lt;img src=x onerror=&#34;z&#34;&gt;"
    )


def test_snippet_markup_keeps_the_space_between_two_marks() -> None:
    # The shape both backends return for the query: third-party sellers.
    for snippet in (
        "charge <mark>third</mark>-<mark>party</mark> <mark>sellers</mark> a fee",
        "charge <mark>third-party</mark> <mark>sellers</mark> a fee",
    ):
        assert str(snippet_markup(snippet)) == snippet


def test_malformed_query_gets_a_clear_message_and_keeps_the_box(served: Served) -> None:
    html = page(served, "/?q=%22price+drop", status=400)
    alert = re.search(r'role="alert">(.*?)</div>', html, re.DOTALL)
    assert alert and "A quote is not closed" in unescape(alert.group(1))
    assert 'value="&#34;price drop"' in html


def test_bad_date_gets_a_clear_message(served: Served) -> None:
    html = page(served, "/?q=fees&since=yesterday-ish", status=400)
    assert "Bad since: &#39;yesterday-ish&#39; is not a date" in html


def test_empty_store_says_how_to_fill_it(empty_served: Served) -> None:
    html = page(empty_served, "/")
    assert "Nothing is stored yet" in html
    assert "veille crawl" in html
    assert "veille demo" in html


def test_a_store_with_items_but_no_match_gives_search_advice(served: Served) -> None:
    html = page(served, "/?q=zeppelin")
    assert "No results" in html
    assert "Nothing is stored yet" not in html


def test_source_facet_keeps_other_sources_offered_with_their_counts(served: Served) -> None:
    html = page(served, "/?q=marketplace&source=shop-radar")
    assert "7 results" in html
    # OR-combined: seo-desk stays offered, counted as if no source were picked.
    link = 'href="/?q=marketplace&amp;source=shop-radar&amp;source=seo-desk"'
    assert link in html
    after = html[html.index(link) :]
    assert re.search(r'<span class="count">7</span>', after)
    assert 'class="option selected" href="/?q=marketplace"' in html


def test_item_page_shows_fields_and_links_back_to_the_search(served: Served) -> None:
    item_id = served.ids["crawl-budget"]
    search = f"{served.url}?q=crawl+budget&sort=date"
    html = page(served, f"/items/{item_id}", Referer=search)
    assert "<h1>Faceted navigation and crawl budget</h1>" in html
    assert 'href="/?q=crawl+budget&amp;sort=date"' in html
    assert 'href="https://seo-desk.example/crawl-budget"' in html
    assert "0.90" in html
    # A referrer from elsewhere is not followed back.
    other = page(served, f"/items/{item_id}", Referer="https://elsewhere.example/?q=x")
    assert '<a href="/">← Back to search</a>' in other


def test_missing_item_page_is_a_404_page(served: Served) -> None:
    html = page(served, "/items/424242", status=404)
    assert "There is no item 424242" in html


def test_pages_forbid_scripts_and_serve_their_stylesheet(served: Served) -> None:
    reply = fetch(served.url)
    assert "script-src 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    css = fetch(f"{served.url}static/veille.css")
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")


def test_links_toggle_filters_and_reset_the_page() -> None:
    links = Links(MultiDict([("q", "fees"), ("source", "a"), ("page", "3"), ("since", "")]))
    assert links.toggled("source", "b") == "/?q=fees&source=a&source=b"
    assert links.toggled("source", "a") == "/?q=fees"
    assert links.changed(sort="date") == "/?q=fees&source=a&sort=date"
    assert links.page(2) == "/?q=fees&source=a&page=2"
    assert links.page(1) == "/?q=fees&source=a"
    assert links.cleared() == "/?q=fees"


def test_page_numbers_show_neighbours_ends_and_gaps() -> None:
    assert _page_numbers(1, 1) == [1]
    assert _page_numbers(1, 4) == [1, 2, 3, 4]
    assert _page_numbers(10, 20) == [1, None, 8, 9, 10, 11, 12, None, 20]
