"""Article extraction: clean text and metadata from an HTML page (trafilatura first).

The page is decoded and parsed once; the metadata is read from that tree and the
same tree goes to trafilatura for the body. Trafilatura runs in its fast, balanced
mode without comments, and in its full mode (with its readability/jusText
comparison) only when the fast result looks like a miss. Paragraphs it left out of
the article's own containers are put back (`watch.body_recovery`), then generic
boilerplate the reader does not want is removed (repeated headline, standfirst,
related-links lists, newsletter and follow prompts): see `watch.boilerplate`.
Balanced rather than favour-precision mode: the boilerplate rules take out what
precision mode would, without the sentences precision mode also loses.
"""

from __future__ import annotations

import logging
import re
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import lxml.html
import trafilatura
from lxml.etree import ElementDefaultClassLookup, ParserError, _Element
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
from trafilatura.settings import Extractor
from trafilatura.xml import xmltotxt

from watch.body_recovery import recover_paragraphs
from watch.boilerplate import clean_body
from watch.charset import MAX_DECODED_BYTES, charset_from_content_type, to_utf8
from watch.language import page_language
from watch.page_chrome import chrome_set_aside, whole_page_needed
from watch.page_elements import PageElements
from watch.page_metadata import PageMetadata, guess_published, read_metadata

LOGGER = logging.getLogger(__name__)
# trafilatura logs every page without an article as a warning: an expected outcome here.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# Characters an XML tree cannot hold: C0 controls but tab and newlines, U+FFFE, U+FFFF.
_CONTROL_BYTES = bytes([*range(9), 11, 12, *range(14, 32)])
_NONCHARACTERS = ("\ufffe".encode(), "\uffff".encode())
# libxml2 can drop the document after some doctype lines; the doctype carries nothing here.
_DOCTYPE = re.compile(rb"^\s*<!DOCTYPE[^>]*>", re.IGNORECASE)
_PARSER = lxml.html.HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
# lxml.html's default lookup calls back into Python for every element object it hands
# out (to give forms and inputs their own classes), and trafilatura's many passes over
# its copies of the tree inherit it: a lookup done in C, one class for every element,
# costs nothing. Nothing here uses the form classes' extra properties.
_PARSER.set_element_class_lookup(
    ElementDefaultClassLookup(
        element=HtmlElement,
        comment=HtmlComment,
        pi=HtmlProcessingInstruction,
        entity=HtmlEntity,
    )
)
# A fast-mode body shorter than this is re-extracted in trafilatura's full mode.
FALLBACK_BELOW_CHARS = 600
SUMMARY_CHARS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+")


