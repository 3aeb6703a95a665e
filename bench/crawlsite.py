"""A generated news site for the crawl benchmark, and a fast server for it.

The site imitates an e-commerce trade publication: a home page, section
pages, thousands of article pages with navigation, breadcrumbs, related links,
a comment thread, a newsletter box and a heavy footer (10-50 KB each), a
sitemap index with child sitemaps, RSS feeds per section and an Atom feed.
All text is generated from a small vocabulary with a seeded random generator,
so the site is varied, reproducible and copies nothing. A few percent of the
articles are lightly rewritten copies of earlier ones (syndication), so the
crawl exercises near-duplicate detection too.

Run as a script it serves a generated site directory from memory:
    python bench/crawlsite.py serve SITE_DIR --host 127.0.0.2 --port 80
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import random
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

GENERATOR_VERSION = 4
# The benchmark's reference day: every date on the site is before it.
SITE_DAY = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
SITEMAP_CHUNK = 1000

SECTIONS = {
    "seo": "Search & SEO",
    "marketplaces": "Marketplaces",
    "payments": "Payments",
    "logistics": "Logistics",
    "platforms": "Commerce platforms",
    "retail-media": "Retail media",
    "pricing": "Pricing",
    "regulation": "Regulation",
}


def _vocab(text: str) -> list[str]:
    """Whitespace-separated words as a list (keeps the vocabulary readable)."""
    return text.split()


# A vocabulary written for this benchmark: plain English trade-press words.
NOUNS = _vocab(
    """
retailer merchant marketplace platform checkout basket cart shopper customer buyer seller
brand catalogue inventory warehouse carrier parcel delivery return refund price margin
discount promotion campaign budget audience traffic ranking index crawler sitemap snippet
keyword query result listing review rating feed product variant category search engine
algorithm update report survey analyst quarter revenue growth volume order shipment
fulfilment network partner integration plugin extension theme storefront app payment
wallet card fraud chargeback subscription loyalty programme coupon voucher fee commission
policy regulation directive authority consumer label tax duty border logistics courier
locker hub route fleet driver forecast demand season holiday peak launch feature pilot
test experiment dashboard metric conversion session bounce funnel segment cohort retention
acquisition channel advertiser publisher placement auction bid impression click agency
vendor supplier manufacturer distributor wholesaler reseller region market country city
team executive founder investor round valuation acquisition merger rival competitor share
"""
)
ADJECTIVES = _vocab(
    """
new major small large early late quarterly annual cautious aggressive steady rapid slow
strong weak mobile local global cross-border independent regional mid-sized premium
low-cost same-day next-day automated manual organic paid sponsored structured unstructured
seasonal recurring open closed stricter looser faster cheaper broader narrower first final
recent upcoming expected surprising modest significant notable unusual familiar detailed
"""
)
VERBS = _vocab(
    """
announced launched expanded reported confirmed tested delayed reduced raised cut doubled
introduced retired replaced updated changed rolled-out extended limited opened closed
acquired partnered integrated measured tracked published revised warned predicted
signalled promised delivered shipped processed approved rejected reviewed adopted
"""
)
ADVERBS = _vocab(
    """
quietly sharply gradually finally again already recently widely slowly quickly openly
"""
)
PREPOSITIONS = _vocab(
    """
in for across with after before during under over through within beyond around against
"""
)
CONNECTORS = [
    "Meanwhile,",
    "However,",
    "In practice,",
    "According to the company,",
    "By contrast,",
    "At the same time,",
    "For now,",
    "As a result,",
    "In a statement,",
    "Analysts said",
    "Several merchants noted that",
    "The data suggests that",
]
COMPANIES = _vocab(
    """
Nordmarkt Shoplane Baskety Vendora Parcelio Cartwell Pricemint Tradeloop Quillpay Rankwise
Stockhaven Merchkit Dispatcha Orderbird Lumicart Brightshelf Kaufhalle Mercatino Valuvia
Zentrada Hubstead Fennick Corvo Plinth Ardent Tessel Mosaique Kestrel Oakridge Juniper
"""
)
FIRST_NAMES = _vocab(
    """
Anna Marc Lea Tomas Ines Julien Sara Piotr Eva Hugo Nora Felix Clara Ivan Maya Luca Ada
Oskar Rita Jonas Elif Paul Yara Emil Lina Victor Alma Noah Ida Remi
"""
)
LAST_NAMES = _vocab(
    """
