"""The contract suite's fixture data: a small, varied watch written for these tests.

Several sources, categories and languages (en, fr, one unknown), tags, dates,
opportunity scores, a near-duplicate pair (syndicated copy) and an item whose
text carries HTML to check that snippets escape it. Each item has a `key`;
tests refer to items by key and derive expected sets from these definitions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crawler.items import Article
from watch.store import Store, to_iso

_AMAZON_FEES_TEXT = (
    "Amazon will raise the referral fees it charges third-party sellers on its marketplace "
    "from the first of April. The company says the change affects apparel, home goods and "
    "consumer electronics, while books and groceries keep their current rates. Sellers "
    "with low margins expect to pass part of the increase on to shoppers, and several "
    "agencies advise merchants to review their pricing before the spring season. The "
    "fulfilment surcharge for oversized parcels also rises by a few cents per unit. "
    "Sellers on amazon.com receive the new rate card by email."
)


@dataclass(frozen=True)
class Doc:
    """One corpus item. `first_seen` is forced after storing, for stable date tests."""

    key: str
    source: str
    category: str
    title: str
    text: str
    first_seen: datetime
    language: str | None = "en"
    summary: str = ""
    published: datetime | None = None
    tags: tuple[str, ...] = ()
    opportunity: float | None = None
    keywords: tuple[str, ...] = field(default=())

    @property
    def url(self) -> str:
        """The item's canonical URL (one host per source)."""
        return f"https://{self.source}.example/{self.key}"

    @property
    def date(self) -> datetime:
        """The date search sorts and filters on: published, else first seen."""
        return self.published or self.first_seen

    @property
    def day(self) -> str:
        """The day facet value (UTC)."""
        return self.date.astimezone(UTC).strftime("%Y-%m-%d")

    def article(self) -> Article:
        """The Article the crawler would have produced."""
        return Article(
            url=self.url,
            canonical_url=self.url,
            source=self.source,
            category=self.category,
            title=self.title,
            text=self.text,
            summary=self.summary,
            published=self.published,
            language=self.language,
            keywords=list(self.keywords),
            content_hash=hashlib.sha256(self.text.encode()).hexdigest(),
            tags=list(self.tags),
            opportunity=self.opportunity,
        )


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    """A UTC moment in 2024 (March unless told)."""
    return datetime(2024, month, day, hour, 0, tzinfo=UTC)


