"""Folding text as SQLite FTS5 splits it, keeping every character's place."""

from __future__ import annotations

from watch.search.folding import POST_TAG, PRE_TAG, fold, unfold_marks


def test_accents_fold_to_the_base_letter() -> None:
    assert fold("Réglementation européenne, Ça déçoit.") == "Reglementation europeenne, Ca decoit."


def test_punctuation_inside_a_word_becomes_a_space() -> None:
    assert fold("amazon.com l'Europe d’hiver e-commerce a_b _c 3.5% 1,000") == (
        "amazon com l Europe d hiver e commerce a b  c 3 5% 1 000"
    )
    # Between words it stays, so sentences still end where they did.
    assert fold("Fees rise. Sellers (all) react!") == "Fees rise. Sellers (all) react!"


def test_every_character_keeps_its_place() -> None:
    for text in ("Prix 🎉 réduits sur amazon.fr", "naïve café", "a\tb\x00c", "", "日本語の文章"):
        assert len(fold(text)) == len(text)
    assert PRE_TAG not in fold(f"a{PRE_TAG}b {POST_TAG}")


def test_letters_without_a_decomposition_stay() -> None:
    assert fold("Œuvre straße ø 日本") == "Œuvre straße ø 日本"
    # An accent written after its letter stays in the word.
    assert fold("cafe\u0301 au lait") == "cafe\u0301 au lait"


def test_marks_found_in_folded_text_go_back_on_the_original() -> None:
    original = "Le <b>référencement</b> d’amazon.com & <mark>co</mark>. 🎉"
    folded = fold(original)
    fragment = folded[folded.index("referencement") :]
    fragment = fragment.replace("referencement", f"{PRE_TAG}referencement{POST_TAG}")
    fragment = fragment.replace("amazon com", f"{PRE_TAG}amazon com{POST_TAG}")
    assert unfold_marks(fragment, original) == (
        "<mark>référencement</mark>&lt;/b&gt; d’<mark>amazon.com</mark> &amp; "
        "&lt;mark&gt;co&lt;/mark&gt;. 🎉"
    )


def test_a_fragment_missing_from_the_original_comes_back_escaped() -> None:
    assert unfold_marks(f"{PRE_TAG}gone{POST_TAG} a<b", "something else") == (
        "<mark>gone</mark> a&lt;b"
    )
