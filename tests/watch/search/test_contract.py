"""The search contract: behaviour every backend must show on the same corpus.

Runs once per backend in conftest.BACKEND_PARAMS. Expected results are derived
from the corpus definitions; order is asserted only where the contract defines
it (date sort, paging, and clear-cut relevance such as a title match above a
text-only match).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.watch.search.conftest import Indexed
from tests.watch.search.corpus import BY_KEY, CORPUS, Doc, at
from watch.search.backend import FACET_FIELDS, QueryError, SearchBackend, SearchQuery

ALL = {d.key for d in CORPUS}


def keys(indexed: Indexed, **query: object) -> set[str]:
    """The keys of every item the query matches (all pages)."""
    return set(ordered(indexed, **query))


def ordered(indexed: Indexed, **query: object) -> list[str]:
    """The keys of every hit in result order (one big page)."""
    by_id = {v: k for k, v in indexed.ids.items()}
    result = indexed.backend.search(SearchQuery(per_page=100, **query))  # type: ignore[arg-type]
    assert result.total == len(result.hits) or query.get("collapse")
    return [by_id[h.id] for h in result.hits]


def where(pred) -> set[str]:  # type: ignore[no-untyped-def]
    """Corpus keys whose Doc satisfies pred."""
    return {d.key for d in CORPUS if pred(d)}


def by_date(docs: list[Doc], indexed: Indexed) -> list[str]:
    """Keys newest first, ties by higher id first: the contract's date order."""
    ranked = sorted(docs, key=lambda d: (d.date, indexed.ids[d.key]), reverse=True)
    return [d.key for d in ranked]


def marked(snippet: str) -> list[str]:
    """Lower-cased words inside <mark> tags (phrases may be marked whole or word by word)."""
    words: list[str] = []
    for inner in re.findall(r"<mark>(.*?)</mark>", snippet):
        words.extend(w.lower() for w in re.findall(r"\w+", inner))
    return words


# -- words, phrases, OR, exclusion, prefix ---------------------------------


def test_every_word_must_match(indexed: Indexed) -> None:
    assert keys(indexed, text="fees") == {"amazon-fees", "amazon-fees-copy", "ebay-fees"}
    assert keys(indexed, text="referral sellers") == {"amazon-fees", "amazon-fees-copy"}
    assert keys(indexed, text="referral zalando") == set()


def test_title_summary_and_text_are_all_searched(indexed: Indexed) -> None:
    assert keys(indexed, text="syndicated") == {"amazon-fees-copy"}  # summary only
    assert keys(indexed, text="espresso") == {"espresso-machines"}  # title and text
    assert keys(indexed, text="marathon") == {"running-shoes"}  # text only


def test_matching_ignores_case(indexed: Indexed) -> None:
    assert (
        keys(indexed, text="SHOPIFY")
        == keys(indexed, text="shopify")
        == {
            "shopify-rumour",
            "shopify-checkout",
        }
    )


def test_phrase_matches_only_adjacent_words(indexed: Indexed) -> None:
    assert keys(indexed, text='"press release"') == {"zalando-partners"}
    assert keys(indexed, text="press release") == {"zalando-partners", "launch-coverage"}


def test_or_matches_either_side(indexed: Indexed) -> None:
    assert keys(indexed, text="zalando OR cdiscount") == {"zalando-partners", "cdiscount-vendeurs"}
    assert keys(indexed, text='espresso OR "running shoes" OR marathon') == {
        "espresso-machines",
        "running-shoes",
    }


def test_or_binds_tighter_than_the_implicit_and(indexed: Indexed) -> None:
    assert keys(indexed, text="fees zalando OR ebay") == {"ebay-fees"}


def test_exclusion_removes_items_with_the_word_or_phrase(indexed: Indexed) -> None:
    assert keys(indexed, text="shopify -rumour") == {"shopify-checkout"}
    assert keys(indexed, text='release -"press release"') == {"launch-coverage"}
    assert keys(indexed, text="fees -amazon -ebay") == set()


def test_prefix_matches_word_starts(indexed: Indexed) -> None:
    assert keys(indexed, text="automat*") == {"automation-tools", "automated-repricing"}
    assert keys(indexed, text="automation") == {"automation-tools"}
    assert keys(indexed, text="fees -automat*") == keys(indexed, text="fees")


