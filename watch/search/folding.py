"""Text as the embedded index splits it, for engines that cannot split it that way.

SQLite FTS5 (`unicode61 remove_diacritics 2`) folds accents ("réglementation"
matches "reglementation") and splits words at anything that is not a letter or
a digit ("amazon.com" is "amazon" then "com"; "l'entreprise" holds
"entreprise"). Elasticsearch's standard tokenizer does neither, and the
minimal distribution the tests run (no analysis-common module) has no
asciifolding, word_delimiter or pattern filter to make it. So Veille folds the
text itself before Elasticsearch analyses it: accented letters become their
base letter, every other non-word character a space.

The fold keeps every character at its place (one character for one, astral
characters for two spaces, as Java counts them), so offsets found in the folded
text are offsets in the original: the highlighter marks the original words.
"""

from __future__ import annotations

import unicodedata

# ASCII letters and digits stay, every other ASCII byte becomes a space.
_ASCII = bytes(b if chr(b).isalnum() else 0x20 for b in range(128)) + bytes(range(128, 256))


class _FoldTable(dict[int, str]):
    """str.translate table filled on first sight of each character."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char.isalnum():
            parts = unicodedata.normalize("NFD", char)
            base = parts[0]
            folded = (
                base
                if len(parts) > 1
                and base.isalnum()
                and all(unicodedata.combining(p) for p in parts[1:])
                else char
            )
        elif unicodedata.combining(char):
            # A combining mark after its letter (decomposed text) stays in the word.
            folded = char
        else:
            # Java counts an astral character as two: keep the length it sees.
            folded = "  " if code > 0xFFFF else " "
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """The text with accents folded and non-word characters as spaces, offsets unchanged."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII).decode("ascii")
    return text.translate(_FOLD)
