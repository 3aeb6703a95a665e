"""The web tests' watch: a couple dozen items written for these tests, stored with Store.upsert.

Three sources in three categories, two languages, tags and opportunity scores,
dates over two weeks, enough "marketplace" items for three result pages, and one
item whose title and text carry live-looking HTML (a script, an onerror image)
that the page must show as text and never run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crawler.items import Article
from watch.store import Store

BASE = datetime(2024, 5, 20, 9, 0, tzinfo=UTC)
SOURCES = {
    "market-wire": "market",
    "seo-desk": "seo",
    "shop-radar": "competitor",
}
HOSTILE_TITLE = "Checkout teardown <script>document.title='pwned'</script>"
HOSTILE_TEXT = (
    "Our teardown of the checkout flow. <img src=x onerror=\"document.body.dataset.pwned='1'\"> "
    "The payment step asks for an account before showing shipping costs.\n\n"
    "<script>document.body.dataset.pwned='1'</script> Guest checkout converts better."
)


@dataclass(frozen=True)
class Doc:
    """One test item; `key` names it in tests."""

    key: str
    source: str
    title: str
    text: str
    days_ago: int
    language: str = "en"
    tags: tuple[str, ...] = ()
    opportunity: float | None = None

    def article(self) -> Article:
        """The Article a spider would have produced."""
        body = f"{self.title}\n{self.text}"
        return Article(
            url=f"https://{self.source}.example/{self.key}",
            source=self.source,
            category=SOURCES[self.source],
            title=self.title,
            text=self.text,
            summary=self.text.split(". ")[0] + ".",
            author="Test Desk",
            published=BASE - timedelta(days=self.days_ago),
            language=self.language,
            keywords=["e-commerce"],
            fetched_at=BASE,
            content_hash=hashlib.sha256(body.encode()).hexdigest(),
            tags=list(self.tags),
            opportunity=self.opportunity,
            tag_reasons={t: [f"rule {t}"] for t in self.tags},
        )


_TOPICS = [
    ("fees", "Marketplace fees rise for {n} seller categories", ("pricing", "marketplace")),
    ("ads", "Marketplace ads console adds {n} new placements", ("marketplace", "ads")),
    ("returns", "Marketplace returns window shortened in {n} countries", ("marketplace",)),
]


def _marketplace_docs() -> list[Doc]:
    """21 'marketplace' items across sources and days: three pages of results."""
    docs = []
    sources = list(SOURCES)
    for i in range(21):
        slug, title, tags = _TOPICS[i % 3]
        source = sources[(i + i // 3) % 3]
        docs.append(
            Doc(
                key=f"{slug}-{i}",
                source=source,
                title=title.format(n=i + 2),
                text=(
                    f"Item {i}: the marketplace changed its {slug} policy for sellers. "
                    f"Analysts at {source} counted {i + 2} affected categories and expect "
                    f"more changes to {slug} before the holiday season."
                ),
                days_ago=i % 14,
                tags=tags,
                opportunity=round(0.3 + (i % 7) / 10, 2),
            )
        )
    return docs


DOCS: list[Doc] = [
    *_marketplace_docs(),
    Doc(
        key="crawl-budget",
        source="seo-desk",
        title="Faceted navigation and crawl budget",
        text=(
            "Faceted navigation can waste crawl budget on near-identical category pages. "
            "Canonical tags and robots rules keep search engines on the pages that matter."
        ),
        days_ago=3,
        tags=("seo",),
        opportunity=0.9,
    ),
    Doc(
        key="rentree",
        source="market-wire",
        title="La rentrée des places de marché",
        text=(
            "Les vendeurs préparent la rentrée: nouvelles commissions, nouveaux délais de "
            "livraison et une concurrence plus forte sur les fournitures scolaires."
        ),
        days_ago=1,
        language="fr",
        tags=("pricing",),
    ),
    Doc(
        key="hostile",
        source="shop-radar",
        title=HOSTILE_TITLE,
        text=HOSTILE_TEXT,
        days_ago=2,
        tags=("checkout",),
        opportunity=0.55,
    ),
]
BY_KEY = {d.key: d for d in DOCS}


def fill(store: Store) -> dict[str, int]:
    """Store every test item; return key -> item id."""
    ids = {}
    for doc in DOCS:
        result = store.upsert(doc.article())
        ids[doc.key] = result.item_id
    store.record_source_result("market-wire", None)
    store.record_source_result("shop-radar", "HTTP 503 on https://shop-radar.example/")
    return ids


VEILLE_YAML = "data_dir: data\n"
SOURCES_YAML = """\
sources:
  - name: market-wire
    type: feed
    url: https://market-wire.example/feed.xml
    category: market
  - name: seo-desk
    type: feed
    url: https://seo-desk.example/atom.xml
    category: seo
  - name: shop-radar
    type: site
    url: https://shop-radar.example/
    category: competitor
"""