def test_words_in_french_items_are_found(indexed: Indexed) -> None:
    assert keys(indexed, text="vendeurs") == {"cdiscount-vendeurs"}
    assert keys(indexed, text="référencement") == {"referencement"}


def test_accents_are_folded_in_queries_and_items(indexed: Indexed) -> None:
    # "Référencement" in the item, typed with or without accents, in any case.
    for text in ("referencement", "référencement", "RÉFÉRENCEMENT", "référ*", "refer*"):
        assert "referencement" in keys(indexed, text=text), text
    assert keys(indexed, text="europeens") == {"cdiscount-vendeurs"}
    assert keys(indexed, text="marche europeens") == keys(indexed, text="marché européens")
    (hit,) = indexed.backend.search(SearchQuery(text="resultats produits")).hits
    # The original words are marked, accents and all.
    assert "résultats" in marked(hit.snippet), hit.snippet


def test_combining_accents_are_folded_like_composed_letters(indexed: Indexed) -> None:
    # The item spells "délais" as e + U+0301; queries may spell it either way.
    for text in ("delais", "délais", "de\u0301lais", "DE\u0301LAIS", "de\u0301lai*"):
        assert keys(indexed, text=text) == {"livraison-nfd"}, text
    assert keys(indexed, text="re\u0301fe\u0301rencement") == {"referencement"}
    (hit,) = indexed.backend.search(SearchQuery(text="periode fetes")).hits
    assert "fêtes</mark>" in unicodedata.normalize("NFC", hit.snippet), hit.snippet


def test_words_split_at_dots_and_apostrophes(indexed: Indexed) -> None:
    pair = {"amazon-fees", "amazon-fees-copy"}
    # "amazon.com" in the text is the words amazon and com, as typed or as a phrase.
    for text in ("amazon.com", '"amazon com"', "com", '"on amazon.com receive"'):
        assert keys(indexed, text=text) == pair, text
    assert keys(indexed, text="amazon.com -com") == set()
    # "d'hiver" and "l'Europe" hold the words hiver and europe.
    assert keys(indexed, text="hiver") == {"soldes-hiver"}
    assert keys(indexed, text="europe commission") == {"cdiscount-vendeurs"}
    for hit in indexed.backend.search(SearchQuery(text="amazon.com")).hits:
        assert {"amazon", "com"} <= set(marked(hit.snippet)), hit.snippet


def test_engine_syntax_in_user_text_is_plain_text(indexed: Indexed) -> None:
    # None of these may reach the engine as syntax, nor crash.
    for text in ["NEAR(amazon fees)", "title:amazon", "amazon^2", "(amazon", "{fees}", "a:b"]:
        indexed.backend.search(SearchQuery(text=text))
    assert keys(indexed, text="(espresso)") == {"espresso-machines"}


# -- filters -------------------------------------------------------------------


def test_source_filter_keeps_any_listed_source(indexed: Indexed) -> None:
    assert keys(indexed, sources=["shop-radar"]) == where(lambda d: d.source == "shop-radar")
    both = ["shop-radar", "seo-weekly"]
    assert keys(indexed, sources=both) == where(lambda d: d.source in both)
    assert keys(indexed, text="fees", sources=["marketplace-news"]) == {"amazon-fees", "ebay-fees"}


def test_category_filter(indexed: Indexed) -> None:
    assert keys(indexed, categories=["seo"]) == where(lambda d: d.category == "seo")
    assert keys(indexed, text="google", categories=["seo"]) == {
        "core-update",
        "schema-markup",
        "referencement",
    }


def test_language_filter(indexed: Indexed) -> None:
    assert keys(indexed, languages=["fr"]) == where(lambda d: d.language == "fr")
    assert keys(indexed, text="google", languages=["fr"]) == {"referencement"}


def test_tag_filter_requires_every_listed_tag(indexed: Indexed) -> None:
    assert keys(indexed, tags=["pricing"]) == where(lambda d: "pricing" in d.tags)
    assert keys(indexed, tags=["platform", "checkout"]) == {"shopify-rumour", "shopify-checkout"}
    assert keys(indexed, tags=["platform", "no-such-tag"]) == set()