Berger Moreau Novak Lindqvist Rossi Keller Dubois Silva Kowalski Haas Marin Olsen Petit
Varga Roth Costa Janssen Weber Laurent Horvat Sauer Blanc Nilsson Faure Brandt
"""
)


@dataclass
class SiteManifest:
    """What was generated: enough to serve the site and to check a cache."""

    origin: str
    pages: int
    seed: int
    generator: int
    article_paths: list[str]
    total_bytes: int

    @property
    def article_urls(self) -> list[str]:
        """Absolute URLs of every article page."""
        return [self.origin + p for p in self.article_paths]


@dataclass
class _Article:
    index: int
    section: str
    slug: str
    title: str
    author: str
    published: datetime
    lead: str
    body: list[tuple[str, str]]  # (kind, text) with kind in p, h2, li, quote
    tags: list[str]

    @property
    def path(self) -> str:
        return f"/{self.section}/{self.published:%Y/%m}/{self.slug}.html"


class _Words:
    """Sentence and paragraph generator over the vocabulary."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def noun_phrase(self) -> str:
        r = self.rng
        parts = [r.choice(("the", "a", "its", "their", "this", "one"))]
        if r.random() < 0.6:
            parts.append(r.choice(ADJECTIVES))
        parts.append(r.choice(NOUNS))
        if r.random() < 0.25:
            parts.append(r.choice(NOUNS))
        return " ".join(parts)

    def sentence(self) -> str:
        r = self.rng
        subject = r.choice(COMPANIES) if r.random() < 0.35 else self.noun_phrase()
        words = [subject]
        if r.random() < 0.2:
            words.append(r.choice(ADVERBS))
        words += [r.choice(VERBS), self.noun_phrase()]
        for _ in range(r.randint(0, 3)):
            words += [r.choice(PREPOSITIONS), self.noun_phrase()]
        if r.random() < 0.3:
            words += ["by", f"{r.randint(2, 60)} percent"]
        text = " ".join(words)
        if r.random() < 0.3:
            text = f"{r.choice(CONNECTORS)} {text}"
        return text[0].upper() + text[1:] + "."

    def paragraph(self, low: int = 3, high: int = 7) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(low, high)))

    def title(self) -> str:
        r = self.rng
        company = r.choice(COMPANIES)
        verb = r.choice(VERBS).replace("-", " ")
        tail = f"{r.choice(PREPOSITIONS)} {self.noun_phrase()}"
        return f"{company} {verb} {self.noun_phrase()} {tail}".title()


def _make_article(index: int, words: _Words, rng: random.Random) -> _Article:
    section = rng.choice(list(SECTIONS))
    title = words.title()
    slug = "-".join(title.lower().split()[:8]).replace("'", "") + f"-{index}"
    published = SITE_DAY - timedelta(minutes=rng.randint(60, 730 * 24 * 60))
    # Body length drives page size: most pages 10-30 KB, a tail up to ~50 KB.
    n_paras = min(int(rng.lognormvariate(2.3, 0.6)) + 2, 46)
    body: list[tuple[str, str]] = []
    for i in range(n_paras):
        if i and i % 5 == 0 and rng.random() < 0.7:
            body.append(("h2", words.title()))
        roll = rng.random()
        if roll < 0.05:
            body.append(("quote", words.sentence()))
        elif roll < 0.09:
            body.extend(("li", words.sentence()) for _ in range(rng.randint(3, 5)))
        else:
            body.append(("p", words.paragraph()))
    return _Article(
        index=index,
        section=section,
        slug=slug,
        title=title,
        author=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        published=published,
        lead=words.paragraph(2, 3),
        body=body,
        tags=sorted(set(rng.sample(NOUNS, 4))),
    )


