"""The elements of a page that extraction reads, gathered in one pass over its tree.

Metadata, paragraph recovery and boilerplate removal each look for a few kinds of
element (meta tags, paragraphs, links, images). A walk over a page's few hundred
elements costs little while the tree is still in the CPU's caches, right after
parsing, and several times more later, after trafilatura has worked through its
own copies: so the page is walked once, first, and the later stages read lists.
"""

from __future__ import annotations

from lxml.etree import _Element

# What each later stage asks for: metadata (meta, link, title, script, h1, time, a),
# paragraph recovery (p, blockquote), boilerplate removal (a, img).
TAGS = ("meta", "link", "title", "script", "h1", "time", "a", "p", "blockquote", "img")


class PageElements:
    """A page's elements of the kinds in `TAGS`, by tag, each list in document order."""

    __slots__ = ("by_tag", "paragraphs")

    def __init__(self, tree: _Element) -> None:
        self.by_tag: dict[str, list[_Element]] = {tag: [] for tag in TAGS}
        # <p> and <blockquote> together, in document order.
        self.paragraphs: list[_Element] = []
        by_tag = self.by_tag
        paragraphs = self.paragraphs
        for el in tree.iter(*TAGS):
            tag = el.tag
            by_tag[tag].append(el)
            if tag == "p" or tag == "blockquote":
                paragraphs.append(el)

    def __getitem__(self, tag: str) -> list[_Element]:
        """The page's elements with this tag, in document order."""
        return self.by_tag[tag]


def page_elements(tree: _Element, elements: PageElements | None) -> PageElements:
    """The given index, or one built now for a caller that has none."""
    return elements if elements is not None else PageElements(tree)
