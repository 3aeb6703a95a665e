"""The query language: parsing into the AST, and its FTS5 translation."""

from __future__ import annotations

import sqlite3

import pytest

from watch.search.backend import QueryError, SearchQuery
from watch.search.query import AnyOf, Query, Term, check, parse
from watch.search.sqlite import to_match


def test_words_are_all_required() -> None:
    assert parse("amazon  fees") == Query((Term("amazon"), Term("fees")))


def test_empty_or_blank_text_is_the_empty_query() -> None:
    assert parse("").is_empty and parse("   \t").is_empty


def test_phrases_keep_their_words_and_normalise_spaces() -> None:
    assert parse('"press   release" eu') == Query((Term("press release", phrase=True), Term("eu")))


def test_or_groups_its_neighbours() -> None:
    assert parse('fees amazon OR ebay OR "otto group"') == Query(
        (
            Term("fees"),
            AnyOf((Term("amazon"), Term("ebay"), Term("otto group", phrase=True))),
        )
    )


def test_lower_case_or_and_and_are_words_or_ignored() -> None:
    assert parse("or") == Query((Term("or"),))
    assert parse("amazon AND ebay") == Query((Term("amazon"), Term("ebay")))


def test_exclusions_and_prefixes() -> None:
    assert parse('market* -rumour -"press release"') == Query(
        (Term("market", prefix=True),),
        (Term("rumour"), Term("press release", phrase=True)),
    )


def test_hyphenated_words_are_terms_not_exclusions() -> None:
    assert parse("e-commerce -b2b") == Query((Term("e-commerce"),), (Term("b2b"),))
    assert Term("e-commerce").words == ["e", "commerce"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('"press release', "not closed"),
        ("OR amazon", "starts with OR"),
        ("amazon OR", "ends with OR"),
        ("amazon OR OR ebay", "twice"),
        ("amazon OR -ebay", "cannot join an exclusion"),
        ("-ebay OR amazon", "cannot join an exclusion"),
        ("-rumour", "only excludes"),
        ("*", "lone *"),
        ("m*", "at least 2"),
        ("mar*ket", "end of a word"),
        ("market**", "one *"),
        ('"press release"*', "phrase cannot be a prefix"),
        ("e-comm*", "single plain word"),
        ('""', "empty phrase"),
        ("- amazon", "lone -"),
        ("--amazon", "single -"),
        ("&", "no letters or digits"),
        ("NOT ebay", "-rumour"),
        ('amazon"fees"', "quote sits inside"),
        ('"fees"amazon', "space after the closing quote"),
    ],
)
def test_malformed_queries_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(QueryError, match=None) as caught:
        parse(text)
    assert says in str(caught.value)


def test_too_many_terms_is_an_error() -> None:
    with pytest.raises(QueryError, match="more than"):
        parse(" ".join(f"w{i}" for i in range(100)))


def test_check_validates_paging_facets_and_sort() -> None:
    assert check(SearchQuery(text="amazon")) == parse("amazon")
    for bad in [
        SearchQuery(page=0),
        SearchQuery(per_page=101),
        SearchQuery(page=101, per_page=100),
        SearchQuery(facets=["nope"]),
        SearchQuery(sort="size"),  # type: ignore[arg-type]
        SearchQuery(facet_size=0),
    ]:
        with pytest.raises(QueryError):
            check(bad)


def test_fts5_translation_quotes_every_term() -> None:
    match = to_match(parse('fees amazon OR "otto group" market* -rumour -"press release"'))
    assert match == (
        '("fees" AND ("amazon" OR "otto group") AND "market"*) NOT ("rumour" OR "press release")'
    )


@pytest.mark.parametrize(
    "text",
    ["NEAR(a b)", "title:x", "a^2", "{x}", "x AND", "'; DROP TABLE items; --", "(", "a:b:c"],
)
def test_fts5_never_sees_user_syntax(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(title, body)")
    conn.execute("INSERT INTO f VALUES ('x title', 'a b c')")
    try:
        parsed = parse(text)
    except QueryError:
        return
    conn.execute("SELECT rowid FROM f WHERE f MATCH ?", (to_match(parsed),)).fetchall()