def _syndicate(original: _Article, index: int, words: _Words, rng: random.Random) -> _Article:
    """A lightly rewritten copy of an article, as a partner site would republish it."""
    body = list(original.body)
    for _ in range(max(1, len(body) // 10)):
        pos = rng.randrange(len(body))
        if body[pos][0] == "p":
            body[pos] = ("p", words.paragraph())
    title = f"{original.title} (Partner Report)"
    return _Article(
        index=index,
        section=original.section,
        slug=f"{original.slug}-partner-{index}",
        title=title,
        author=original.author,
        published=original.published + timedelta(hours=rng.randint(1, 48)),
        lead=original.lead,
        body=body,
        tags=original.tags,
    )


_STYLE = "\n".join(
    f".c{i} {{ margin: {i % 7}px {i % 5}px; padding: {i % 3}px; color: #{i * 1117 % 4096:03x}; }}"
    for i in range(8)
)
SUBSECTIONS = ("news", "analysis", "data")
_ICON = (
    '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true">'
    '<path d="M12 2C6.5 2 2 6.5 2 12s4.5 10 10 10 10-4.5 10-10S17.5 2 12 2z"/></svg>'
)


def _header(origin: str) -> str:
    """Top bar, mega menu (sections x sub-sections) and cookie banner."""
    menu = []
    for key, label in SECTIONS.items():
        subs = "".join(
            f'<li class="mega-menu__item"><a class="mega-menu__link" '
            f'href="{origin}/{key}/{sub}/"><span>{sub.title()}</span></a></li>'
            for sub in SUBSECTIONS
        )
        menu.append(
            f'<li class="nav__item nav__item--has-children"><a class="nav__link" '
            f'href="{origin}/{key}/"><span class="nav__label">{html.escape(label)}</span></a>'
            f'<div class="mega-menu"><div class="mega-menu__inner"><ul class="mega-menu__list">'
            f"{subs}</ul></div></div></li>"
        )
    return (
        '<header class="site-header"><div class="site-header__inner">'
        '<div class="top-bar"><div class="top-bar__left"><a class="logo" href="/">'
        f'{_ICON}<span class="logo__text">Commerce Ledger</span></a></div>'
        '<div class="top-bar__right"><form class="search" action="/search">'
        '<label class="visually-hidden" for="q">Search</label>'
        '<input id="q" name="q" placeholder="Search"><button type="submit">'
        f"{_ICON}</button></form>"
        '<a class="btn btn--primary" href="/subscribe">Subscribe</a> '
        '<a class="btn" href="/login">Sign in</a></div></div>'
        f'<nav class="nav" aria-label="Sections"><ul class="nav__list">{"".join(menu)}'
        '<li class="nav__item"><a class="nav__link" href="/events/">Events</a></li>'
        '<li class="nav__item"><a class="nav__link" href="/jobs/">Jobs</a></li>'
        '<li class="nav__item"><a class="nav__link" href="/podcasts/">Podcasts</a></li>'
        "</ul></nav></div></header>"
        '<div class="cookie-banner" role="dialog"><div class="cookie-banner__text">'
        "<p>We use cookies to measure audience and remember your preferences.</p>"
        '<p><a href="/privacy">Privacy policy</a></p></div><div class="cookie-banner__actions">'
        "<button>Accept all</button> <button>Refuse</button></div></div>"
    )


def _footer(origin: str, rng: random.Random) -> str:
    """A heavy footer: archive columns, partners, social icons, legal links."""
    cols = []
    for key, label in SECTIONS.items():
        links = "".join(
            f'<li class="footer__item"><a href="{origin}/{key}/?page={n}">'
            f"<span>{html.escape(label)} archive, page {n}</span></a></li>"
            for n in range(1, 4)
        )
        cols.append(
            f'<div class="footer__col"><h4 class="footer__title">{html.escape(label)}</h4>'
            f'<ul class="footer__list">{links}</ul></div>'
        )
    partners = ", ".join(rng.sample(COMPANIES, 8))
    social = "".join(
        f'<li><a href="/follow/{name}" aria-label="{name}">{_ICON}</a></li>'
        for name in ("mail", "rss", "video")
    )
    return (
        '<footer class="site-footer"><div class="footer__grid">'
        + "".join(cols)
        + f'</div><ul class="footer__social">{social}</ul>'
        '<div class="legal"><p>Commerce Ledger is an independent trade publication. '
        f"Our partners include {partners}. Sponsored content is always labelled.</p>"
        '<p><a href="/about">About us</a> | <a href="/contact">Contact</a> | '
        '<a href="/advertise">Advertise</a> | <a href="/privacy">Privacy</a> | '
        '<a href="/terms">Terms of use</a> | <a href="/feeds/">RSS feeds</a></p>'
        "<p>Copyright 2026 Commerce Ledger Media. All rights reserved.</p></div></footer>"
    )


def _inline_markup(text: str, rng: random.Random, origin: str, section: str) -> str:
    """Escape a paragraph and dress a few words as links and emphasis, as editors do."""
    words = html.escape(text).split(" ")
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(words))
        if rng.random() < 0.5:
            words[i] = f'<a href="{origin}/tag/{rng.choice(NOUNS)}/">{words[i]}</a>'
        else:
            words[i] = f"<em>{words[i]}</em>"
    return " ".join(words)


def _story_body(art: _Article, origin: str, words: _Words) -> str:
    """The article body as a CMS renders it: each block in its own wrapper."""
    rng = words.rng
    esc = html.escape
    out: list[str] = []
    items: list[str] = []

    def flush_list() -> None:
        if items:
            out.append(f'<div class="block block--list"><ul>{"".join(items)}</ul></div>')
            items.clear()

    for kind, text in art.body:
        if kind == "li":
            items.append(f"<li>{esc(text)}</li>")
            continue
        flush_list()
        if kind == "h2":
            out.append(f'<div class="block block--heading"><h2>{esc(text)}</h2></div>')
        elif kind == "quote":
            out.append(
                f'<div class="block block--quote"><blockquote><p>{esc(text)}</p>'
                f"<cite>{esc(art.author)}</cite></blockquote></div>"
            )
        else:
            body = _inline_markup(text, rng, origin, art.section)
            out.append(f'<div class="block block--text"><p>{body}</p></div>')
        if len(out) == 3:
            out.append(
                '<div class="block block--ad"><div class="ad-slot" data-slot="inline-1">'
                "<span>Advertisement</span></div></div>"
            )
        if len(out) == 6:
            out.append(
                f'<div class="block block--image"><figure><picture>'
                f'<source srcset="/img/{art.index}.webp" type="image/webp">'
                f'<img src="/img/{art.index}.jpg" alt="{esc(art.title)}" width="800" '
                f'height="450"></picture><figcaption>{esc(words.sentence())}</figcaption>'
                "</figure></div>"
            )
    flush_list()
    return "".join(out)


def _cards(origin: str, arts: list[_Article], css: str) -> str:
    """Teaser cards (image, kicker, title, date) for related and most-read lists."""
    return "".join(
        f'<li class="{css}__item"><article class="card"><a class="card__link" '
        f'href="{origin}{r.path}"><div class="card__media"><img src="/img/{r.index}-s.jpg" '
        f'alt="" width="160" height="90"></div><div class="card__body">'
        f'<span class="card__kicker">{html.escape(SECTIONS[r.section])}</span>'
        f'<span class="card__title">{html.escape(r.title)}</span>'
        f'<time class="card__date">{r.published:%d %b %Y}</time></div></a></article></li>'
        for r in arts
    )


def _article_html(art: _Article, origin: str, related: list[_Article], words: _Words) -> str:
    """A full article page."""
    rng = words.rng
    url = origin + art.path
    section_label = SECTIONS[art.section]
    esc = html.escape
    comments = "".join(
        f'<li class="comment"><div class="comment__meta"><span class="comment__author">'
        f"{esc(rng.choice(FIRST_NAMES))} {esc(rng.choice(LAST_NAMES)[0])}.</span>"
        f'<span class="comment__date">{rng.randint(1, 28)} days ago</span></div>'
        f'<div class="comment__body"><p>{esc(words.sentence())}</p></div>'
        '<div class="comment__actions"><button>Reply</button><button>Report</button></div></li>'
        for _ in range(rng.randint(0, 4))
    )
    tags = "".join(
        f'<li class="tags__item"><a href="{origin}/tag/{t}/">{esc(t)}</a></li>' for t in art.tags
    )
    iso = art.published.isoformat(timespec="seconds")
    author_slug = art.author.lower().replace(" ", "-")
    json_ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": art.title,
            "datePublished": iso,
            "author": {"@type": "Person", "name": art.author},
            "publisher": {"@type": "Organization", "name": "Commerce Ledger"},
            "mainEntityOfPage": url,
        }
    )
    data_layer = json.dumps({"section": art.section, "id": art.index})
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(art.title)} | Commerce Ledger</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="description" content="{esc(art.lead[:200])}">'
        f'<meta name="author" content="{esc(art.author)}">'
        f'<meta name="keywords" content="{esc(", ".join(art.tags))}">'
        f'<link rel="canonical" href="{url}">'
        f'<link rel="alternate" type="application/rss+xml" title="{esc(section_label)}" '
        f'href="{origin}/feeds/{art.section}.xml">'
        '<meta property="og:type" content="article">'
        f'<meta property="og:title" content="{esc(art.title)}">'
        f'<meta property="og:url" content="{url}">'
        '<meta property="og:site_name" content="Commerce Ledger">'
        f'<meta property="article:published_time" content="{iso}">'
        f'<meta property="article:section" content="{esc(section_label)}">'
        f'<script type="application/ld+json">{json_ld}</script>'
        f"<style>{_STYLE}</style>"
        f"<script>window.dataLayer = window.dataLayer || []; dataLayer.push({data_layer});"
        "</script></head>"
    )
    story = (
        '<article class="story"><header class="story__header">'
        f'<h1 class="story__headline">{esc(art.title)}</h1>'
        f'<div class="story__meta"><p class="byline">By <a rel="author" '
        f'href="{origin}/authors/{author_slug}/">{esc(art.author)}</a></p>'
        f'<time datetime="{iso}">{art.published:%d %B %Y, %H:%M}</time></div>'
        f'<p class="story__lead"><strong>{esc(art.lead)}</strong></p></header>'
        f'<div class="story__body">{_story_body(art, origin, words)}</div>'
        f'<footer class="story__footer"><ul class="tags">{tags}</ul>'
        '<div class="share"><span>Share:</span> <a href="/share?to=mail">'
        f'{_ICON}</a> <a href="/share?to=social">{_ICON}</a> '
        f'<a href="/print/{art.index}">{_ICON}</a></div></footer></article>'
    )
    asides = (
        '<aside class="newsletter"><p class="newsletter__title">The morning briefing</p>'
        "<p>Get the ten stories that matter to online retail in your inbox, "
        'every weekday before nine.</p><form action="/newsletter">'
        '<input type="email" name="email" placeholder="you@example.com">'
        "<button>Sign up</button></form></aside>"
        '<section class="comments"><p class="comments__title">Reader comments</p>'
        f'<ul class="comments__list">{comments}</ul>'
        '<p><a href="/login">Sign in to comment</a>. Comments are moderated.</p></section>'
        '<aside class="related"><p class="related__title">Related stories</p>'
        f'<ul class="related__list">{_cards(origin, related, "related")}</ul></aside>'
        '<aside class="most-read"><p class="most-read__title">Most read this week</p>'
        f'<ol class="most-read__list">{_cards(origin, related[:3], "most-read")}</ol></aside>'
    )
    breadcrumb = (
        f'<nav class="breadcrumb"><ol><li><a href="{origin}/">Home</a></li>'
        f'<li><a href="{origin}/{art.section}/">{esc(section_label)}</a></li></ol></nav>'
    )
    return (
        f'{head}<body class="article-page"><div class="page">{_header(origin)}{breadcrumb}'
        f'<main class="layout"><div class="layout__main">{story}</div>'
        f'<div class="layout__side">{asides}</div></main>{_footer(origin, rng)}</div>'
        "</body></html>\n"
    )


