"""Put back article paragraphs that trafilatura's precise mode left out.

Favouring precision, trafilatura sometimes keeps only the first of several
containers an article is split into (by ads or pull quotes), drops a paragraph
that sits in a box of its own, or cuts an inline link out of a sentence. The page
itself says what is missing: prose paragraphs of the DOM that are absent from the
body although they share a container with paragraphs that are present, or sit in
a sibling container of the same kind (same tag and class, three levels up).
Those are put back in document order; everything else stays out.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from lxml.etree import Element, _Element
from lxml.html import HtmlElement

from watch.boilerplate import normalized_many
from watch.page_elements import PageElements

# A paragraph shorter than this is too weak a signal to put back.
MIN_PROSE_CHARS = 120
# Above this share of link text a paragraph is a teaser or a link list, not prose.
MAX_LINK_SHARE = 0.3
# Paragraphs under these never count as the article's text.
_OUTSIDE = {
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "figure",
    "figcaption",
    "script",
    "noscript",
    "style",
    "template",
    "button",
    "select",
    "label",
    "blockquote",
    "li",
    "ul",
    "ol",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}
# Classes of the blockquotes social networks' embed codes produce.
_EMBED = re.compile(r"twitter|instagram|tiktok|facebook|reddit|mastodon|bluesky|threads", re.I)
MIN_EMBED_CHARS = 20
_CODE = re.compile(r"[{};=<>]|&\w+;|\b(?:var|function|window\.|document\.)")
SIGNATURE_DEPTH = 3
# Words that identify a paragraph's opening or end, to find one the body holds cut short.
HEAD_WORDS = 8
SHINGLE = 4
# A paragraph with at least this share of its shingles in the body is present.
COVERED_SHARE = 0.9
# Paragraphs x body characters above which coverage uses shingles, not substring search.
SUBSTRING_BUDGET = 50_000_000


def _prose_like(text: str) -> bool:
    """Text that reads as sentences: not code, markup or a run of symbols."""
    if len(_CODE.findall(text)) > 2:
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    return letters > 0.85 * len(text)


def _partial(ends: dict[str, int], norms: list[str], tokens: list[str]) -> int | None:
    """The body paragraph that is `tokens` with one run of words cut out, if any."""
    if len(tokens) < 2 * HEAD_WORDS:
        return None
    for key in (" ".join(tokens[:HEAD_WORDS]), " ".join(tokens[-HEAD_WORDS:])):
        index = ends.get(key)
        if index is not None and _is_cut_from(norms[index].split(), tokens):
            return index
    return None


def _all_within_blocks(paragraphs: list[tuple[_Element, str]], block_texts: list[str]) -> bool:
    """Whether each paragraph's text lies within one body block: then none is missing.

    A shortcut past word normalisation, which costs more than the rest of recovery.
    Within one block, a paragraph's normalised text is also within the block's,
    which is what coverage looks for, so the answer is the same. Limited to ASCII
    text (whose lower-casing is character by character) and to pages where coverage
    would search for substrings rather than compare word shingles.
    """
    raw = "\0".join(block_texts)
    if not raw.isascii() or len(paragraphs) * len(raw) > SUBSTRING_BUDGET:
        return False
    collapsed = None
    for _p, text in paragraphs:
        if text in raw:
            continue
        if collapsed is None:  # white space often differs: compare with it collapsed
            collapsed = "\0".join(" ".join(block.split()) for block in block_texts)
        if " ".join(text.split()) not in collapsed:
            return False
    return True


def _paragraph_ends(blocks: list[_Element], norms: list[str]) -> dict[str, int]:
    """The opening and closing words of the body's long paragraphs, to their block index."""
    ends: dict[str, int] = {}
    for index, (block, norm) in enumerate(zip(blocks, norms, strict=True)):
        if block.tag != "p":
            continue
        tokens = norm.split()
        if len(tokens) >= 2 * HEAD_WORDS:
            ends.setdefault(" ".join(tokens[:HEAD_WORDS]), index)
            ends.setdefault(" ".join(tokens[-HEAD_WORDS:]), index)
    return ends


def _is_cut_from(short: list[str], full: list[str]) -> bool:
    """Whether `short` is `full` with one contiguous run of words removed."""
    if len(short) >= len(full):
        return False
    head = 0
    while head < len(short) and short[head] == full[head]:
        head += 1
    tail = 0
    while tail < len(short) - head and short[-1 - tail] == full[-1 - tail]:
        tail += 1
    return head + tail == len(short)


def _signature(el: _Element) -> tuple[tuple[str, str], ...] | None:
    """Tag and class of an element and its ancestors; None for an element without a class."""
    if not el.get("class"):
        return None
    parts = []
    node: _Element | None = el
    for _ in range(SIGNATURE_DEPTH):
        if node is None:
            break
        parts.append((str(node.tag), node.get("class") or ""))
        node = node.getparent()
    return tuple(parts)


