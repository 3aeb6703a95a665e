"""Page chrome (navigation, footers, asides ...) set aside while trafilatura reads a page.

trafilatura deletes these elements in its own cleaning pass: they are on its
``MANUALLY_CLEANED`` list. It does so only after copying the whole page and
running several XPath passes over it whose EXSLT regular expressions call back
into Python for every element. On news pages the chrome is a large part of the
page (on the crawl benchmark's site 374 of 510 elements, on the 88 pages of the
extraction benchmark 260 of 754), so taking it out first makes trafilatura's
fast mode cheaper: 2.9 to 2.1 ms a page on the crawl site, 7.0 to 6.0 ms on the
88 real pages. The elements go the way trafilatura's ``delete_element`` takes
them, their tail text joined to what comes before.

The whole page still matters to trafilatura in three places before its cleaning,
and each is kept:

* elements holding an ``h1`` are not set aside (``RAW_TREE_PRUNE_XPATH`` asks
  whether a container holds one);
* scripts are not set aside (its forum detection reads JSON-LD);
* its rescue and recall steps read the raw page, but only for a short result;
  `whole_page_needed` says when to extract again from the whole page (9 of the
  88 real pages, which then cost about what they did).

Measured 2026-11-27 against extraction from the whole page: the same output on
the 88 pages of the extraction benchmark, 800 crawl-site pages and the 31 test
fixtures; on trafilatura's own 1,032 evaluation pages 6 differ, and the F1 of its
"with"/"without" snippets is 0.9174 against 0.9173.

The page is put back exactly as it was when the ``with`` block ends, for the
stages that read the whole page afterwards (paragraph recovery, boilerplate,
date search).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lxml.etree import XPath
from lxml.html import HtmlElement

# All on trafilatura's MANUALLY_CLEANED list. Not "form" (it keeps forms holding most
# of the text), "figure" (it keeps figures holding a table), "head" or "script".
CHROME_TAGS = ("nav", "footer", "aside", "svg", "iframe", "noscript", "style")
# trafilatura 2.3 (trafilatura.core): a result shorter than ESCALATION_MAX_LENGTH
# that covers less than ESCALATION_PAGE_SHARE of the page's text is retried in recall
# mode on the raw page; one shorter than MIN_EXTRACTED_SIZE is compared with a dump of
# the raw page. A test checks these against the installed trafilatura.
ESCALATION_MAX_LENGTH = 3000
ESCALATION_PAGE_SHARE = 0.2
MIN_EXTRACTED_SIZE = 250
# Our measure of a body's text (stripped pieces) can fall a little short of
# trafilatura's (joined pieces): compare with some room.
_ROOM = 1.25
# trafilatura measures the page with html2txt, which copies the page and cleans it
# (2 ms on a large page). An upper bound of it does here: the body's text but
# scripts' and templates' (which its cleaning drops), white space collapsed, with a
# space between every two pieces (html2txt puts at most that many).
_PAGE_TEXT = XPath(
    "//body//text()[not(ancestor::script or ancestor::template)]", smart_strings=False
)
# Tags trafilatura's html2txt cleaning keeps, whose text must be counted back.
_COUNTED_BACK = {"nav", "iframe", "noscript"}


@dataclass
class _SetAside:
    """One element taken out of its parent, and how to put it back."""

    element: HtmlElement
    parent: HtmlElement
    index: int
    # Where its tail text went: ("text", parent) or ("tail", previous sibling), and
    # the value it replaced.
    holder: HtmlElement | None = None
    attribute: str = ""
    replaced: str | None = None


class SetAside(list[_SetAside]):
    """The elements set aside from a page."""

    def page_text_bound(self, tree: HtmlElement) -> int:
        """At least the length of trafilatura's html2txt of the whole page (call inside)."""
        pieces = _PAGE_TEXT(tree)
        pieces += [e.element.text_content() for e in self if e.element.tag in _COUNTED_BACK]
        return len(" ".join(" ".join(pieces).split()))


@contextmanager
def chrome_set_aside(tree: HtmlElement) -> Iterator[SetAside]:
    """Take the page's chrome out for the duration of the block; yield what was taken."""
    taken = _take_out(tree)
    try:
        yield taken
    finally:
        for entry in reversed(taken):
            if entry.holder is not None:
                setattr(entry.holder, entry.attribute, entry.replaced)
            entry.parent.insert(entry.index, entry.element)


def whole_page_needed(text_size: int, tree: HtmlElement, taken: SetAside) -> bool:
    """Whether trafilatura may have read the raw page for a result of this size.

    Call it inside the ``with`` block: the page text is measured without the chrome.
    """
    if text_size < MIN_EXTRACTED_SIZE * _ROOM:
        return True
    if text_size >= ESCALATION_MAX_LENGTH * _ROOM:
        return False
    return text_size < ESCALATION_PAGE_SHARE * _ROOM * taken.page_text_bound(tree)


def _take_out(tree: HtmlElement) -> SetAside:
    chosen: list[HtmlElement] = []
    inside: set[HtmlElement] = set()
    for element in tree.iter(*CHROME_TAGS):
        if element.getparent() is None or element.find(".//h1") is not None:
            continue
        if any(ancestor in inside for ancestor in element.iterancestors()):
            continue  # goes with an outer one
        inside.add(element)
        chosen.append(element)
    # In document order, so that a tail joins the sibling still in place before it,
    # as when trafilatura deletes them one by one.
    taken = SetAside()
    for element in chosen:
        parent = element.getparent()
        entry = _SetAside(element, parent, parent.index(element))
        if element.tail:
            previous = element.getprevious()
            entry.holder, entry.attribute = (
                (parent, "text") if previous is None else (previous, "tail")
            )
            entry.replaced = getattr(entry.holder, entry.attribute)
            setattr(entry.holder, entry.attribute, (entry.replaced or "") + element.tail)
        parent.remove(element)
        taken.append(entry)
    return taken