def _listing_html(origin: str, title: str, arts: list[_Article], rng: random.Random) -> str:
    items = "".join(
        f'<li class="teaser"><a href="{origin}{a.path}">{html.escape(a.title)}</a>'
        f"<p>{html.escape(a.lead[:160])}</p></li>"
        for a in arts
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} | Commerce Ledger</title>"
        '<meta property="og:type" content="website"></head><body>'
        f"{_header(origin)}<main><h1>{html.escape(title)}</h1><ul>{items}</ul></main>"
        f"{_footer(origin, rng)}</body></html>"
    )


def _rss(origin: str, title: str, arts: list[_Article]) -> str:
    items = "".join(
        f"<item><title>{html.escape(a.title)}</title><link>{origin}{a.path}</link>"
        f'<guid isPermaLink="true">{origin}{a.path}</guid>'
        f"<pubDate>{a.published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
        f"<author>{html.escape(a.author)}</author>"
        f"<description>{html.escape(a.lead)}</description></item>"
        for a in arts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>{origin}/</link>"
        f"<description>{html.escape(title)} from Commerce Ledger</description>{items}"
        "</channel></rss>"
    )


def _atom(origin: str, arts: list[_Article]) -> str:
    entries = "".join(
        f"<entry><title>{html.escape(a.title)}</title>"
        f'<link rel="alternate" href="{origin}{a.path}"/><id>{origin}{a.path}</id>'
        f"<updated>{a.published.isoformat(timespec='seconds')}</updated>"
        f"<author><name>{html.escape(a.author)}</name></author>"
        f"<summary>{html.escape(a.lead)}</summary></entry>"
        for a in arts
    )
    updated = SITE_DAY.isoformat(timespec="seconds")
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Commerce Ledger</title><id>{origin}/</id><updated>{updated}</updated>"
        f'<link rel="self" href="{origin}/feed.atom"/>{entries}</feed>'
    )