CORPUS: list[Doc] = [
    Doc(
        key="amazon-fees",
        source="marketplace-news",
        category="distribution",
        title="Amazon raises marketplace referral fees",
        summary="Referral fees for third-party sellers go up in April.",
        text=_AMAZON_FEES_TEXT,
        published=at(4, 8),
        first_seen=at(4, 10),
        tags=("marketplace", "pricing"),
        opportunity=0.8,
    ),
    Doc(
        key="amazon-fees-copy",
        source="retail-wire",
        category="distribution",
        title="Amazon raises marketplace referral fees, sellers react",
        summary="A syndicated copy of the referral fee story.",
        text=_AMAZON_FEES_TEXT + " Retail Wire readers shared their reactions.",
        published=at(5, 7),
        first_seen=at(5, 9),
        tags=("marketplace", "pricing"),
        opportunity=0.6,
    ),
    Doc(
        key="ebay-fees",
        source="marketplace-news",
        category="distribution",
        title="eBay cuts final value fees for new sellers",
        summary="Lower final value fees during the first ninety days.",
        text=(
            "eBay announced lower final value fees for sellers who open a store this quarter. "
            "The discount lasts ninety days and covers most categories except motors."
        ),
        published=at(5, 12),
        first_seen=at(5, 13),
        tags=("marketplace", "pricing"),
        opportunity=0.7,
    ),
    Doc(
        key="zalando-partners",
        source="marketplace-news",
        category="distribution",
        title="Zalando opens its partner programme to smaller brands",
        text=(
            "In a press release published on Monday, Zalando said smaller fashion brands can "
            "now join its partner programme and sell directly to customers across Europe."
        ),
        published=at(6, 9),
        first_seen=at(6, 11),
        tags=("marketplace",),
        opportunity=0.55,
    ),
    Doc(
        key="launch-coverage",
        source="tech-digest",
        category="tech",
        title="Headless storefront launch draws attention",
        text=(
            "The press gave wide coverage to the launch. The release notes list faster "
            "page loads and a new theme editor for merchants."
        ),
        published=at(6, 15),
        first_seen=at(6, 16),
        tags=("platform",),
        opportunity=0.4,
    ),
    Doc(
        key="core-update",
        source="seo-weekly",
        category="seo",
        title="Google core update shakes search rankings",
        text=(
            "The March core update moved many product pages down the search results. "
            "Sites with thin category pages lost the most visibility."
        ),
        published=at(7, 8),
        first_seen=at(7, 9),
        tags=("seo", "google"),
        opportunity=0.3,
    ),
    Doc(
        key="schema-markup",
        source="seo-weekly",
        category="seo",
        title="Product schema markup: what changed",
        text=(
            "Google now shows shipping and returns details from product markup in search. "
            "Merchants should add the new properties to keep rich results."
        ),
        published=at(8, 8),
        first_seen=at(8, 9),
        tags=("seo", "google"),
        opportunity=0.5,
    ),
    Doc(
        key="shopify-rumour",
        source="tech-digest",
        category="tech",
        title="Shopify said to eye a checkout startup",
        text=(
            "An unconfirmed rumour says Shopify is in talks to buy a small checkout startup. "
            "Neither company commented."
        ),
        published=at(8, 14),
        first_seen=at(8, 15),
        tags=("platform", "checkout"),
        opportunity=0.45,
    ),
    Doc(
        key="shopify-checkout",
        source="tech-digest",
        category="tech",
        title="Shopify ships a one-page checkout",
        text=(
            "Shopify made its one-page checkout the default for every store. Early tests "
            "show fewer abandoned carts on mobile."
        ),
        published=at(9, 10),
        first_seen=at(9, 11),
        tags=("platform", "checkout"),
        opportunity=0.9,
    ),
    Doc(
        key="security-notice",
        source="tech-digest",
        category="tech",
        title="Security notice for a popular cart plugin",
        text=(
            'Researchers found a vulnerability: <script>alert("owned")</script> injected '
            "through product reviews ran in the admin panel of the cart plugin."
        ),
        published=at(9, 16),
        first_seen=at(9, 17),
        tags=("platform", "security"),
        opportunity=0.65,
    ),
    Doc(
        key="logistics-title",
        source="retail-wire",
        category="market",
        title="Logistics networks expand for same-day delivery",
        text=(
            "Retailers are opening small depots near city centres so that parcels reach "
            "customers within hours. Carriers share vans between brands to cut costs."
        ),
        published=at(10, 9),
        first_seen=at(10, 10),
        tags=("delivery",),
        opportunity=0.6,
    ),
    Doc(
        key="logistics-text",
        source="retail-wire",
        category="market",
        title="Quarterly retail figures beat expectations",
        text=(
            "Online sales grew faster than store sales in the quarter. Analysts credit "
            "promotions, mobile apps and better logistics, while warning that margins "
            "stay under pressure from shipping costs and returns."
        ),
        published=at(10, 12),
        first_seen=at(10, 13),
        tags=("market-data",),
        opportunity=0.35,
    ),
    Doc(
        key="automation-tools",
        source="tech-digest",
        category="tech",
        title="Marketing automation tools compared",
        text=(
            "We compared five marketing automation suites on email flows, segmentation "
            "and price for small shops."
        ),
        published=at(11, 9),
        first_seen=at(11, 10),
        tags=("marketing",),
        opportunity=0.4,
    ),
    Doc(
        key="automated-repricing",
        source="shop-radar",
        category="competitor",
        title="Rival shop switches to automated repricing",
        text=(
            "Prices on the rival shop now change several times a day, a sign of automated "
            "repricing against marketplace offers."
        ),
        published=at(11, 14),
        first_seen=at(11, 15),
        tags=("competitor", "pricing"),
        opportunity=0.85,
    ),
    Doc(
        key="running-shoes",
        source="shop-radar",
        category="competitor",
        title="Competitor drops prices on running shoes",
        text=(
            "The competitor cut prices on its running shoes range by fifteen percent "
            "ahead of the spring marathon season."
        ),
        published=at(12, 8),
        first_seen=at(12, 9),
        tags=("competitor", "pricing"),
        opportunity=0.95,
    ),
    Doc(
        key="espresso-machines",
        source="shop-radar",
        category="competitor",
        title="Rival shop lists new espresso machines",
        text=(
            "Twelve espresso machines appeared in the rival catalogue this week, "
            "with free delivery for launch orders."
        ),
        published=at(12, 11),
        first_seen=at(12, 12),
        tags=("competitor", "catalogue"),
        opportunity=0.75,
    ),
    Doc(
        key="cdiscount-vendeurs",
        source="journal-ecommerce",
        category="market",
        language="fr",
        title="Cdiscount ouvre sa place de marché aux vendeurs européens",
        text=(
            "La place de marché accueille désormais des vendeurs installés dans toute "
            "l'Europe, avec une commission réduite pendant trois mois."
        ),
        published=at(6, 7),
        first_seen=at(6, 8),
        tags=("marketplace",),
        opportunity=0.7,
    ),
    Doc(
        key="soldes-hiver",
        source="journal-ecommerce",
        category="market",
        language="fr",
        title="Les soldes d'hiver en ligne progressent",
        text=(
            "Les ventes en ligne pendant les soldes ont progressé de huit pour cent, "
            "portées par la mode et la maison."
        ),
        published=at(28, 9, month=2),
        first_seen=at(28, 10, month=2),
        tags=("market-data",),
        opportunity=0.4,
    ),
    Doc(
        key="referencement",
        source="journal-ecommerce",
        category="seo",
        language="fr",
        title="Référencement : Google modifie ses résultats produits",
        text=(
            "Google affiche davantage de fiches produits dans ses résultats, "
            "ce qui change le référencement des boutiques."
        ),
        published=at(7, 11),
        first_seen=at(7, 12),
        tags=("seo", "google"),
        opportunity=0.5,
    ),
    Doc(
        key="undated-returns",
        source="seo-weekly",
        category="seo",
        title="Returns pages that rank",
        text=(
            "A clear returns page can rank for policy queries and reassure shoppers "
            "before they buy."
        ),
        first_seen=at(10, 18),
        tags=("seo",),
    ),
    Doc(
        key="voice-search",
        source="seo-weekly",
        category="seo",
        language=None,
        title="Voice search and product questions",
        text=(
            "Shoppers ask voice assistants longer questions, so product pages need "
            "short direct answers."
        ),
        published=at(1, 9),
        first_seen=at(1, 10),
        tags=("seo",),
        opportunity=0.2,
    ),
    Doc(
        key="black-friday",
        source="retail-wire",
        category="market",
        title="Black Friday planning starts earlier every year",
        text=(
            "Merchants now plan Black Friday stock in spring, negotiating with suppliers "
            "months ahead of the November peak."
        ),
        published=at(29, 9, month=2),
        first_seen=at(29, 10, month=2),
        tags=("market-data",),
        opportunity=0.3,
    ),
    Doc(
        key="payments-bnpl",
        source="tech-digest",
        category="tech",
        title="Buy now pay later reaches more checkouts",
        text=(
            "Buy now pay later options now appear on a third of checkouts, "
            "according to a payments survey of mid-sized merchants."
        ),
        published=at(3, 9),
        first_seen=at(3, 10),
        tags=("checkout", "payments"),
        opportunity=0.5,
    ),
    Doc(
        key="cross-border",
        source="marketplace-news",
        category="distribution",
        title="Cross-border e-commerce rules simplified",
        text=(
            "New customs rules simplify cross-border e-commerce for parcels under "
            "one hundred fifty euros."
        ),
        published=at(2, 9),
        first_seen=at(2, 10),
        tags=("regulation",),
        opportunity=0.45,
    ),
    Doc(
        # Accents written as combining marks (e + U+0301, as macOS file names and some
        # CMSs produce them), not as the composed letters the other items use.
        key="livraison-nfd",
        source="journal-ecommerce",
        category="distribution",
        language="fr",
        title="De\u0301lais de livraison : les transporteurs s'adaptent",
        text=(
            "Les transporteurs re\u0301duisent les de\u0301lais de livraison pendant "
            "la pe\u0301riode des fe\u0302tes."
        ),
        published=at(1, 9),
        first_seen=at(1, 10),
        tags=("logistics",),
        opportunity=0.3,
    ),
]

BY_KEY: dict[str, Doc] = {d.key: d for d in CORPUS}


def fill(store: Store) -> dict[str, int]:
    """Store every corpus item (in order) with its fixed first_seen; return key -> item id."""
    ids: dict[str, int] = {}
    for doc in CORPUS:
        ids[doc.key] = store.upsert(doc.article()).item_id
    with store.transaction():
        store.conn.executemany(
            "UPDATE items SET first_seen = ? WHERE id = ?",
            [(to_iso(doc.first_seen), ids[doc.key]) for doc in CORPUS],
        )
    return ids
