"""Render the demo web: every page, feed and sitemap of every demo site, from content models.

Dates are relative to one `now` taken when the web is rendered, so items look
fresh in every run and the pages stay byte-identical while the server runs
(which lets a second crawl get 304s).
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from watch.demo.content import DemoArticle, DemoPage, DemoProduct, DemoSite

LABELS = {
    "en": {
        "menu": "Main menu",
        "search": "Search",
        "latest": "Latest",
        "newsletter": "Newsletter",
        "newsletter_pitch": "The week's news in your inbox every Friday.",
        "privacy": "Privacy",
        "privacy_text": "We keep the data needed to deliver your orders and newsletters, "
        "and nothing else. Write to us to see or delete yours.",
        "rights": "All rights reserved.",
        "fictional": "Fictional site: content written for the Veille demo.",
        "home": "Home",
        "by": "By",
        "tags": "Tags",
        "share": "Share",
        "related": "Related articles",
        "comments": "Comments",
        "comments_closed": "Comments are closed for this article.",
        "newer": "Newer",
        "older": "Older",
        "page": "Page",
        "shop": "Shop the range",
        "news": "News",
        "not_found": "This page does not exist.",
    },
    "fr": {
        "menu": "Menu principal",
        "search": "Rechercher",
        "latest": "À la une",
        "newsletter": "Lettre d'information",
        "newsletter_pitch": "L'essentiel de la semaine, chaque vendredi.",
        "privacy": "Confidentialité",
        "privacy_text": "Nous ne conservons que les données nécessaires à l'envoi de nos "
        "lettres. Écrivez-nous pour les consulter ou les supprimer.",
        "rights": "Tous droits réservés.",
        "fictional": "Site fictif : contenu écrit pour la démo de Veille.",
        "home": "Accueil",
        "by": "Par",
        "tags": "Mots-clés",
        "share": "Partager",
        "related": "À lire aussi",
        "comments": "Commentaires",
        "comments_closed": "Les commentaires sont fermés.",
        "newer": "Plus récents",
        "older": "Plus anciens",
        "page": "Page",
        "shop": "La boutique",
        "news": "Actualités",
        "not_found": "Cette page n'existe pas.",
    },
}


@dataclass
class Resource:
    """One thing the demo server answers: a body, its type and when it last changed."""

    body: bytes
    content_type: str
    last_modified: datetime
    status: int = 200
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        self.etag = '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


@dataclass
class ArticleView:
    """An article as templates see it: absolute URL and real dates."""

    article: DemoArticle
    site: DemoSite
    base: str
    now: datetime

    def __getattr__(self, name: str) -> Any:
        return getattr(self.article, name)

    @property
    def path(self) -> str:
        """The page's path."""
        return self.site.article_url_path(self.article)

    @property
    def url(self) -> str:
        """The page's absolute URL."""
        return self.base + self.path

    @property
    def published(self) -> datetime:
        """When it was published: `hours_ago` before the web's `now`."""
        return self.now - timedelta(hours=self.article.hours_ago)

    @property
    def language(self) -> str:
        """The article's language (the site's unless it says otherwise)."""
        return self.article.language or self.site.language

    @property
    def section_path(self) -> str:
        """Where the article's section is listed."""
        return (
            self.site.index_path
            if self.site.kind in ("marketplace", "shop")
            else (f"/category/{slugify(self.article.section)}/")
        )

    @property
    def json_ld(self) -> dict[str, Any]:
        """schema.org NewsArticle metadata."""
        return {
            "@context": "https://schema.org",
            "@type": "NewsArticle" if self.site.kind == "press" else "BlogPosting",
            "headline": self.article.title,
            "datePublished": self.published.isoformat(),
            "author": {"@type": "Person", "name": self.article.author},
            "publisher": {"@type": "Organization", "name": self.site.name},
            "inLanguage": self.language,
            "keywords": ", ".join(self.article.keywords),
            "mainEntityOfPage": self.url,
        }


@dataclass
class ProductView:
    """A product as templates see it."""

    product: DemoProduct
    site: DemoSite
    base: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.product, name)

    @property
    def path(self) -> str:
        """The product page's path."""
        return self.site.product_url_path(self.product)

    @property
    def url(self) -> str:
        """The product page's absolute URL."""
        return self.base + self.path

    @property
    def price_text(self) -> str:
        """The price as shown in listings."""
        return f"€{self.product.price:.2f}"

    @property
    def json_ld(self) -> dict[str, Any]:
        """schema.org Product metadata with its offer."""
        availability = {
            "in_stock": "InStock",
            "low_stock": "LimitedAvailability",
            "out_of_stock": "OutOfStock",
        }[self.product.stock]
        return {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": self.product.name,
            "sku": self.product.sku,
            "brand": {"@type": "Brand", "name": self.site.name},
            "description": " ".join(self.product.description),
            "offers": {
                "@type": "Offer",
                "price": f"{self.product.price:.2f}",
                "priceCurrency": "EUR",
                "availability": f"https://schema.org/{availability}",
                "url": self.url,
            },
        }


