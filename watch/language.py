"""The language of a page: its declared language tag, else detection on its text."""

from __future__ import annotations

import re

# py3langid loads its model on the first classification (0.4 s of CPU), not on import:
# most pages declare their language, so most crawls and commands never need it.
import py3langid

# A BCP 47 primary subtag; "x-default", "und" and the like are not languages.
_PRIMARY = re.compile(r"^\s*([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]{1,8})*\s*$")
_NOT_LANGUAGES = {"und", "mul", "zxx", "mis"}
# Detection on a few thousand characters is as good as on the whole text, and bounded in time.
DETECT_CHARS = 3000
# Below this many letters detection is a guess; say nothing rather than guess.
MIN_DETECT_LETTERS = 20
_LETTER = re.compile(r"[^\W\d_]")


def normalize_tag(tag: str | None) -> str | None:
    """The short language code of a tag such as "en-US", "fr_FR" or "pt-BR" ("en", "fr", "pt")."""
    if not tag:
        return None
    # Content-Language may list several; the first is the page's main one.
    first = tag.split(",")[0]
    match = _PRIMARY.match(first)
    if not match:
        return None
    code = match.group(1).lower()
    return None if code in _NOT_LANGUAGES else code


def detect(text: str) -> str | None:
    """Guess the language of a text with py3langid, or None when there is too little text."""
    sample = text[:DETECT_CHARS]
    if len(_LETTER.findall(sample[:400])) < MIN_DETECT_LETTERS:
        return None
    code, _score = py3langid.classify(sample)
    return code or None


def page_language(declared: list[str | None], text: str) -> str | None:
    """The first valid declared tag's code, else the language detected in `text`."""
    for tag in declared:
        code = normalize_tag(tag)
        if code:
            return code
    return detect(text)