def _sitemap(origin: str, arts: list[_Article]) -> str:
    urls = "".join(
        f"<url><loc>{origin}{a.path}</loc>"
        f"<lastmod>{a.published.isoformat(timespec='seconds')}</lastmod></url>"
        for a in arts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )


def _sitemap_index(origin: str, names: list[str]) -> str:
    entries = "".join(
        f"<sitemap><loc>{origin}/sitemaps/{n}</loc>"
        f"<lastmod>{SITE_DAY.isoformat(timespec='seconds')}</lastmod></sitemap>"
        for n in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    )


def subset_sitemap_path(count: int) -> str:
    """The path of the sitemap listing only the first `count` articles."""
    return f"/sitemaps/subset-{count}.xml"


def generate(
    root: Path, origin: str, pages: int, seed: int = 2026, subsets: tuple[int, ...] = ()
) -> SiteManifest:
    """Write the site under `root` (reusing it when already generated the same way)."""
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        data = json.loads(manifest_path.read_text())
        cached = SiteManifest(**data)
        if (cached.origin, cached.pages, cached.seed, cached.generator) == (
            origin,
            pages,
            seed,
            GENERATOR_VERSION,
        ):
            _write_subsets(root, origin, cached, subsets)
            return cached
    rng = random.Random(seed)
    words = _Words(rng)
    arts: list[_Article] = []
    for i in range(pages):
        if i > 50 and rng.random() < 0.03:
            arts.append(_syndicate(rng.choice(arts[:i]), i, words, rng))
        else:
            arts.append(_make_article(i, words, rng))
    by_section: dict[str, list[_Article]] = {k: [] for k in SECTIONS}
    for a in arts:
        by_section[a.section].append(a)
    total = 0
    for a in arts:
        pool = by_section[a.section]
        related = [pool[rng.randrange(len(pool))] for _ in range(6)]
        page = _article_html(a, origin, related, words).encode()
        total += len(page)
        out = root / a.path.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(page)
    newest = sorted(arts, key=lambda a: a.published, reverse=True)
    (root / "index.html").write_text(_listing_html(origin, "Commerce Ledger", newest[:60], rng))
    (root / "feeds").mkdir(exist_ok=True)
    for key, label in SECTIONS.items():
        sec = sorted(by_section[key], key=lambda a: a.published, reverse=True)
        (root / key).mkdir(exist_ok=True)
        (root / key / "index.html").write_text(_listing_html(origin, label, sec[:50], rng))
        (root / "feeds" / f"{key}.xml").write_text(_rss(origin, label, sec[:50]))
    (root / "feed.atom").write_text(_atom(origin, newest[:100]))
    names = []
    (root / "sitemaps").mkdir(exist_ok=True)
    for n, start in enumerate(range(0, len(arts), SITEMAP_CHUNK), 1):
        name = f"articles-{n}.xml"
        names.append(name)
        (root / "sitemaps" / name).write_text(_sitemap(origin, arts[start : start + SITEMAP_CHUNK]))
    (root / "sitemap.xml").write_text(_sitemap_index(origin, names))
    manifest = SiteManifest(
        origin=origin,
        pages=pages,
        seed=seed,
        generator=GENERATOR_VERSION,
        article_paths=[a.path for a in arts],
        total_bytes=total,
    )
    manifest_path.write_text(json.dumps(asdict(manifest)))
    _write_subsets(root, origin, manifest, subsets)
    return manifest


