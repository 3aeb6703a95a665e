"""Text as the embedded index splits it, for engines that cannot split it that way.

SQLite FTS5 (`unicode61 remove_diacritics 2`) folds accents ("réglementation"
matches "reglementation") and splits words at anything that is not a letter or
a digit ("amazon.com" is "amazon" then "com"; "l'entreprise" holds
"entreprise"). Elasticsearch's standard tokenizer does neither: it keeps a dot,
apostrophe or comma between two letters or digits inside the word, and an
underscore anywhere. The minimal distribution the tests run (no analysis-common
module) has no asciifolding, word_delimiter or pattern filter to change that.
So Veille folds the text itself before Elasticsearch analyses it: accented
letters become their base letter, and those joining characters (and control
characters) become spaces. Other punctuation stays, so the highlighter still
sees where sentences end.

The fold keeps every character at its place (one character for one), so a
fragment highlighted in the folded text is found at the same place in the
original, where the same words are marked (`unfold_marks`).
"""

from __future__ import annotations

import html
import re
import unicodedata

# Characters that may join words for the standard tokenizer: anything but
# letters, digits and spaces (checked further in _joins).
_CANDIDATE = re.compile(r"[^\w\s]|_")
# The same among ASCII characters (a much faster scan).
_ASCII_CANDIDATE = re.compile(r"[!-/:-@\[-`{-~\x00-\x08\x0e-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# The highlighter's tags around a match: control characters, which the fold
# never leaves in the text, so no item text can pass for one.
PRE_TAG, POST_TAG = "\x02", "\x03"
_TAGS = re.compile(f"([{PRE_TAG}{POST_TAG}])")


class _AccentTable(dict[int, str]):
    """Accented letters (by code point) to their base letter, filled on first sight."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        parts = unicodedata.normalize("NFD", char)
        base = parts[0]
        folded = (
            base
            if len(parts) > 1
            and base.isalnum()
            and all(unicodedata.combining(p) for p in parts[1:])
            else char
        )
        self[code] = folded
        return folded


_ACCENTS = _AccentTable()


def fold(text: str) -> str:
    """The text with accents folded and in-word punctuation as spaces, each character in place."""
    ascii_only = text.isascii()
    candidates = (_ASCII_CANDIDATE if ascii_only else _CANDIDATE).finditer(text)
    chars: list[str] | None = None
    # A scan for candidates, then a look at their neighbours: several times faster
    # than one regular expression with look-arounds on news text.
    for match in candidates:
        at = match.start()
        if _joins(text, at):
            if chars is None:
                chars = list(text)
            chars[at] = " "
    if chars is not None:
        text = "".join(chars)
    return text if ascii_only else _NON_ASCII.sub(_unaccent, text)


def _unaccent(match: re.Match[str]) -> str:
    return _ACCENTS[ord(match[0])]


def _joins(text: str, at: int) -> bool:
    """Whether the standard tokenizer would keep text[at] inside a word (or it is a control)."""
    char = text[at]
    if char == "_" or char < " " or "\x7f" <= char <= "\x9f":
        return True
    if char.isascii():
        return 0 < at < len(text) - 1 and text[at - 1].isalnum() and text[at + 1].isalnum()
    if unicodedata.combining(char):
        return False  # an accent written after its letter belongs to the word
    if unicodedata.category(char) == "Pc":
        return True
    return 0 < at < len(text) - 1 and text[at - 1].isalnum() and text[at + 1].isalnum()


def unfold_marks(fragment: str, original: str) -> str:
    """A fragment of fold(original) with PRE_TAG/POST_TAG around matches, as HTML of the
    same stretch of `original`: its text escaped, each match in <mark>.

    A fragment not found in the original (it changed since) comes back escaped as it is.
    """
    plain = fragment.replace(PRE_TAG, "").replace(POST_TAG, "")
    start = fold(original).find(plain) if plain else -1
    source = original[start : start + len(plain)] if start >= 0 else plain
    out: list[str] = []
    at = 0
    for piece in _TAGS.split(fragment):
        if piece == PRE_TAG:
            out.append("<mark>")
        elif piece == POST_TAG:
            out.append("</mark>")
        elif piece:
            out.append(html.escape(source[at : at + len(piece)], quote=True))
            at += len(piece)
    return "".join(out)
