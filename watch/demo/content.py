"""The demo web's content: fictional sites, articles and products, authored once as YAML.

Each file in `watch/demo/content/` describes one site. Pages, feeds and
sitemaps are rendered from these models (see `watch.demo.web`), so the demo
test knows exactly what a crawl should find.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from watch.errors import UserError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DemoPage(_Model):
    """A non-article page (about, contact ...): the crawler should not keep it."""

    slug: str
    path: str
    title: str
    body: list[str]


class DemoArticle(_Model):
    """One article. A syndicated copy names its original with `copy_of: site/slug`."""

    slug: str
    title: str
    author: str
    hours_ago: float = Field(ge=0)
    section: str
    keywords: list[str] = []
    summary: str = ""
    body: list[str] = []
    language: str | None = None
    copy_of: str | None = None
    lead: str | None = None
    outro: str | None = None

    @model_validator(mode="after")
    def _has_text(self) -> DemoArticle:
        if not self.body and not self.copy_of:
            raise ValueError(f"article {self.slug!r} needs a body or copy_of")
        return self


class DemoProduct(_Model):
    """A product page of the competitor shop."""

    slug: str
    name: str
    sku: str
    price: float
    was_price: float | None = None
    stock: Literal["in_stock", "low_stock", "out_of_stock"]
    stock_note: str
    badge: str | None = None
    description: list[str]
    details: dict[str, str] = {}
    care: str = ""


class DemoSite(_Model):
    """One fictional site of the demo web."""

    key: str
    name: str
    tagline: str
    language: str
    kind: Literal["blog", "press", "marketplace", "shop"]
    feed: Literal["rss", "atom", "news-sitemap", "none"]
    accent: str
    article_path: str
    index_path: str = "/"
    per_page: int = 10
    nav: dict[str, str] = {}
    robots: str
    pages: list[DemoPage] = []
    articles: list[DemoArticle]
    products: list[DemoProduct] = []

    def article_url_path(self, article: DemoArticle) -> str:
        """The path of an article's page on this site."""
        return self.article_path.format(slug=article.slug)

    @staticmethod
    def product_url_path(product: DemoProduct) -> str:
        """The path of a product's page."""
        return f"/products/{product.slug}.html"


def load_sites() -> list[DemoSite]:
    """Every demo site, with syndicated copies filled in from their originals."""
    folder = resources.files("watch.demo") / "content"
    sites = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            try:
                sites.append(DemoSite.model_validate(yaml.safe_load(entry.read_text("utf-8"))))
            except Exception as exc:  # a packaging bug, but say which file
                raise UserError(f"Demo content {entry.name} is invalid: {exc}") from exc
    _fill_copies(sites)
    return sites


def _fill_copies(sites: list[DemoSite]) -> None:
    # A syndicated story reuses its original's text between its own lead and
    # outro, so the near-duplicate is guaranteed by construction.
    by_key = {(s.key, a.slug): a for s in sites for a in s.articles}
    for site in sites:
        for article in site.articles:
            if not article.copy_of:
                continue
            key = tuple(article.copy_of.split("/", 1))
            original = by_key.get(key)  # type: ignore[arg-type]
            if original is None:
                raise UserError(f"Demo article {article.slug!r}: unknown copy_of {article.copy_of}")
            article.body = [
                *([article.lead] if article.lead else []),
                *original.body,
                *([article.outro] if article.outro else []),
            ]
            article.summary = article.summary or original.summary
