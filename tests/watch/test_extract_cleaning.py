"""The body clean-up after trafilatura: boilerplate rules and paragraph recovery."""

from __future__ import annotations

import lxml.html
from lxml.etree import Element, SubElement, _Element

from watch.body_recovery import recover_paragraphs
from watch.boilerplate import clean_body
from watch.extract import extract
from watch.page_metadata import PageMetadata

LONG = (
    "Marketplace sellers reported that fulfilment fees rose again this quarter, and several "
    "said they would move slow-selling stock back to their own warehouses before the holidays."
)


def body_of(*blocks: tuple[str, str] | tuple[str, list[str]]) -> _Element:
    """A trafilatura-like body: ("p", text), ("head", text) or ("list", [items])."""
    body = Element("body")
    for tag, content in blocks:
        el = SubElement(body, tag)
        if isinstance(content, list):
            for text in content:
                SubElement(el, "item").text = text
        else:
            el.text = content
    return body


def texts(body: _Element) -> list[str]:
    return ["".join(el.itertext()) for el in body]


def page_with_links(*links: str, extra: str = "") -> lxml.html.HtmlElement:
    anchors = "".join(f"<a href='/x{i}'>{text}</a>" for i, text in enumerate(links))
    return lxml.html.document_fromstring(f"<html><body><div>{anchors}</div>{extra}</body></html>")


def test_the_repeated_headline_and_a_kicker_above_it_are_removed() -> None:
    body = body_of(("p", "Review"), ("head", "The best parcel lockers"), ("p", LONG))
    meta = PageMetadata(titles=["The best parcel lockers"])
    removed = clean_body(body, page_with_links(), meta)
    assert texts(body) == [LONG]
    assert removed == {"The best parcel lockers": "title", "Review": "title"}


def test_a_standfirst_in_its_own_container_goes_but_a_first_paragraph_stays() -> None:
    dek = "Shoppers spent more online than in stores for the first time this autumn."
    second = "The shift was sharpest in clothing, where online sales rose by a quarter."
    meta = PageMetadata(titles=["Online overtakes stores"], description=dek)
    apart = lxml.html.document_fromstring(
        f"<html><body><header><p class='dek'>{dek}</p></header>"
        f"<div class='body'><p>{second}</p></div></body></html>"
    )
    body = body_of(("p", dek), ("p", second))
    assert clean_body(body, apart, meta) == {dek: "standfirst"}
    together = lxml.html.document_fromstring(
        f"<html><body><div class='body'><p>{dek}</p><p>{second}</p></div></body></html>"
    )
    body = body_of(("p", dek), ("p", second))
    assert clean_body(body, together, meta) == {}
    assert texts(body) == [dek, second]


def test_related_links_labels_and_lists_are_removed() -> None:
    headlines = ["Fees rise at the big marketplaces", "Lockers beat doorsteps", "Returns cost more"]
    page = page_with_links(*headlines, "How marketplaces police fake reviews")
    body = body_of(
        ("p", LONG),
        ("p", "Read more: How marketplaces police fake reviews"),
        ("p", LONG + " Again."),
        ("list", headlines),
        ("p", LONG + " Once more."),
    )
    removed = clean_body(body, page, PageMetadata())
    assert texts(body) == [LONG, LONG + " Again.", LONG + " Once more."]
    assert sorted(removed.values()) == ["link label", "link list"]


def test_headlines_under_a_dont_miss_label_are_removed() -> None:
    page = page_with_links("China tightens export rules", "Port strike ends")
    body = body_of(
        ("p", LONG),
        ("p", "DON'T MISS"),
        ("p", "China tightens export rules [INSIGHT]"),
        ("p", "Port strike ends [VIDEO]"),
        ("p", LONG + " End."),
    )
    clean_body(body, page, PageMetadata())
    assert texts(body) == [LONG, LONG + " End."]


def test_a_link_round_up_that_is_the_whole_post_is_kept() -> None:
    links = [f"Weekly link number {i} about parcel pricing" for i in range(8)]
    body = body_of(("p", "This week's links:"), ("list", links))
    clean_body(body, page_with_links(*links), PageMetadata())
    assert len(body) == 2


def test_prompts_credits_and_stamps_are_removed_at_the_edges_only() -> None:
    body = body_of(
        ("p", "Updated at 1:23 p.m."),
        ("p", LONG),
        *(("p", f"{LONG} ({i})") for i in range(3)),
        ("p", "Reporting by Ana Lopez; editing by Sam Reed"),
        *(("p", f"{LONG} [{i}]") for i in range(3)),
        ("p", LONG + " Last."),
        ("p", "Sign up for our newsletter to get the week's retail news in your inbox."),
        ("p", "Follow us on Twitter and Instagram."),
        ("p", "Additional reporting by Kim Ode"),
        ("p", "© 2026 Retail Wire. All rights reserved."),
    )
    removed = clean_body(body, page_with_links(), PageMetadata())
    assert "Reporting by Ana Lopez; editing by Sam Reed" in texts(body)  # mid-body: kept
    assert texts(body)[0] == LONG
    assert texts(body)[-1] == LONG + " Last."
    assert set(removed.values()) == {"stamp", "prompt", "credit"}


