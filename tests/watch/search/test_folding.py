"""Folding text as SQLite FTS5 splits it, keeping every character's offset."""

from __future__ import annotations

from watch.search.folding import fold


def test_accents_fold_to_the_base_letter() -> None:
    assert fold("Réglementation européenne, Ça déçoit") == "Reglementation europeenne  Ca decoit"


def test_non_word_characters_become_spaces() -> None:
    assert fold("amazon.com l'Europe d’hiver e-commerce a_b 3.5%") == (
        "amazon com l Europe d hiver e commerce a b 3 5 "
    )


def test_offsets_stay_where_java_counts_them() -> None:
    # Java (Elasticsearch) counts an astral character as two UTF-16 units.
    for text in ("Prix 🎉 réduits sur amazon.fr", "naïve café", "plain ascii.", "", "日本語の文章"):
        folded = fold(text)
        assert len(folded.encode("utf-16-le")) == len(text.encode("utf-16-le"))
    assert fold("a🎉b") == "a  b"


def test_letters_without_a_decomposition_stay() -> None:
    assert fold("Œuvre straße ø 日本") == "Œuvre straße ø 日本"