def prose_paragraphs(
    tree: HtmlElement, elements: PageElements | None = None
) -> list[tuple[_Element, str]]:
    """The page's <p> elements that read as article prose, and its social-media embeds.

    Embedded posts (a tweet's blockquote) are short and full of links, but readers
    count them as part of the story, so they are kept on other terms than prose.
    """
    found = []
    outside: dict[_Element, bool] = {}
    for el in tree.iter("p", "blockquote") if elements is None else elements.paragraphs:
        # First the cheapest test (memoised per container): menus, footers, asides...
        if _within_outside(el.getparent(), outside):
            continue
        has_children = len(el) > 0
        # Without child elements, .text is the text content, and far cheaper to get.
        text = el.text_content() if has_children else el.text or ""
        if el.tag == "blockquote":
            if len(text.strip()) < MIN_EMBED_CHARS or not _EMBED.search(el.get("class") or ""):
                continue
        else:
            if len(text) < MIN_PROSE_CHARS:
                continue
            if has_children:
                link_chars = sum(
                    len(a.text_content() if len(a) else a.text or "") for a in el.iter("a")
                )
                if link_chars > MAX_LINK_SHARE * len(text):
                    continue
        found.append((el, text))
    return found


def _within_outside(el: _Element | None, memo: dict[_Element, bool]) -> bool:
    """Whether an element is, or is inside, one of the _OUTSIDE elements (memoised per page)."""
    chain = []
    result = False
    while el is not None:
        known = memo.get(el)
        if known is not None:
            result = known
            break
        if el.tag in _OUTSIDE:
            result = True
            break
        chain.append(el)
        el = el.getparent()
    for node in chain:
        memo[node] = result
    return result


def _shingles(tokens: list[str]) -> list[tuple[str, ...]]:
    """The 4-word shingles of a token list (the whole list when it is shorter)."""
    if len(tokens) < SHINGLE:
        return [tuple(tokens)] if tokens else []
    return [tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)]


class _Coverage:
    """Finds which body block holds a paragraph's (normalised) text.

    A substring search per paragraph is fastest on ordinary pages; on a page with
    thousands of paragraphs that becomes quadratic, so past a budget the lookup
    switches to word shingles, linear in the page size.
    """

    def __init__(self, block_norms: list[str], paragraphs: int) -> None:
        self.starts: list[int] = []
        offset = 0
        for norm in block_norms:
            self.starts.append(offset)
            offset += len(norm) + 1
        self.joined = " ".join(block_norms)
        self.shingles: dict[tuple[str, ...], int] | None = None
        if paragraphs * len(self.joined) > SUBSTRING_BUDGET:
            self.shingles = {}
            for index, norm in enumerate(block_norms):
                for shingle in _shingles(norm.split()):
                    self.shingles.setdefault(shingle, index)

    def locate(self, norm: str) -> int | None:
        """The index of the block where the paragraph ends, or None if it is absent."""
        if not norm:
            return None
        if self.shingles is None:
            position = self.joined.find(norm)
            if position < 0:
                return None
            return bisect_right(self.starts, position + len(norm) - 1) - 1
        shingles = _shingles(norm.split())
        found = [self.shingles[s] for s in shingles if s in self.shingles]
        return found[-1] if found and len(found) >= COVERED_SHARE * len(shingles) else None


def recover_paragraphs(
    body: _Element,
    tree: HtmlElement,
    elements: PageElements | None = None,
    block_texts: dict[_Element, str] | None = None,
) -> int:
    """Insert into `body` the prose paragraphs it is missing; return how many changed.

    `block_texts`, when given, receives the text of each body block as it was read,
    for the boilerplate pass to reuse when nothing changed.
    """
    paragraphs = prose_paragraphs(tree, elements)
    if not paragraphs:
        return 0
    blocks = list(body)
    texts = ["".join(block.itertext()) for block in blocks]
    if block_texts is not None:
        block_texts.update(zip(blocks, texts, strict=True))
    if _all_within_blocks(paragraphs, texts):
        return 0  # the usual case: every paragraph is in the body already
    block_norms = normalized_many(texts)
    coverage = _Coverage(block_norms, len(paragraphs))
    states = []
    covered_parents: set[_Element] = set()
    norms = normalized_many([text for _p, text in paragraphs])
    for (p, text), norm in zip(paragraphs, norms, strict=True):
        block_index = coverage.locate(norm)
        states.append((p, text, norm, block_index))
        if block_index is not None:
            covered_parents.add(p.getparent())
    if not covered_parents:
        return 0  # trafilatura kept none of the page's prose: no anchor to recover around
    # Built on first need: on most pages no paragraph is missing.
    ends: dict[str, int] | None = None
    signatures: set[tuple[tuple[str, str], ...]] | None = None

    changed = 0
    anchor: _Element | None = None  # the body block after which the next insert goes
    for p, text, norm, block_index in states:
        if block_index is not None:
            anchor = blocks[block_index]
            continue
        embed = p.tag == "blockquote"
        if not norm or not (embed or _prose_like(text)):
            continue
        clean = " ".join(text.split())
        partial = None
        if not embed:
            if ends is None:
                ends = _paragraph_ends(blocks, block_norms)
            partial = _partial(ends, block_norms, norm.split())
        if partial is not None:
            # The body has this paragraph with words cut out of it: restore the full sentence.
            block = blocks[partial]
            for child in list(block):
                block.remove(child)
            block.text = clean
            block_norms[partial] = norm
            anchor = block
            changed += 1
            continue
        parent = p.getparent()
        if embed:
            # An embed sits in a wrapper of its own, inside the article's container.
            if parent not in covered_parents and parent.getparent() not in covered_parents:
                continue
        elif parent not in covered_parents:
            if signatures is None:
                signatures = {s for s in (_signature(el) for el in covered_parents) if s}
            if _signature(parent) not in signatures:
                continue
        new = Element("p")
        new.text = clean
        if anchor is None:
            body.insert(0, new)
        else:
            anchor.addnext(new)
        anchor = new
        changed += 1
    return changed