def _write_subsets(
    root: Path, origin: str, manifest: SiteManifest, subsets: tuple[int, ...]
) -> None:
    for count in subsets:
        paths = manifest.article_paths[:count]
        urls = "".join(f"<url><loc>{origin}{p}</loc></url>" for p in paths)
        (root / subset_sitemap_path(count).lstrip("/")).write_text(
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )


_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".txt": "text/plain; charset=utf-8",
}


def load_site(root: Path, robots_sitemap: str) -> dict[str, tuple[bytes, str, str]]:
    """Every file of the site in memory: path -> (body, content type, ETag)."""
    files: dict[str, tuple[bytes, str, str]] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.name == "manifest.json":
            continue
        rel = "/" + path.relative_to(root).as_posix()
        body = path.read_bytes()
        etag = '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
        files[rel] = (body, _TYPES.get(path.suffix, "application/octet-stream"), etag)
        if path.name == "index.html":
            files[rel[: -len("index.html")]] = files[rel]
    robots = f"User-agent: *\nAllow: /\nSitemap: {robots_sitemap}\n".encode()
    files["/robots.txt"] = (robots, _TYPES[".txt"], '"robots"')
    return files


class _SiteProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive: GET/HEAD, ETag revalidation, one write per answer."""

    def __init__(self, files: dict[str, tuple[bytes, str, str]], heads: dict[str, bytes]) -> None:
        self.files = files
        self.heads = heads
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self._answer(head)

    def _answer(self, head: bytes) -> None:
        assert self.transport is not None
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        method = parts[0]
        path = parts[1].split(b"?", 1)[0].decode("latin-1") if len(parts) > 1 else "/"
        if_none_match = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"if-none-match":
                if_none_match = value.strip().decode("latin-1")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        entry = self.files.get(path)
        if entry is None:
            body = b"not found\n"
            out = _NOT_FOUND_HEAD % len(body) + body
        elif if_none_match == entry[2]:
            out = _NOT_MODIFIED_HEAD % entry[2].encode()
        else:
            out = self.heads[path] + (entry[0] if method != b"HEAD" else b"")
        self.transport.write(out)
        if close:
            self.transport.close()


_LAST_MODIFIED = SITE_DAY.strftime("%a, %d %b %Y %H:%M:%S GMT").encode()
_NOT_FOUND_HEAD = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
)
_NOT_MODIFIED_HEAD = (
    b"HTTP/1.1 304 Not Modified\r\nETag: %s\r\nLast-Modified: " + _LAST_MODIFIED + b"\r\n\r\n"
)


def _response_heads(files: dict[str, tuple[bytes, str, str]]) -> dict[str, bytes]:
    """The 200 status line and headers of every file, built once."""
    return {
        path: (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"ETag: {etag}\r\n"
        ).encode()
        + b"Last-Modified: "
        + _LAST_MODIFIED
        + b"\r\n\r\n"
        for path, (body, ctype, etag) in files.items()
    }


def serve(root: Path, host: str, port: int, robots_sitemap: str) -> None:
    """Serve the site until stdin closes; prints 'ready PORT' once listening."""
    files = load_site(root, robots_sitemap)
    heads = _response_heads(files)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _SiteProtocol(files, heads), host, port, reuse_address=True, backlog=512
        )
        print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
        # The parent closes our stdin (or dies) to stop us.
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    """Command line: `generate` a site or `serve` one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("generate", help="write a site")
    gen.add_argument("root", type=Path)
    gen.add_argument("--origin", default="http://127.0.0.2")
    gen.add_argument("--pages", type=int, default=5000)
    srv = sub.add_parser("serve", help="serve a generated site")
    srv.add_argument("root", type=Path)
    srv.add_argument("--host", default="127.0.0.2")
    srv.add_argument("--port", type=int, default=80)
    srv.add_argument("--robots-sitemap", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "generate":
        m = generate(args.root, args.origin, args.pages)
        print(f"{m.pages} pages, {m.total_bytes / m.pages / 1024:.1f} KB average")
    else:
        serve(args.root, args.host, args.port, args.robots_sitemap)


if __name__ == "__main__":
    main()