def test_date_range_is_inclusive_and_uses_first_seen_when_undated(indexed: Indexed) -> None:
    start = datetime(2024, 3, 10, tzinfo=UTC)
    end = datetime(2024, 3, 10, 23, 59, 59, tzinfo=UTC)
    assert keys(indexed, published_from=start, published_to=end) == {
        "logistics-title",
        "logistics-text",
        "undated-returns",  # no published date: its first_seen counts
    }
    exact = BY_KEY["core-update"].date
    assert "core-update" in keys(indexed, published_from=exact, published_to=exact)
    assert keys(indexed, published_from=at(11)) == where(lambda d: d.date >= at(11))
    assert keys(indexed, published_to=at(1, 23)) == where(lambda d: d.date <= at(1, 23))


def test_first_seen_after_is_strict(indexed: Indexed) -> None:
    moment = BY_KEY["shopify-checkout"].first_seen
    found = keys(indexed, first_seen_after=moment)
    assert found == where(lambda d: d.first_seen > moment)
    assert "shopify-checkout" not in found


def test_min_id_keeps_items_from_that_id_on(indexed: Indexed) -> None:
    start = indexed.ids["logistics-title"]
    assert keys(indexed, min_id=start) == {k for k, v in indexed.ids.items() if v >= start}


def test_min_opportunity_skips_lower_and_unscored_items(indexed: Indexed) -> None:
    found = keys(indexed, min_opportunity=0.8)
    assert found == where(lambda d: d.opportunity is not None and d.opportunity >= 0.8)
    assert "undated-returns" not in keys(indexed, min_opportunity=0.0)


def test_filters_combine_with_text_and_each_other(indexed: Indexed) -> None:
    assert keys(
        indexed,
        text="price*",
        sources=["shop-radar", "tech-digest"],
        tags=["pricing"],
        min_opportunity=0.9,
    ) == {"running-shoes"}


# -- sort and paging ---------------------------------------------------------


def test_empty_query_lists_everything_newest_first(indexed: Indexed) -> None:
    expected = by_date(CORPUS, indexed)
    assert ordered(indexed) == expected
    assert ordered(indexed, sort="date") == expected
    result = indexed.backend.search(SearchQuery())
    assert result.total == len(CORPUS) and len(result.hits) == 10
    assert all(h.score == 0.0 for h in result.hits)


def test_date_sort_orders_matches_newest_first(indexed: Indexed) -> None:
    assert ordered(indexed, text="fees", sort="date") == [
        "ebay-fees",
        "amazon-fees-copy",
        "amazon-fees",
    ]
    seo = [d for d in CORPUS if d.category == "seo"]
    assert ordered(indexed, categories=["seo"], sort="date") == by_date(seo, indexed)


def test_pages_cover_every_match_once_in_order(indexed: Indexed) -> None:
    full = by_date(CORPUS, indexed)
    seen: list[str] = []
    by_id = {v: k for k, v in indexed.ids.items()}
    for page in range(1, 5):
        result = indexed.backend.search(SearchQuery(page=page, per_page=7, sort="date"))
        assert (result.total, result.page, result.per_page) == (len(CORPUS), page, 7)
        seen.extend(by_id[h.id] for h in result.hits)
    assert seen == full
    beyond = indexed.backend.search(SearchQuery(page=9, per_page=7))
    assert beyond.total == len(CORPUS) and beyond.hits == []


def test_title_match_ranks_above_text_only_match(indexed: Indexed) -> None:
    assert ordered(indexed, text="logistics") == ["logistics-title", "logistics-text"]
    hits = indexed.backend.search(SearchQuery(text="logistics")).hits
    assert hits[0].score > hits[1].score > 0


def test_relevance_scores_never_increase_down_the_list(indexed: Indexed) -> None:
    hits = indexed.backend.search(SearchQuery(text="shop OR shops OR shopify", per_page=50)).hits
    scores = [h.score for h in hits]
    assert len(scores) >= 3 and scores == sorted(scores, reverse=True)


# -- hits and highlights ---------------------------------------------------------


def test_hits_carry_the_items_fields(indexed: Indexed) -> None:
    (hit,) = indexed.backend.search(SearchQuery(text="espresso")).hits
    doc = BY_KEY["espresso-machines"]
    assert hit.id == indexed.ids[doc.key]
    assert (hit.title, hit.url, hit.source, hit.category, hit.language) == (
        doc.title,
        doc.url,
        doc.source,
        doc.category,
        doc.language,
    )
    assert hit.published == doc.published and hit.first_seen == doc.first_seen
    assert sorted(hit.tags) == sorted(doc.tags)
    assert hit.opportunity == pytest.approx(doc.opportunity)
    assert hit.cluster_id == indexed.ids[doc.key]


