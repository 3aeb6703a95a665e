"""The Tagger: rules, topic classifier and opportunity score combined, with reasons."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from classifiers.model import DEFAULT_MODEL_PATH, load_model, save_model
from classifiers.taxonomy import Competitor, Taxonomy, Topic, default_taxonomy
from crawler.items import Article
from watch.config import load_config
from watch.tagging import Tagger, item_fields, model_path, model_text, trained_model_path


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    """The default taxonomy plus one competitor, with the bundled model."""
    taxonomy = default_taxonomy().model_copy(deep=True)
    taxonomy.competitors.append(
        Competitor(name="Kettle & Co", domains=["kettle-co.example"], sources=["kettle-co"])
    )
    return Tagger(taxonomy, load_model(), threshold=0.5)


def _article(**fields: object) -> Article:
    return Article(url="https://news.example/a", source="news", **fields)


def test_an_article_gets_several_topics_from_rules_and_model(tagger: Tagger) -> None:
    article = _article(
        title="Marketplace fees: sellers face a new commission on electronics",
        summary="The platform also adds a buy now, pay later option at checkout for buyers.",
    )
    tagger.tag(article)
    assert {"marketplaces", "payments"} <= set(article.tags)
    assert article.tag_reasons["payments"][0] == 'keyword "buy now, pay later"'
    model_reasons = [r for r in article.tag_reasons["marketplaces"] if r.startswith("model:")]
    assert model_reasons and "terms:" in model_reasons[0]
    assert 0.0 <= article.opportunity <= 1.0


def test_model_tags_french_items_without_any_keyword(tagger: Tagger) -> None:
    article = _article(
        title="Les transporteurs gèlent leurs tarifs d'expédition pour les petites boutiques",
        summary="Les colis envoyés en point de retrait coûteront le même prix qu'en 2023.",
    )
    tagger.tag(article)
    assert "logistics" in article.tags
    assert all(r.startswith("model:") for r in article.tag_reasons["logistics"])


def test_competitor_tags_from_mentions_and_sources(tagger: Tagger) -> None:
    mention = _article(title="Kettle & Co raises prices on copper kettles")
    own_source = Article(
        url="http://127.0.0.1:8080/news/x", source="kettle-co", title="Spring sale"
    )
    tagger.tag_many([mention, own_source])
    assert "competitor:kettle-co" in mention.tags and "competitor:kettle-co" in own_source.tags
    assert own_source.tag_reasons["competitor:kettle-co"] == ['from source "kettle-co"']


def test_opportunity_tag_follows_the_threshold() -> None:
    title = "A new marketplace opens to sellers from France with no fees for three months"
    always = Tagger(default_taxonomy(), load_model(), threshold=0.0)
    never = Tagger(default_taxonomy(), load_model(), threshold=1.01)
    a, b = _article(title=title), _article(title=title)
    always.tag(a)
    never.tag(b)
    assert "opportunity" in a.tags and a.tag_reasons["opportunity"][0].startswith("model:")
    assert "opportunity" not in b.tags and a.opportunity == b.opportunity


def test_empty_article_gets_no_model_tags(tagger: Tagger) -> None:
    article = _article()
    tagger.tag(article)
    assert article.tags == [] and article.opportunity is None and article.tag_reasons == {}


def test_huge_article_is_tagged_quickly(tagger: Tagger) -> None:
    body = "Google confirms a core update. Rankings of product pages move. " * 85_000
    article = _article(title="Core update", text=body[: 5 * 1024 * 1024])
    started = time.perf_counter()
    tagger.tag(article)
    assert time.perf_counter() - started < 10
    assert "seo" in article.tags


def test_model_text_uses_the_body_lead_when_there_is_no_summary() -> None:
    article = _article(title="T", text="body " * 1000)
    assert model_text(article, ("title", "summary")) == "T\n" + ("body " * 200)
    assert model_text(article, ("title", "summary", "text")).endswith("body ")


def test_a_model_trained_on_other_column_names_reads_the_matching_item_fields() -> None:
    article = _article(title="T", summary="S", text="B")
    assert item_fields(("Headline", "short_description")) == ["title", "summary"]
    assert model_text(article, item_fields(("subject", "body"))) == "T\nB"
    assert item_fields(("story", "content")) == ["text"]  # unknown columns: the body


def test_tagger_without_a_model_applies_rules_only() -> None:
    taxonomy = Taxonomy(topics={"seo": Topic(description="d", keywords=["sitemap"])})
    article = _article(title="Your sitemap matters")
    Tagger(taxonomy).tag(article)
    assert article.tags == ["seo"] and article.opportunity is None


def test_model_in_use_is_configured_then_trained_then_bundled(tmp_path: Path) -> None:
    (tmp_path / "veille.yaml").write_text("data_dir: data\n")
    config = load_config(tmp_path / "veille.yaml")
    assert model_path(config) == DEFAULT_MODEL_PATH
    trained = trained_model_path(config)
    save_model(load_model(), trained)
    assert model_path(config) == trained
    (tmp_path / "veille.yaml").write_text("data_dir: data\nclassifier:\n  model_path: m.skops\n")
    assert model_path(load_config(tmp_path / "veille.yaml")) == tmp_path / "m.skops"
    tagger = Tagger.from_config(config)
    assert tagger.model is not None and tagger.taxonomy.topic_names


def test_short_text_whose_subwords_are_all_unknown_is_tagged_without_error(
    tagger: Tagger,
) -> None:
    article = _article(text="Summary kept when the page is a gzip bomb.")
    tagger.tag(article)
    assert article.opportunity is not None and 0.0 <= article.opportunity <= 1.0