class StageClock(Protocol):
    """Receives the end of each extraction stage (a profiler; see `bench/extract.py --stages`)."""

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap to `stage`."""


class _NoClock:
    def lap(self, stage: str) -> None:
        pass


_NO_CLOCK = _NoClock()


@dataclass
class Extracted:
    """What extraction found in one page."""

    url: str | None
    title: str
    text: str
    summary: str
    author: str | None
    published: datetime | None
    language: str | None
    canonical_url: str | None = None
    authors: list[str] = field(default_factory=list)


def parse_html(html: str | bytes, content_type: str | None = None) -> HtmlElement | None:
    """Decode and parse a page into an lxml tree (None when there is no document)."""
    if isinstance(html, str):
        data = html[:MAX_DECODED_BYTES].encode("utf-8", "replace")
    else:
        data = to_utf8(html, charset_from_content_type(content_type))
    # Control characters cannot live in an lxml tree's text; a byte scan finds them
    # faster than a regex over the decoded text (UTF-8 never hides them in a sequence).
    if len(data.translate(None, _CONTROL_BYTES)) != len(data):
        data = data.translate(None, _CONTROL_BYTES)
    if _NONCHARACTERS[0] in data or _NONCHARACTERS[1] in data:
        data = data.replace(_NONCHARACTERS[0], b"").replace(_NONCHARACTERS[1], b"")
    head = data[:1024]
    if b"<!" in head:
        data = _DOCTYPE.sub(b"", head, count=1) + data[1024:]
    if not data.strip():
        return None
    try:
        # Parsed from UTF-8 bytes so that a stale meta charset cannot re-decode the text.
        return lxml.html.document_fromstring(data, parser=_PARSER)
    except (ParserError, ValueError):
        return None


def extract(
    html: str | bytes,
    url: str | None = None,
    *,
    content_type: str | None = None,
    clock: StageClock | None = None,
) -> Extracted:
    """Extract the main article text and metadata from a page; never raises."""
    try:
        return _extract(html, url, content_type, clock or _NO_CLOCK)
    except Exception:  # a broken page must never stop a crawl: log it, return nothing
        LOGGER.warning("extraction failed for %s", url or "<page>", exc_info=True)
        return Extracted(url, "", "", "", None, None, None)


def _extract(
    html: str | bytes, url: str | None, content_type: str | None, clock: StageClock
) -> Extracted:
    tree = parse_html(html, content_type) if html else None
    clock.lap("parse")
    if tree is None:
        return Extracted(url, "", "", "", None, None, None)
    # One walk over the page while it is fresh in the caches, for every later stage.
    elements = PageElements(tree)
    meta = read_metadata(tree, url, elements)
    clock.lap("metadata")
    text = main_text(tree, url, meta, clock, elements)
    language = page_language(meta.languages, text or meta.title)
    clock.lap("language")
    if meta.published is None:
        # Last: the date search may prune the tree, which nothing needs any more.
        meta.published = guess_published(tree, url or meta.canonical_url)
        clock.lap("date search")
    return Extracted(
        url=url,
        title=meta.title,
        text=text,
        summary=meta.description or first_sentences(text),
        author=", ".join(meta.authors) or None,
        published=meta.published,
        language=language,
        canonical_url=meta.canonical_url,
        authors=meta.authors,
    )


def _options(fast: bool) -> Extractor:
    """Trafilatura's options for one mode, built once: reading them from its config costs."""
    # Text output rather than "python": bare_extraction then skips rendering the body
    # as text, which is done here after recovery and cleaning. The date parameters the
    # options carry (today's date as the latest) are unused without metadata.
    return Extractor(
        output_format="txt", fast=fast, comments=False, tables=True, with_metadata=False
    )


_OPTIONS = {True: _options(fast=True), False: _options(fast=False)}


def _body(tree: HtmlElement, url: str | None, fast: bool) -> HtmlElement | None:
    options = _OPTIONS[fast]
    if url is not None:
        # A copy per page: the shared options never carry one page's URL into the next
        # (trafilatura itself copies them before its recall retry changes the focus).
        options = copy(options)
        options.url = options.source = url
    doc = trafilatura.bare_extraction(tree, url=url, options=options)
    return None if doc is None else doc.body


def main_text(
    tree: HtmlElement,
    url: str | None,
    meta: PageMetadata,
    clock: StageClock = _NO_CLOCK,
    elements: PageElements | None = None,
) -> str:
    """The article body as plain text, one paragraph per line."""
    with chrome_set_aside(tree) as taken:
        body = _body(tree, url, fast=True)
        size = _text_size(body)
        again = bool(taken) and whole_page_needed(size, tree, taken)
    if again:
        body = _body(tree, url, fast=True)
        size = _text_size(body)
    clock.lap("trafilatura")
    if size < FALLBACK_BELOW_CHARS:
        full = _body(tree, url, fast=False)
        if _text_size(full) > size:
            body = full
        clock.lap("trafilatura full")
    if body is None:
        return ""
    block_texts: dict[_Element, str] = {}
    changed = recover_paragraphs(body, tree, elements, block_texts)
    clock.lap("recovery")
    clean_body(body, tree, meta, elements, None if changed else block_texts)
    clock.lap("cleaning")
    text = xmltotxt(body, False).strip()
    clock.lap("text")
    return text


def _text_size(body: HtmlElement | None) -> int:
    """How many characters of text an extracted body holds."""
    return 0 if body is None else sum(len(t.strip()) for t in body.itertext())


def first_sentences(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The opening sentences of a text, cut at a sentence end within `limit` characters."""
    first = text.strip().split("\n", 1)[0].strip()
    if len(first) <= limit:
        return first
    summary = ""
    for sentence in _SENTENCE_END.split(first):
        if summary and len(summary) + 1 + len(sentence) > limit:
            break
        summary = f"{summary} {sentence}".strip()
    return summary if len(summary) <= limit else summary[: limit - 1].rsplit(" ", 1)[0] + "…"