def test_snippets_mark_the_matched_words(indexed: Indexed) -> None:
    hits = indexed.backend.search(SearchQuery(text="checkout")).hits
    assert hits
    for hit in hits:
        assert "checkout" in marked(hit.snippet), hit.snippet
    (phrase,) = indexed.backend.search(SearchQuery(text='"press release"')).hits
    assert {"press", "release"} <= set(marked(phrase.snippet))


def test_snippets_escape_html_from_item_text(indexed: Indexed) -> None:
    (hit,) = indexed.backend.search(SearchQuery(text="vulnerability")).hits
    assert "vulnerability" in marked(hit.snippet)
    assert "&lt;script&gt;" in hit.snippet
    assert "<script" not in hit.snippet


def test_snippets_hold_no_html_but_marks(indexed: Indexed) -> None:
    for text in ["", "vulnerability", "shop*", "fees OR checkout"]:
        for hit in indexed.backend.search(SearchQuery(text=text, per_page=50)).hits:
            assert "<" not in re.sub(r"</?mark>", "", hit.snippet), hit.snippet


def test_empty_query_snippets_show_text_without_marks(indexed: Indexed) -> None:
    for hit in indexed.backend.search(SearchQuery(per_page=50)).hits:
        assert hit.snippet and "<mark>" not in hit.snippet


# -- facets ----------------------------------------------------------------


