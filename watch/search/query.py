"""The user query language, parsed into a small AST that each backend translates.

Syntax (the same on every backend):

- ``amazon marketplace``: every word must match;
- ``"press release"``: an exact phrase;
- ``amazon OR ebay``: either side (OR binds tighter than the implicit AND, so
  ``fees amazon OR ebay`` means fees AND (amazon OR ebay));
- ``-rumour`` and ``-"press release"``: exclude items that match;
- ``market*``: a prefix (market, markets, marketplace ...).

Backends never see user text outside this AST: SQLite quotes every term for
FTS5 and Elasticsearch builds a ``simple_query_string`` from it, so no query can
reach an engine's own syntax. Anything malformed raises `QueryError` with a
message saying what is wrong and how to write it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from watch.search.backend import FACET_FIELDS, QueryError, SearchQuery

# A word character as the tokenizers see it (letters and digits; "_" separates).
_WORD = re.compile(r"[^\W_]+")
# Shortest prefix accepted before "*": one letter would match half the index.
MIN_PREFIX = 2
MAX_TERMS = 64
# Elasticsearch's default max_result_window; both backends share the limit.
MAX_WINDOW = 10_000
MAX_PER_PAGE = 100

SYNTAX_HELP = 'Syntax: words (all must match), "exact phrase", amazon OR ebay, -exclude, prefix*.'


@dataclass(frozen=True)
class Term:
    """A word or a phrase as typed (without quotes, minus or star).

    A bare word that the tokenizer splits (``e-commerce``, ``amazon.com``)
    matches as a phrase of its parts on every backend.
    """

    text: str
    phrase: bool = False
    prefix: bool = False

    @property
    def words(self) -> list[str]:
        """The word tokens in the term, lower-cased."""
        return [w.lower() for w in _WORD.findall(self.text)]


@dataclass(frozen=True)
class AnyOf:
    """Terms joined by OR: at least one must match."""

    options: tuple[Term, ...]


Clause = Term | AnyOf


@dataclass(frozen=True)
class Query:
    """A parsed query: every required clause matches and no excluded term does."""

    required: tuple[Clause, ...] = ()
    excluded: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True for an empty query text: everything matching the filters."""
        return not self.required and not self.excluded

    def positive_terms(self) -> list[Term]:
        """Every term that can match (for highlighting), in query order."""
        out: list[Term] = []
        for clause in self.required:
            out.extend(clause.options if isinstance(clause, AnyOf) else (clause,))
        return out


@dataclass(frozen=True)
class _Token:
    kind: str  # "term" or "or"
    term: Term | None = None
    negated: bool = False
    raw: str = ""


def parse(text: str) -> Query:
    """Parse user query text into a Query, or raise QueryError saying what to fix."""
    # Composed: an accent typed as a combining mark (e + U+0301) is not a word
    # character, and would split "de\u0301lais" into two words.
    tokens = _tokenize(unicodedata.normalize("NFC", text))
    if not tokens:
        return Query()
    if sum(1 for t in tokens if t.kind == "term") > MAX_TERMS:
        raise QueryError(f"The query has more than {MAX_TERMS} terms: shorten it.")
    required: list[Clause] = []
    excluded: list[Term] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "or":
            raise QueryError(
                "The query starts with OR: OR must sit between two words or phrases, "
                "as in: amazon OR ebay."
            )
        assert token.term is not None
        if token.negated:
            if i + 1 < len(tokens) and tokens[i + 1].kind == "or":
                raise QueryError(_or_exclusion_message(token.raw))
            excluded.append(token.term)
            i += 1
            continue
        options = [token.term]
        while i + 1 < len(tokens) and tokens[i + 1].kind == "or":
            if i + 2 >= len(tokens):
                raise QueryError(
                    "The query ends with OR: put a word or phrase after it, as in: amazon OR ebay."
                )
            nxt = tokens[i + 2]
            if nxt.kind == "or":
                raise QueryError("OR appears twice in a row: write amazon OR ebay.")
            if nxt.negated:
                raise QueryError(_or_exclusion_message(nxt.raw))
            assert nxt.term is not None
            options.append(nxt.term)
            i += 2
        required.append(options[0] if len(options) == 1 else AnyOf(tuple(options)))
        i += 1
    if not required:
        raise QueryError(
            "The query only excludes (-word): add at least one word or phrase to search for, "
            "as in: amazon -rumour. To list everything, search with an empty query."
        )
    return Query(tuple(required), tuple(excluded))


