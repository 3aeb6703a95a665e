"""Exact, explainable tagging rules from the taxonomy: topic keywords and competitors.

Phrases match whole words, ignoring case and accents ("Mise à jour" matches
"mise a jour"), with any run of spaces between their words. All phrases are
compiled into one regular expression, factored as a trie so that scanning an
article costs one pass whatever the number of phrases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from classifiers.taxonomy import Taxonomy
from classifiers.vectors import fold

Reasons = dict[str, list[str]]


class Rules:
    """The taxonomy's rules, compiled for matching."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        # folded phrase -> [(tag, reason)]
        self._phrases: dict[str, list[tuple[str, str]]] = {}
        for name, topic in taxonomy.topics.items():
            for keyword in topic.keywords:
                self._add(keyword, name, f'keyword "{keyword}"')
        self._domains: list[tuple[str, str]] = []
        self._sources: dict[str, list[str]] = {}
        for competitor in taxonomy.competitors:
            for phrase in competitor.phrases:
                self._add(phrase, competitor.tag, f'mentions "{phrase}"')
            self._domains += [(d, competitor.tag) for d in competitor.domains]
            for source in competitor.sources:
                self._sources.setdefault(source, []).append(competitor.tag)
        self._pattern = _compile(self._phrases)

    def _add(self, phrase: str, tag: str, reason: str) -> None:
        key = " ".join(fold(phrase).split())
        if key:
            entries = self._phrases.setdefault(key, [])
            if (tag, reason) not in entries:
                entries.append((tag, reason))

    def match(self, text: str, url: str | None = None, source: str | None = None) -> Reasons:
        """Tags the rules give this item, each with the reasons why."""
        return self.match_folded(fold(text), url, source)

    def match_folded(
        self, folded: str, url: str | None = None, source: str | None = None
    ) -> Reasons:
        """Like match(), for text already passed through fold()."""
        found: Reasons = {}
        if self._pattern is not None and folded:
            for hit in set(self._pattern.findall(folded)):
                for tag, reason in self._phrases.get(" ".join(hit.split()), ()):
                    _note(found, tag, reason)
        if url and self._domains:
            host = (urlsplit(url).hostname or "").lower()
            for domain, tag in self._domains:
                if host == domain or host.endswith("." + domain):
                    _note(found, tag, f"from {domain}")
        if source:
            for tag in self._sources.get(source, ()):
                _note(found, tag, f'from source "{source}"')
        return found


def _note(found: Reasons, tag: str, reason: str) -> None:
    reasons = found.setdefault(tag, [])
    if reason not in reasons:
        reasons.append(reason)


def _compile(phrases: Iterable[str]) -> re.Pattern[str] | None:
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None
    # Whole words only: no word character just before or just after the phrase.
    return re.compile(rf"(?<!\w)({_trie_regex(trie)})(?!\w)")


def _trie_regex(node: dict) -> str:
    """A regex matching exactly the trie's phrases, longest alternatives first."""
    branches = []
    optional = False
    for char in sorted(node, key=lambda c: (c == "", c)):
        if char == "":
            optional = True
            continue
        # A space in a phrase matches any run of whitespace in the text.
        head = r"\s+" if char == " " else re.escape(char)
        child = node[char]
        branches.append(head + (_trie_regex(child) if child else ""))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if optional:
        body = f"(?:{body})?"
    return body