def _buckets(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _facets(indexed: Indexed, **query: object) -> dict[str, list[tuple[str, int]]]:
    result = indexed.backend.search(SearchQuery(facets=list(FACET_FIELDS), **query))  # type: ignore[arg-type]
    return {name: [(b.value, b.count) for b in buckets] for name, buckets in result.facets.items()}


def test_value_facets_count_every_match_by_count_then_value(indexed: Indexed) -> None:
    facets = _facets(indexed)
    assert facets["source"] == _buckets(Counter(d.source for d in CORPUS))
    assert facets["category"] == _buckets(Counter(d.category for d in CORPUS))
    assert facets["language"] == _buckets(Counter(d.language for d in CORPUS if d.language))
    assert facets["tags"] == _buckets(Counter(t for d in CORPUS for t in d.tags))


def test_day_facet_lists_days_oldest_first(indexed: Indexed) -> None:
    expected = sorted(Counter(d.day for d in CORPUS).items())
    assert _facets(indexed)["day"] == expected


def test_facets_follow_the_query_and_filters(indexed: Indexed) -> None:
    facets = _facets(indexed, text="fees")
    assert facets["source"] == [("marketplace-news", 2), ("retail-wire", 1)]
    assert facets["day"] == [("2024-03-04", 1), ("2024-03-05", 2)]
    assert facets["tags"] == [("marketplace", 3), ("pricing", 3)]
    seo = _facets(indexed, categories=["seo"])
    assert seo["category"] == [("seo", 5)]
    assert seo["language"] == [("en", 3), ("fr", 1)]  # voice-search has no language


def test_facet_size_keeps_the_top_buckets(indexed: Indexed) -> None:
    result = indexed.backend.search(SearchQuery(facets=["source", "tags"], facet_size=2))
    assert [(b.value, b.count) for b in result.facets["source"]] == _buckets(
        Counter(d.source for d in CORPUS)
    )[:2]
    assert len(result.facets["tags"]) == 2


def test_only_requested_facets_are_returned(indexed: Indexed) -> None:
    assert indexed.backend.search(SearchQuery(text="fees")).facets == {}
    result = indexed.backend.search(SearchQuery(text="fees", facets=["category"]))
    assert set(result.facets) == {"category"}


def test_facets_method_matches_search_facets(indexed: Indexed) -> None:
    query = SearchQuery(text="shop*", facets=list(FACET_FIELDS))
    assert indexed.backend.facets(query) == indexed.backend.search(query).facets


# -- collapse and count --------------------------------------------------------


def test_collapse_keeps_one_hit_per_near_duplicate_cluster(indexed: Indexed) -> None:
    pair = {"amazon-fees", "amazon-fees-copy"}
    assert keys(indexed, text="amazon") == pair
    collapsed = indexed.backend.search(SearchQuery(text="amazon", collapse=True))
    assert collapsed.total == 1 and len(collapsed.hits) == 1
    assert {v: k for k, v in indexed.ids.items()}[collapsed.hits[0].id] in pair
    # Under date sort the cluster is represented by its newest item.
    assert ordered(indexed, text="amazon", collapse=True, sort="date") == ["amazon-fees-copy"]


def test_collapse_counts_clusters_and_facets_still_count_items(indexed: Indexed) -> None:
    result = indexed.backend.search(
        SearchQuery(collapse=True, per_page=100, facets=["source"], sort="date")
    )
    assert result.total == len(CORPUS) - 1 == len(result.hits)
    assert sum(b.count for b in result.facets["source"]) == len(CORPUS)
    assert indexed.ids["amazon-fees"] not in {h.id for h in result.hits}


def test_count_agrees_with_search_total(indexed: Indexed) -> None:
    for query in [
        SearchQuery(),
        SearchQuery(text="fees"),
        SearchQuery(text="amazon", collapse=True),
        SearchQuery(text="shop*", tags=["pricing"]),
        SearchQuery(text="nothing-matches-this"),
    ]:
        assert indexed.backend.count(query) == indexed.backend.search(query).total
    assert indexed.backend.count(SearchQuery(text="nothing-matches-this")) == 0


# -- malformed queries -----------------------------------------------------------

MALFORMED = [
    '"press release',
    'amazon "fees',
    "OR",
    "amazon OR",
    "OR amazon",
    "amazon OR OR ebay",
    "amazon OR -ebay",
    "-rumour",
    '-"press release"',
    "-",
    "amazon -",
    "*",
    "a*",
    "mar*ket",
    '""',
    "&&&",
    "NOT amazon",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_query_raises_a_query_error_with_advice(indexed: Indexed, text: str) -> None:
    for call in (indexed.backend.search, indexed.backend.count, indexed.backend.facets):
        with pytest.raises(QueryError) as caught:
            call(SearchQuery(text=text))
        assert len(str(caught.value)) > 20


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery(page=0),
        SearchQuery(per_page=0),
        SearchQuery(per_page=1000),
        SearchQuery(page=2000, per_page=10),
        SearchQuery(facets=["colour"]),
    ],
    ids=["page-0", "per-page-0", "per-page-1000", "too-deep", "unknown-facet"],
)
def test_bad_paging_or_facets_raise_a_query_error(
    backend: SearchBackend, query: SearchQuery
) -> None:
    with pytest.raises(QueryError):
        backend.search(query)


# -- changes: delete, update, re-index ---------------------------------------------


def test_deleted_items_no_longer_match(fresh: Indexed) -> None:
    gone = fresh.ids["espresso-machines"]
    fresh.store.delete([gone])
    fresh.backend.delete([gone])
    assert fresh.backend.search(SearchQuery(text="espresso")).total == 0
    assert fresh.backend.count(SearchQuery()) == len(CORPUS) - 1
    facets = fresh.backend.facets(SearchQuery(facets=["source"]))
    radar = next(b for b in facets["source"] if b.value == "shop-radar")
    assert radar.count == len(where(lambda d: d.source == "shop-radar")) - 1


def test_reindexing_the_same_items_changes_nothing(fresh: Indexed) -> None:
    assert fresh.backend.index(fresh.store.iter_items()) == {}
    assert fresh.backend.count(SearchQuery()) == len(CORPUS)
    assert keys(fresh, text="fees") == {"amazon-fees", "amazon-fees-copy", "ebay-fees"}


def test_updated_items_are_found_by_their_new_text(fresh: Indexed) -> None:
    doc = BY_KEY["espresso-machines"]
    article = doc.article()
    article.text = "Nine grinders appeared in the rival catalogue this week."
    article.content_hash = "changed"
    assert fresh.store.upsert(article).status == "updated"
    item = fresh.store.get(fresh.ids[doc.key])
    assert item is not None
    assert fresh.backend.index([item]) == {}
    assert keys(fresh, text="grinders") == {"espresso-machines"}
    assert keys(fresh, text="twelve") == set()