def check(search: SearchQuery) -> Query:
    """Validate a whole SearchQuery (text, paging, facets) and return its parsed text."""
    if search.page < 1:
        raise QueryError(f"Page {search.page} does not exist: pages start at 1.")
    if not 1 <= search.per_page <= MAX_PER_PAGE:
        raise QueryError(f"Results per page must be between 1 and {MAX_PER_PAGE}.")
    if search.page * search.per_page > MAX_WINDOW:
        raise QueryError(
            f"Paging stops at result {MAX_WINDOW}: narrow the search with filters instead."
        )
    unknown = [f for f in search.facets if f not in FACET_FIELDS]
    if unknown:
        raise QueryError(f"Unknown facet {unknown[0]!r}: facets are {', '.join(FACET_FIELDS)}.")
    if search.sort not in ("relevance", "date"):
        raise QueryError(f"Unknown sort {search.sort!r}: use relevance or date.")
    if search.facet_size < 1:
        raise QueryError("facet_size must be at least 1.")
    return parse(search.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        negated = False
        if ch == "-":
            negated = True
            i += 1
            if i >= n or text[i].isspace():
                raise QueryError(
                    "A lone - excludes nothing: put it right before a word or phrase, "
                    'as in: -rumour or -"press release".'
                )
            if text[i] == "-":
                raise QueryError('Use a single - to exclude, as in: -rumour or -"press release".')
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError(
                    "A quote is not closed: phrases need a quote at each end, as in: "
                    '"press release". To search the quote character itself, remove it.'
                )
            inner = " ".join(text[i + 1 : end].split())
            after = end + 1
            if after < n and text[after] == "*":
                raise QueryError(
                    f'A phrase cannot be a prefix ("{inner}"*): put the * on a single word, '
                    "as in: market*."
                )
            if after < n and not text[after].isspace():
                raise QueryError(
                    f'Leave a space after the closing quote of "{inner}" '
                    f"(found {text[after]!r} right after it)."
                )
            if not _WORD.search(inner):
                raise QueryError(
                    'An empty phrase "" (or one with no letters or digits) matches nothing: '
                    "put words between the quotes."
                )
            tokens.append(_Token("term", Term(inner, phrase=True), negated, text[start:after]))
            i = after
            continue
        end = i
        while end < n and not text[end].isspace() and text[end] != '"':
            end += 1
        if end < n and text[end] == '"':
            raise QueryError(
                f"A quote sits inside {text[start : end + 1]!r}: put a space before the "
                'opening quote of a phrase, as in: amazon "press release".'
            )
        word = text[i:end]
        raw = text[start:end]
        i = end
        if word == "OR" and not negated:
            tokens.append(_Token("or", raw=raw))
            continue
        if word == "AND" and not negated:
            # All words must match anyway; AND is accepted and changes nothing.
            continue
        if word == "NOT" and not negated:
            raise QueryError("NOT is not an operator here: exclude with a minus, as in: -rumour.")
        tokens.append(_Token("term", _word_term(word, raw), negated, raw))
    return tokens


def _word_term(word: str, raw: str) -> Term:
    prefix = word.endswith("*")
    stem = word.rstrip("*")
    if word.count("*") > 1 or (prefix and word.endswith("**")):
        raise QueryError(
            f"Use one * at the end of a word for a prefix search, as in: market* ({raw!r})."
        )
    if "*" in stem:
        raise QueryError(
            f"A * goes at the end of a word for a prefix search, as in: market* ({raw!r})."
        )
    words = _WORD.findall(stem)
    if prefix:
        if not stem:
            raise QueryError("A lone * matches nothing: put it after a word, as in: market*.")
        if len(words) != 1 or words[0] != stem:
            raise QueryError(
                f"A prefix search takes a single plain word before the *, as in: market* "
                f"({raw!r} has other characters)."
            )
        if len(stem) < MIN_PREFIX:
            raise QueryError(
                f"A prefix needs at least {MIN_PREFIX} letters before the *, as in: market*."
            )
        return Term(stem, prefix=True)
    if not words:
        raise QueryError(
            f"{raw!r} has no letters or digits to search for: remove it, or put it in a "
            'phrase with words, as in: "c & a".'
        )
    return Term(stem)


def _or_exclusion_message(raw: str) -> str:
    return (
        f"OR cannot join an exclusion ({raw}): OR picks between things to find, "
        "and -word excludes everywhere. Write e.g.: amazon OR ebay -rumour."
    )