def test_sentences_that_mention_newsletters_are_kept() -> None:
    sentence = (
        "The retailer said its weekly newsletter, which it asks shoppers to sign up for at "
        "checkout, now drives a fifth of repeat orders, more than its social media accounts "
        "and its loyalty app combined, and it plans to send it twice a week from January on "
        "to customers who opted in."
    )
    body = body_of(("p", LONG), ("p", sentence), ("p", LONG + " End."))
    assert clean_body(body, page_with_links(), PageMetadata()) == {}


def test_news_sentences_that_look_like_prompts_or_credits_are_kept() -> None:
    sentences = [
        "More than two million people follow him on Twitter, the campaign said.",
        "Customers who register with an email address get a ten percent discount.",
        "The retailer's newsletter is now delivered to two million inboxes each week.",
    ]
    closing = [
        "Sources familiar with the plan said the chain would close forty stores.",
        "Published reports say the founder will step down.",
        "With AFP's help, the merchants published their own price index.",
    ]
    body = body_of(("p", LONG), *(("p", s) for s in sentences), ("p", LONG + " End."))
    assert clean_body(body, page_with_links(), PageMetadata()) == {}
    body = body_of(("p", LONG), *(("p", s) for s in closing))  # at the end, where credits sit
    assert clean_body(body, page_with_links(), PageMetadata()) == {}


def test_a_written_date_line_is_a_stamp_but_a_phone_number_is_not() -> None:
    body = body_of(
        ("p", "sexta-feira, 22 de outubro de 2010 às 20:13"),
        ("p", LONG),
        ("p", "+81 158-23-2012"),
    )
    clean_body(body, page_with_links(), PageMetadata())
    assert texts(body) == [LONG, "+81 158-23-2012"]


def test_an_article_split_in_two_containers_is_put_back_together() -> None:
    first = [f"First half paragraph {i}. {LONG}" for i in range(3)]
    second = [f"Second half paragraph {i}. {LONG}" for i in range(3)]
    chunk = "<div class='grid'><div class='body__chunk'>{}</div></div>"
    html = (
        "<html><body><article>"
        + chunk.format("".join(f"<p>{p}</p>" for p in first))
        + "<div class='ad'>Advertisement</div>"
        + chunk.format("".join(f"<p>{p}</p>" for p in second))
        + "</article><aside><p>"
        + LONG.replace("Marketplace", "Sidebar")
        + "</p></aside></body></html>"
    )
    page = lxml.html.document_fromstring(html)
    # What trafilatura returns on such pages: the first container only.
    body = body_of(*(("p", p) for p in first))
    assert recover_paragraphs(body, page) == 3
    assert texts(body) == first + second  # in page order, the aside left out


def test_a_sentence_with_a_link_cut_out_is_restored() -> None:
    full = (
        "Analysts at the agency said that the new fee schedule for third-party sellers "
        "would hurt small merchants most, since their margins on household goods are thin."
    )
    html = (
        "<html><body><div class='story'><p>Analysts at the agency said that "
        "<span class='link'><a href='/fees'>the new fee schedule</a></span> for third-party "
        "sellers would hurt small merchants most, since their margins on household goods are "
        f"thin.</p><p>{LONG}</p></div></body></html>"
    )
    cut = full.replace("the new fee schedule ", "")
    body = body_of(("p", cut), ("p", LONG))
    recover_paragraphs(body, lxml.html.document_fromstring(html))
    assert texts(body) == [full, LONG]


def test_an_embedded_tweet_in_the_story_container_is_put_back() -> None:
    tweet = "Parcel lockers at every station by 2027, says the rail operator https://t.co/x"
    html = (
        f"<html><body><div class='entry'><p>{LONG}</p>"
        f"<div class='embed'><blockquote class='twitter-tweet'><p>{tweet}</p>"
        "— Rail News (@railnews) May 2, 2026</blockquote></div>"
        f"<p>{LONG} Later.</p></div></body></html>"
    )
    body = body_of(("p", LONG), ("p", LONG + " Later."))
    recover_paragraphs(body, lxml.html.document_fromstring(html))
    assert texts(body)[1].startswith(tweet)
    assert "@railnews" in texts(body)[1]


