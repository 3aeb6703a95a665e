"""Taxonomy rules: keyword and competitor matching, and the taxonomy file's validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.rules import Rules
from classifiers.taxonomy import (
    Competitor,
    Taxonomy,
    Topic,
    default_taxonomy,
    load_taxonomy,
    load_taxonomy_file,
    slug,
)
from watch.config import ConfigError, load_config

TAXONOMY = Taxonomy(
    topics={
        "seo": Topic(description="Search", keywords=["core update", "SEO"]),
        "regulation": Topic(description="Rules", keywords=["mise à jour réglementaire", "DSA"]),
        "payments": Topic(description="Pay", keywords=["buy now, pay later"]),
    },
    competitors=[
        Competitor(
            name="Kettle & Co",
            aliases=["KettleCo", "Canal+"],
            domains=["kettle-co.example"],
            sources=["kettle-news"],
        )
    ],
)


def test_keywords_match_whole_words_in_any_case_and_spacing() -> None:
    rules = Rules(TAXONOMY)
    assert rules.match("Google CONFIRMS a Core\n  Update") == {"seo": ['keyword "core update"']}
    assert rules.match("The seo team") == {"seo": ['keyword "SEO"']}
    # Not inside other words.
    assert rules.match("a score update; core updates; seoul") == {}
    assert "payments" in rules.match("Buy now, pay later grows")


def test_keywords_ignore_accents_both_ways() -> None:
    rules = Rules(TAXONOMY)
    assert "regulation" in rules.match("Une MISE A JOUR REGLEMENTAIRE importante")
    assert "regulation" in rules.match("une mise à jour réglementaire")


def test_competitor_tagged_by_mention_domain_or_source_with_reasons() -> None:
    rules = Rules(TAXONOMY)
    tag = "competitor:kettle-co"
    assert rules.match("Prices rise at Kettle & Co this week")[tag] == ['mentions "Kettle & Co"']
    assert rules.match("kettleco runs out of stock")[tag] == ['mentions "KettleCo"']
    assert rules.match("Canal+ signs a deal")[tag] == ['mentions "Canal+"']
    assert rules.match("a kettle and a cone") == {}
    assert rules.match("", url="https://shop.kettle-co.example/p/1")[tag] == [
        "from kettle-co.example"
    ]
    assert rules.match("", url="https://notkettle-co.example/") == {}
    assert rules.match("", source="kettle-news")[tag] == ['from source "kettle-news"']


def test_slugs_make_clean_tags() -> None:
    assert slug("Maison Lumière") == "maison-lumiere"
    assert TAXONOMY.competitors[0].tag == "competitor:kettle-co"


def test_default_taxonomy_has_the_ten_topics_with_descriptions() -> None:
    taxonomy = default_taxonomy()
    expected = {
        "seo",
        "marketplaces",
        "payments",
        "logistics",
        "regulation",
        "advertising",
        "platforms-tech",
        "consumer-trends",
        "competitor-news",
        "funding-mna",
    }
    assert expected <= set(taxonomy.topic_names)
    assert all(len(topic.description) > 30 for topic in taxonomy.topics.values())
    assert Rules(taxonomy).match("La DGCCRF enquête") == {"regulation": ['keyword "DGCCRF"']}


def _write(tmp_path: Path, taxonomy: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(taxonomy, encoding="utf-8")
    return path


def test_invalid_taxonomy_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "topics:\n  seo:\n    descripton: typo\n")
    with pytest.raises(ConfigError, match=r"taxonomy.yaml, line 3: field 'topics.seo.descripton'"):
        load_taxonomy_file(path)
    path = _write(tmp_path, "topics:\n  Bad Name:\n    description: x\n")
    with pytest.raises(ConfigError, match=r"line 1.*field 'topics'.*lower-case"):
        load_taxonomy_file(path)
    path = _write(
        tmp_path,
        "competitors:\n  - name: Acme\n    domains: [https://acme.example/shop]\n",
    )
    with pytest.raises(ConfigError, match=r"line 3.*competitors.domains.*not 'https://acme"):
        load_taxonomy_file(path)
    path = _write(tmp_path, "competitors:\n  - name: Acme\n  - name: ACME\n")
    with pytest.raises(ConfigError, match=r"line 3: competitor 'ACME'.*competitor:acme"):
        load_taxonomy_file(path)
    path = _write(tmp_path, "topics: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_taxonomy_file(path)


def test_config_uses_its_taxonomy_file_or_the_default(tmp_path: Path) -> None:
    (tmp_path / "veille.yaml").write_text("data_dir: data\n")
    config = load_config(tmp_path / "veille.yaml")
    assert load_taxonomy(config).topic_names == default_taxonomy().topic_names
    _write(tmp_path, "topics:\n  only:\n    description: One topic\n    keywords: [solo]\n")
    assert load_taxonomy(config).topic_names == ["only"]
