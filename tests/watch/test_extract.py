"""Article extraction: body text, metadata and language from pages written for these tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from watch.extract import Extracted, extract, first_sentences

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"


def page(name: str) -> bytes:
    """The bytes of a fixture page."""
    return (PAGES / name).read_bytes()


@pytest.fixture(scope="module")
def english() -> Extracted:
    return extract(page("article_en.html"), url="https://news.shop-signals.test/a?utm_source=x")


@pytest.fixture(scope="module")
def french() -> Extracted:
    return extract(page("article_fr_cp1252.html"))


@pytest.fixture(scope="module")
def blog() -> Extracted:
    return extract(page("blog_time_tag.html"), url="https://notebook.test/posts/five-lessons")


def test_english_article_metadata_comes_from_json_ld_and_open_graph(english: Extracted) -> None:
    assert english.title == "Checkout conversion climbs as retailers trim form fields"
    assert english.authors == ["Maya Okafor", "Tom Reyes"]
    assert english.author == "Maya Okafor, Tom Reyes"
    assert english.published == datetime(2026, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert english.language == "en"
    assert english.summary.startswith("Retailers that cut their checkout to a single page")
    assert english.url == "https://news.shop-signals.test/a?utm_source=x"


def test_canonical_url_prefers_link_rel_canonical(english: Extracted) -> None:
    assert english.canonical_url == (
        "https://news.shop-signals.test/2026/03/checkout-conversion?ref=canonical"
    )


def test_english_body_keeps_the_story_and_drops_boilerplate(english: Extracted) -> None:
    text = english.text
    assert text.startswith("Online retailers that cut their checkout down to a single page")
    assert "Smaller shops catch up" in text
    assert "unexpected shipping costs remain the most cited reason" in text
    for boilerplate in (
        "Checkout conversion climbs as retailers trim form fields",  # the headline again
        "Related articles",
        "Why wallets win on mobile",
        "Sign up for our newsletter",
        "Share on Twitter",
        "All rights reserved",
        "About us",
    ):
        assert boilerplate not in text


def test_french_page_in_windows_1252_is_decoded_with_its_declared_charset(
    french: Extracted,
) -> None:
    assert french.title == "Les places de marché réduisent leurs délais de livraison"
    assert "entrepôts partagés" in french.text
    assert "18 € par mois" in french.text
    assert "\ufffd" not in french.text


def test_french_metadata_from_meta_tags(french: Extracted) -> None:
    assert french.author == "Claire Dubois"  # "Par " dropped
    assert french.published == datetime(2026, 2, 3, 7, 15, tzinfo=timezone(timedelta(hours=1)))
    assert french.canonical_url == "https://journal-commerce.test/marketplaces/delais-livraison"
    assert french.summary.startswith("Les grandes places de marché françaises")


def test_language_is_detected_when_the_page_declares_none(french: Extracted) -> None:
    assert french.language == "fr"


def test_blog_metadata_from_time_tag_and_rel_author(blog: Extracted) -> None:
    assert blog.title == "Five lessons from a year of selling on three marketplaces"
    assert blog.author == "Lena Park"
    assert blog.published == datetime(2025, 10, 2, 18, 45, tzinfo=UTC)
    assert blog.language == "en"  # from lang="en-US"
    assert blog.canonical_url is None
    assert blog.text.startswith("A year ago our small homeware brand")


def test_summary_falls_back_to_the_first_sentences(blog: Extracted) -> None:
    assert blog.summary.startswith("A year ago our small homeware brand listed")
    assert len(blog.summary) <= 300


def test_str_input_gives_the_same_result_as_bytes() -> None:
    as_bytes = extract(page("article_en.html"))
    as_text = extract(page("article_en.html").decode("utf-8"))
    assert as_text == as_bytes


def test_relative_canonical_is_resolved_against_the_page_url() -> None:
    html = (
        "<html><head><link rel='canonical' href='/news/story-1'></head>"
        "<body><p>Short.</p></body></html>"
    )
    result = extract(html, url="https://shop.test/news/story-1?page=2")
    assert result.canonical_url == "https://shop.test/news/story-1"


def test_published_date_falls_back_to_the_url_then_is_utc_aware() -> None:
    html = "<html><body><article><p>" + "Words about retail. " * 20 + "</p></article></body></html>"
    result = extract(html, url="https://shop.test/2024/06/30/summer-sales")
    assert result.published == datetime(2024, 6, 30, tzinfo=UTC)


def test_naive_dates_are_taken_as_utc() -> None:
    html = (
        "<html><head><meta property='article:published_time' content='2025-01-05 08:00:00'>"
        "</head><body><p>Text.</p></body></html>"
    )
    assert extract(html).published == datetime(2025, 1, 5, 8, 0, tzinfo=UTC)


def test_first_sentences_cut_at_a_sentence_end() -> None:
    text = "One sentence here. " * 40
    summary = first_sentences(text, limit=60)
    assert summary == "One sentence here. One sentence here. One sentence here."


def test_twice_escaped_entities_tags_and_site_names_are_cleaned_from_metadata() -> None:
    html = (
        "<html><head><meta property='og:site_name' content='Shop Wire'>"
        "<meta property='og:title' content='Prices rise by &amp;#163;5 | Shop Wire'>"
        "<meta name='description' content='&lt;p&gt;Delivery costs &amp;amp; fees&lt;/p&gt;'>"
        "</head><body><p>Text.</p></body></html>"
    )
    result = extract(html)
    assert result.title == "Prices rise by £5"
    assert result.summary == "Delivery costs & fees"


def test_a_date_shown_only_in_the_page_is_found_by_date_search() -> None:
    html = (
        "<html><body><article><h1>Lockers everywhere</h1>"
        "<span class='article-publish-date'>November 19, 2025, 9:02 AM</span>"
        "<p>" + "Parcel lockers spread to every station. " * 10 + "</p></article></body></html>"
    )
    published = extract(html).published
    assert published is not None
    assert published.date().isoformat() == "2025-11-19"
    assert published.tzinfo is not None


def test_authors_fall_back_to_a_byline_element_when_meta_author_is_a_url() -> None:
    html = (
        "<html><head><meta name='author' content='https://social.test/profile/123'></head>"
        "<body><article><div class='article-byline'>By Nora Quinn and Sam Ito</div>"
        "<div class='comment-author'>Troll Person</div>"
        "<p>" + "Warehouse rents climbed again near the big ports. " * 8 + "</p>"
        "</article></body></html>"
    )
    assert extract(html).authors == ["Nora Quinn", "Sam Ito"]


def test_a_stage_clock_hears_each_stage_of_an_extraction_in_order(english: Extracted) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.stages: list[str] = []

        def lap(self, stage: str) -> None:
            self.stages.append(stage)

    clock = Recorder()
    timed = extract(page("article_en.html"), url=english.url, clock=clock)
    assert clock.stages[:2] == ["parse", "metadata"]
    assert clock.stages[2] == "trafilatura"
    assert clock.stages[-4:] == ["recovery", "cleaning", "text", "language"]
    assert timed == english  # the clock only watches