def test_cleaning_end_to_end_on_a_page() -> None:
    paragraphs = "".join(f"<p>{LONG} ({i})</p>" for i in range(4))
    html = (
        "<html lang='en'><head><title>Fees rise | Retail Wire</title>"
        "<meta property='og:title' content='Fees rise'></head><body><article>"
        f"<h1>Fees rise</h1>{paragraphs}<p>Like this story? Share it with a friend!</p>"
        "</article></body></html>"
    )
    result = extract(html)
    assert result.title == "Fees rise"
    assert result.text.splitlines() == [f"{LONG} ({i})" for i in range(4)]


def test_a_byline_above_and_an_author_bio_below_the_story_are_removed() -> None:
    bio = "Lena Park is a reporter covering marketplaces and logistics for the Seller Notebook."
    body = body_of(
        ("p", "By Lena Park, May 2, 2026"),
        *(("p", f"{LONG} ({i})") for i in range(6)),
        ("p", bio),
    )
    removed = clean_body(body, page_with_links(), PageMetadata(authors=["Lena Park"]))
    assert removed == {"By Lena Park, May 2, 2026": "byline", bio: "author bio"}


def test_headings_that_start_like_a_byline_are_kept() -> None:
    heading = "Von Risiken und Nebenwirkungen"
    body = body_of(("head", heading), ("p", LONG), ("p", "By the end of the year, sales rose."))
    assert clean_body(body, page_with_links(), PageMetadata(authors=["Anna Berg"])) == {}


def test_captions_shortcodes_and_site_labels_are_removed() -> None:
    caption = "The new parcel locker at Central Station"
    page = lxml.html.document_fromstring(
        f"<html><body><img src='a.jpg' alt='{caption}'><a href='/x'>Rail fares</a></body></html>"
    )
    body = body_of(
        ("p", "2018-08-25 15:24"),
        ("p", LONG),
        ("p", caption),
        ("p", "Also on example.com Rail fares rise again in the spring"),
        ("p", "Popular on Retail Wire"),
        ("p", LONG + " End."),
        ("p", "[button link='/submit'] Send us your review[/button]"),
    )
    removed = clean_body(body, page, PageMetadata())
    assert texts(body) == [LONG, LONG + " End."]
    assert sorted(removed.values()) == ["caption", "label", "link label", "shortcode", "stamp"]


def test_a_heading_that_names_a_picture_is_kept() -> None:
    page = lxml.html.document_fromstring(
        "<html><body><img src='jam.jpg' alt='Spiced honey pear jam'></body></html>"
    )
    body = body_of(("p", LONG), ("head", "Spiced honey pear jam"), ("p", LONG + " End."))
    assert clean_body(body, page, PageMetadata()) == {}


# One line for each kind of prompt the prompt rule knows, and for each credit line.
PROMPTS = [
    "Sign up for our newsletter to get updates.",
    "Subscribe to receive alerts.",
    "Register now for email updates",
    "Join thousands of readers who get our newsletter in their inbox",
    "Get the latest news in your inbox",
    "Please subscribe to our free daily newsletter",
    "Read on. Follow the author on Twitter",
    "Follow us for more.",
    "Liked this article? Please share it with a friend.",
    "Have a news tip? Email us.",
    "Click here for more information",
    "Abonnez-vous à notre lettre",
    "Inscrivez-vous maintenant",
    "Thanks for signing up!",
    "Thank you for subscribing.",
    "Keep an eye on your inbox.",
    "There was an error processing your subscription.",
    "We may earn a commission when you buy.",
    "The site could receive compensation from partners.",
    "X may get a share of the sale.",
    "This page contains affiliate links.",
    "Advertising disclosure: we are paid.",
    "This entry was posted on Monday and filed under News.",
    "Der Eintrag wurde heute veröffentlicht",
]
CREDITS = [
    "Reporting by Jane Roe; editing by John Doe",
    "Additional reporting by Ana Lima",
    "Source: company filings",
    "With wires",
    "© 2026 Shop Signals",
    "(c) Shop Signals",
    "Copyright Shop Signals",
    "Sam Ito contributed reporting from Lyon.",
    "Shop Signals. All rights reserved.",
]
PROSE = [
    LONG,
    "Two million people follow him on Twitter, and his posts move prices.",
    "The registry joined forces with couriers; shares rose 4% on the news.",
    "Sellers who get their stock to the hub early pay less.",
    "With the holidays coming, couriers hired 20,000 drivers.",
]


def _case_variants(text: str) -> list[str]:
    # İ, ı and ſ match i and s case-insensitively although lower() keeps them apart.
    return [
        text,
        text.upper(),
        text.title(),
        text.replace("i", "İ"),
        text.replace("i", "ı"),
        text.replace("s", "ſ"),
        "“" + text + "”",
    ]