def slugify(text: str) -> str:
    """A URL slug for a label ('Réglementation' -> 'reglementation')."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("watch.demo", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2", "xml.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["rfc822"] = lambda d: email.utils.format_datetime(d)
    env.filters["slug"] = slugify
    return env


class SiteRenderer:
    """Renders every resource of one site, served at `base`."""

    def __init__(self, site: DemoSite, base: str, now: datetime, env: Environment) -> None:
        self.site = site
        self.base = base
        self.now = now
        self.env = env
        views = [ArticleView(a, site, base, now) for a in site.articles]
        self.articles = sorted(views, key=lambda v: v.published, reverse=True)
        self.products = [ProductView(p, site, base) for p in site.products]

    @property
    def item_urls(self) -> list[str]:
        """The URLs a crawl of this site should store as items: articles and products."""
        return [a.url for a in self.articles] + [p.url for p in self.products]

    def render(self) -> dict[str, Resource]:
        """Every path this site answers, with its resource."""
        routes: dict[str, Resource] = {"/robots.txt": self._robots()}
        for view in self.articles:
            routes[view.path] = self._html("article.html.j2", view.published, **self._article(view))
        for product in self.products:
            routes[product.path] = self._html(
                "product.html.j2", self.now, product=product, canonical=product.url
            )
        for page in [*self.site.pages, self._privacy()]:
            routes[page.path] = self._page(page)
        routes.update(self._indexes())
        routes.update(self._feeds())
        return routes

    def not_found(self) -> Resource:
        """The site's 404 page."""
        res = self._html("not-found.html.j2", self.now, canonical=self.base + "/")
        res.status = 404
        return res

    # -- pages -------------------------------------------------------------

    def _context(self, **extra: Any) -> dict[str, Any]:
        context = {
            "site": self.site,
            "base": self.base,
            "now": self.now,
            "lang": self.site.language,
            "t": LABELS.get(self.site.language, LABELS["en"]),
            "nav": list(self._nav().items()),
            "recent": self.articles[:5],
            "products": self.products,
        }
        context.update(extra)
        return context

    def _nav(self) -> dict[str, str]:
        if self.site.nav:
            return self.site.nav
        sections = dict.fromkeys(a.section for a in self.articles)
        return {s: f"/category/{slugify(s)}/" for s in sections}

    def _html(self, template: str, modified: datetime, **extra: Any) -> Resource:
        body = self.env.get_template(template).render(self._context(**extra))
        return Resource(body.encode("utf-8"), "text/html; charset=utf-8", modified)

    def _article(self, view: ArticleView) -> dict[str, Any]:
        others = [a for a in self.articles if a is not view]
        same_section = [a for a in others if a.section == view.section]
        related = (same_section + [a for a in others if a not in same_section])[:3]
        return {
            "article": view,
            "related": related,
            "canonical": view.url,
            "lang": view.language,
        }

    def _page(self, page: DemoPage) -> Resource:
        return self._html("page.html.j2", self.now, page=page, canonical=self.base + page.path)

    def _privacy(self) -> DemoPage:
        labels = LABELS.get(self.site.language, LABELS["en"])
        return DemoPage(
            slug="privacy", path="/privacy", title=labels["privacy"], body=[labels["privacy_text"]]
        )

    def _indexes(self) -> dict[str, Resource]:
        routes: dict[str, Resource] = {}
        newest = self.articles[0].published if self.articles else self.now
        index = self.site.index_path
        pages = max(1, math.ceil(len(self.articles) / self.site.per_page))
        for number in range(1, pages + 1):
            path = index if number == 1 else f"{index}page/{number}/"
            chunk = self.articles[(number - 1) * self.site.per_page : number * self.site.per_page]
            pager = {
                "number": number,
                "count": pages,
                "previous": None
                if number == 1
                else (index if number == 2 else f"{index}page/{number - 1}/"),
                "next": f"{index}page/{number + 1}/" if number < pages else None,
            }
            routes[path] = self._html(
                "index.html.j2",
                newest,
                heading=LABELS.get(self.site.language, LABELS["en"])["news"]
                if index != "/"
                else self.site.name,
                intro=self.site.tagline,
                listing=chunk,
                pager=pager if pages > 1 else None,
                products=self.products if self.site.kind == "shop" else [],
                canonical=self.base + path,
            )
        if index != "/":
            routes["/"] = self._html(
                "index.html.j2",
                newest,
                heading=self.site.name,
                intro=self.site.tagline,
                listing=self.articles[:3],
                pager=None,
                products=self.products,
                canonical=self.base + "/",
            )
        else:
            for section, path in self._nav().items():
                listing = [a for a in self.articles if a.section == section]
                routes[path] = self._html(
                    "index.html.j2",
                    newest,
                    heading=section,
                    intro="",
                    listing=listing,
                    pager=None,
                    products=[],
                    canonical=self.base + path,
                )
        return routes

    # -- feeds -------------------------------------------------------------

    def _robots(self) -> Resource:
        text = self.site.robots.replace("{base}", self.base)
        return Resource(text.encode("utf-8"), "text/plain; charset=utf-8", self.now)

    def _xml(self, template: str, content_type: str) -> Resource:
        newest = self.articles[0].published if self.articles else self.now
        body = self.env.get_template(template).render(
            site=self.site, base=self.base, entries=self.articles, updated=newest
        )
        return Resource(body.encode("utf-8"), content_type, newest)

    def _feeds(self) -> dict[str, Resource]:
        feed = self.site.feed
        if feed == "rss":
            return {"/feed.xml": self._xml("rss.xml.j2", "application/rss+xml; charset=utf-8")}
        if feed == "atom":
            return {"/atom.xml": self._xml("atom.xml.j2", "application/atom+xml; charset=utf-8")}
        if feed == "news-sitemap":
            return {
                "/news-sitemap.xml": self._xml("news-sitemap.xml.j2", "application/xml"),
                "/sitemap.xml": self._xml("sitemap-index.xml.j2", "application/xml"),
            }
        return {}


def renderers(sites: list[DemoSite], bases: dict[str, str], now: datetime) -> list[SiteRenderer]:
    """One renderer per site, sharing one template environment."""
    env = _environment()
    return [SiteRenderer(site, bases[site.key], now, env) for site in sites]
