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
from dataclasses import dataclass, field
from datetime import datetime

import lxml.html
import trafilatura
from lxml.etree import ParserError
from lxml.html import HtmlElement
from trafilatura.xml import xmltotxt

from watch.body_recovery import recover_paragraphs
from watch.boilerplate import clean_body
from watch.charset import charset_from_content_type, decode_html
from watch.language import page_language
from watch.page_metadata import PageMetadata, read_metadata

LOGGER = logging.getLogger(__name__)
# trafilatura logs every page without an article as a warning: an expected outcome here.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# Characters libxml2 refuses in a text document.
_INVALID_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DOCTYPE = re.compile(r"^\s*<!DOCTYPE[^>]*>", re.IGNORECASE)
_PARSER = lxml.html.HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
# A fast-mode body shorter than this is re-extracted in trafilatura's full mode.
FALLBACK_BELOW_CHARS = 600
SUMMARY_CHARS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+")


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
    declared = charset_from_content_type(content_type)
    text = html if isinstance(html, str) else decode_html(html, declared)
    text = _DOCTYPE.sub("", _INVALID_XML_CHARS.sub("", text), count=1)
    if not text.strip():
        return None
    try:
        # Parsed from UTF-8 bytes so that a stale meta charset cannot re-decode the text.
        return lxml.html.document_fromstring(text.encode("utf-8", "replace"), parser=_PARSER)
    except (ParserError, ValueError):
        return None


def extract(
    html: str | bytes, url: str | None = None, *, content_type: str | None = None
) -> Extracted:
    """Extract the main article text and metadata from a page; never raises."""
    try:
        return _extract(html, url, content_type)
    except Exception:  # a broken page must never stop a crawl: log it, return nothing
        LOGGER.warning("extraction failed for %s", url or "<page>", exc_info=True)
        return Extracted(url, "", "", "", None, None, None)


def _extract(html: str | bytes, url: str | None, content_type: str | None) -> Extracted:
    tree = parse_html(html, content_type) if html else None
    if tree is None:
        return Extracted(url, "", "", "", None, None, None)
    meta = read_metadata(tree, url)
    text = main_text(tree, url, meta)
    language = page_language(meta.languages, text or meta.title)
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


def _body(tree: HtmlElement, url: str | None, fast: bool) -> HtmlElement | None:
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        include_comments=False,
        include_tables=True,
        with_metadata=False,
    )
    return None if doc is None else doc.body


def main_text(tree: HtmlElement, url: str | None, meta: PageMetadata) -> str:
    """The article body as plain text, one paragraph per line."""
    body = _body(tree, url, fast=True)
    text = xmltotxt(body, False) if body is not None else ""
    if len(text) < FALLBACK_BELOW_CHARS:
        full = _body(tree, url, fast=False)
        full_text = xmltotxt(full, False) if full is not None else ""
        if len(full_text) > len(text):
            body, text = full, full_text
    if body is None:
        return ""
    recover_paragraphs(body, tree)
    clean_body(body, tree, meta)
    return xmltotxt(body, False).strip()


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