def test_prompt_and_credit_shortcuts_agree_with_the_full_patterns() -> None:
    import re

    from watch import boilerplate

    # The credit pattern as one search, as it was before it was split for speed.
    credit = re.compile(
        "^"
        + boilerplate._CREDIT_START.pattern.replace("|\\W*", "|^\\W*")
        + "|"
        + boilerplate._CREDIT_ANYWHERE.pattern,
        re.IGNORECASE,
    )
    for line in PROMPTS + CREDITS + PROSE:
        for text in _case_variants(line):
            assert boilerplate._is_prompt(text) == bool(boilerplate._PROMPT.search(text)), text
            assert boilerplate._is_credit(text) == bool(credit.search(text)), text
    assert all(boilerplate._is_prompt(line) for line in PROMPTS)
    assert all(boilerplate._is_credit(line) for line in CREDITS)
    assert not any(boilerplate._is_prompt(line) or boilerplate._is_credit(line) for line in PROSE)


def test_words_splits_ascii_and_other_text_as_the_word_pattern_does() -> None:
    import re

    from watch.boilerplate import normalized, normalized_many, words

    samples = [
        LONG,
        "it's 9:30 a.m. -- the_end!! (50%) x=1;y=2 \t\n tabs\x1fand\x0bcontrols",
        "Les élèves d’aujourd’hui — « vite » … 3½ ﬁn İstanbul ß",
        "",
        "   ",
    ]
    for text in samples:
        assert words(text) == re.findall(r"\w+", text)
        assert normalized(text) == " ".join(re.findall(r"\w+", text)).lower()
    expected = [" ".join(re.findall(r"\w+", text)).lower() for text in samples]
    assert normalized_many(samples) == expected
    ascii_only = [text for text in samples if text.isascii()]
    assert normalized_many(ascii_only) == [normalized(text) for text in ascii_only]
    assert normalized_many([]) == []


def test_a_page_walked_once_gives_the_same_metadata_recovery_and_cleaning() -> None:
    from pathlib import Path

    from watch.extract import _body, parse_html
    from watch.page_elements import PageElements
    from watch.page_metadata import read_metadata

    pages = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
    for path in sorted(pages.glob("*.html")):
        tree = parse_html(path.read_bytes())
        assert tree is not None
        elements = PageElements(tree)
        assert read_metadata(tree, "https://x.test/", elements) == read_metadata(
            tree, "https://x.test/"
        )
        meta = read_metadata(tree, "https://x.test/")
        with_index, without = _body(tree, None, fast=True), _body(tree, None, fast=True)
        assert with_index is not None and without is not None
        assert recover_paragraphs(with_index, tree, elements) == recover_paragraphs(without, tree)
        assert clean_body(with_index, tree, meta, elements) == clean_body(without, tree, meta)
        assert texts(with_index) == texts(without)


def test_the_standfirst_lookup_gives_the_same_answer_from_the_gathered_paragraphs() -> None:
    from watch.page_elements import PageElements

    dek = "Shoppers spent more online than in stores for the first time this autumn."
    second = "The shift was sharpest in clothing, where online sales rose by a quarter."
    meta = PageMetadata(titles=["Online overtakes stores"], description=dek)
    pages = [
        # The dek inside inline markup, in a container of its own.
        f"<html><body><header><p class='dek'><strong>{dek}</strong></p></header>"
        f"<div class='body'><p>{second}</p></div></body></html>",
        # The same words earlier in a teaser outside any paragraph: the first match wins.
        f"<html><body><nav><span>{dek}</span></nav><div><p>{dek}</p><p>{second}</p></div>"
        "</body></html>",
        f"<html><body><div class='teaser'>{second}</div><header><p>{dek}</p></header>"
        f"<div><p>{second}</p></div></body></html>",
        # Nested paragraphs: a quote holding the next paragraph.
        f"<html><body><p>{dek}</p><blockquote>Said <p>{second}</p></blockquote></body></html>",
        # Only one of the two texts in a paragraph: the whole page is scanned.
        f"<html><body><h2>{dek}</h2><div><p>{second}</p></div></body></html>",
    ]
    outcomes = []
    for html in pages:
        page = lxml.html.document_fromstring(html)
        with_index, without = body_of(("p", dek), ("p", second)), body_of(("p", dek), ("p", second))
        removed = clean_body(with_index, page, meta, PageElements(page))
        assert removed == clean_body(without, page, meta)
        outcomes.append(removed)
    assert outcomes[0] == {dek: "standfirst"}
    assert outcomes[3] == {dek: "standfirst"}
