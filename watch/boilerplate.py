"""Generic boilerplate left in an extracted article body, and its removal.

Trafilatura finds the article's container well, but publishers put things inside
that container which readers do not count as the story: the headline repeated at
the top, "Related:" and "Read more:" links, lists of links to other stories,
newsletter and follow-us prompts, and credit lines at the foot. These rules are
about the kind of block, never about a particular site, and each is limited to
short blocks (and, for prompts and credits, to the ends of the body) so that
sentences of the story that merely mention such words survive.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml.etree import XPath, _Element
from lxml.html import HtmlElement

from watch.page_elements import PageElements
from watch.page_metadata import PageMetadata

_WORD = re.compile(r"\w+")
# ASCII characters that are not `\w`, mapped to spaces: on ASCII text, splitting the
# translated text yields the `\w+` tokens several times faster than the regex.
_ASCII_NON_WORD = str.maketrans(
    dict.fromkeys((chr(c) for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")), " ")
)
# The same for ASCII bytes, lower-casing the word characters on the way and keeping NUL.
_ASCII_WORD_BYTES = bytes(
    c if c == 0 or c > 127 else ord(chr(c).lower()) if chr(c).isalnum() or c == 95 else 32
    for c in range(256)
)
_SPACE_RUN = re.compile(b" {2,}")
# Blocks that introduce a link to another story: "Related: ...", "Read more: ...".
_LINK_LABEL = re.compile(
    r"^\W*(?:related(?: (?:post|posts|article|articles|story|stories|content|reading|coverage))?"
    r"|read (?:more|also|next)|see (?:more|also)|more(?: on this| from [\w ]{1,30})?|also(?: read)?"
    r"|also on [\w.]+|recommended(?: for you)?|don'?t miss|must read|further reading|watch|listen"
    r"|suggested(?: reading)?|lire aussi|à lire aussi|a lire aussi|voir aussi|lesen sie auch"
    r"|mehr zum thema|leer más|lee también|leia também|leia mais|leggi anche|vedi anche)"
    r"\s*(?::|\||-|–|—|»|>)"
    # "Also on example.com <headline>": the domain marks the link, no colon needed.
    r"|^\W*also on [\w-]+\.[a-z]{2,}\b",
    re.IGNORECASE,
)
# Whole blocks that are a label or prompt rather than prose.
_LABEL_BLOCK = re.compile(
    r"^\W*(?:\d+\s+)?(?:comments?|leave a comment|add comment|reply|share"
    r"|share this(?: story| article)?|print|email|advertisement|advertising|sponsored"
    r"|related|related articles|related posts"
    r"|related stories|more stories|more from [\w ]{1,30}|you may also like|you might also like"
    r"|recommended|recommended for you|don'?t miss|read more|read next|see also|more"
    r"|tell us what you think|like this (?:story|article)\?? share it with a friend"
    r"|what do you think|trending|most popular|most read|top stories|[\w' ]{0,40}newsletter"
    r"|(?:popular|trending|most read) (?:on|at) [\w.' ]{1,30})\W*$",
    re.IGNORECASE,
)
# Prompts to subscribe or follow (short blocks only). Most are imperatives, so they
# are matched at the start of a sentence: "Sign up for...", "Follow us on...", while
# "Two million people follow him on Twitter" is news and stays.
_SENTENCE_START = r"(?:^\W*|[.!?…]\s+)"
_PROMPT = re.compile(
    _SENTENCE_START + r"(?:sign up|subscribe|register|join)\b[^.!?]{0,120}"
    r"\b(?:newsletters?|inbox|e-?mails?|updates|alerts)\b"
    r"|" + _SENTENCE_START + r"get (?:the latest|our|the best|the day's)\b[^.!?]{0,80}"
    r"\b(?:inbox|newsletters?|updates)\b"
    r"|\b(?:sign up|subscribe)\b[^.!?]{0,40}\b(?:our|free|the) [\w' ]{0,30}newsletters?\b"
    r"|" + _SENTENCE_START + r"follow\b[^.!?]{0,80}"
    r"\bon (?:twitter|facebook|instagram|linkedin|youtube|tiktok|threads|bluesky)\b"
    r"|\bfollow (?:us|me)\b"
    r"|\b(?:like|enjoy)(?:d)? this (?:story|article)\b.{0,40}\bshare\b"
    r"|^\W*have a (?:news )?tip\b"
    r"|\bclick here (?:for more information|to subscribe)\b"
    r"|^\W*(?:abonnez-vous|inscrivez-vous)\b"
    r"|\bthanks? (?:you )?for (?:signing up|subscribing)\b|\bkeep an eye on your inbox\b"
    r"|\berror processing your subscription\b"
    # Affiliate disclosures: "We may earn a commission", "X may get a share of the sale".
    r"|\b(?:may|might|could) (?:receive|earn|get|make) (?:a )?(?:small )?"
    r"(?:compensation|commissions?|a share of)\b"
    r"|\baffiliate (?:links?|partnerships?|commissions?)\b"
    r"|^\W*(?:advertising |affiliate )?disclosure\s*:"
    # Blog software's post footer: "This entry was posted on ... and filed under ...".
    r"|^\W*(?:this (?:entry|post) was (?:posted|published)|(?:der|dieser) (?:beitrag|eintrag)"
    r" wurde\b[^.]{0,80}\bveröffentlicht)",
    re.IGNORECASE,
)
# What each branch of _PROMPT cannot match without: a word (lower-case) from each group,
# the rarest group first.
# The pattern's many unanchored branches make it slow (about 0.1 ms a line), and words
# such as "share" or "subscription" are common in business news, so a line is searched
# only when some branch has all it needs. Keep in step with _PROMPT (a test checks).
_PROMPT_NEEDS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        ("newsletter", "inbox", "mail", "updates", "alerts"),
        ("sign up", "subscri", "register", "join"),
    ),
    (("inbox", "newsletter", "updates"), ("get ",)),
    (
        (
            "follow us",
            "follow me",
            "twitter",
            "facebook",
            "instagram",
            "linkedin",
            "youtube",
            "tiktok",
            "threads",
            "bluesky",
        ),
        ("follow",),
    ),
    (("this story", "this article"), ("share",)),
    (("have a ",), ("tip",)),
    (("click here",),),
    (("abonnez-vous", "inscrivez-vous"),),
    (("signing up", "subscribing"), ("thank",)),
    (("keep an eye on your inbox", "error processing your subscription"),),
    (("compensation", "commission", "a share of"), ("may ", "might ", "could ")),
    (("affiliate link", "affiliate partnership", "affiliate commission", "disclosure"),),
    (("this entry was p", "this post was p"),),
    (("veröffentlicht",), ("beitrag wurde", "eintrag wurde")),
)
_PROMPT_FIRST_WORDS = tuple(sorted({word for groups in _PROMPT_NEEDS for word in groups[0]}))
# Characters case-insensitive matching takes for an ASCII letter (i, s) although
# lower() does not turn them into it: a text holding one skips the shortcut.
_CASE_TRAPS = ("İ", "ı", "ſ")
# Credit and source lines that close wire stories: at the start of the line, or the
# two phrases looked for anywhere in it (kept apart so that most lines skip the search).
_CREDIT_START = re.compile(
    r"\W*(?:(?:additional )?reporting by|writing by|editing by|edited by|compiled by"
    r"|filed under)\b|\W*sources?\s*:"
    r"|\W*with (?:post |wire )?(?:wires?|ap|afp|reuters|wire services|agencies)\W*$"
    r"|\W*(?:copyright\b|©|ⓒ|\(c\)\s)",
    re.IGNORECASE,
)
_CREDIT_ANYWHERE = re.compile(
    r"\bcontributed (?:reporting|to this report)\b|\ball rights reserved\b", re.IGNORECASE
)
_CREDIT_WORDS = ("contributed", "all rights reserved")
# Stamps that are not prose: "Updated at 1:23 p.m.", "Reading time: 2 minutes".
_STAMP = re.compile(
    r"^\W*(?:updated|last updated|published|posted|publié le|mis à jour|reading time|read time"
    r"|tempo de leitura|temps de lecture|lesezeit)\b",
    re.IGNORECASE,
)
# Month and weekday names (en, fr, de, es, pt, it) and the small words of written dates.
_DATE_WORDS = frozenset(
    """
    jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july
    august september october november december monday tuesday wednesday thursday friday saturday
    sunday mon tue wed thu fri sat sun am pm at on the of gmt utc est edt pst pdt cet cest bst
    janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre
    décembre decembre lundi mardi mercredi jeudi vendredi samedi dimanche le à h
    januar februar märz maerz juni juli oktober dezember montag dienstag mittwoch donnerstag
    freitag samstag sonntag um uhr am
    enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
    lunes martes miércoles jueves viernes sábado domingo de del las
    janeiro fevereiro março maio junho julho setembro outubro novembro dezembro
    segunda terça quarta quinta sexta sábado domingo feira às
    gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
    lunedì martedì mercoledì giovedì venerdì sabato domenica alle ore
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_DIGIT = re.compile(r"\d")
_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:19|20)\d{2})(?!\d)"
)
# Unrendered shortcodes from blog software: "[button link=...]...[/button]".
_SHORTCODE = re.compile(r"\[/[a-z_]+\]")
_YEAR = re.compile(r"^(?:19|20)\d{2}$")
DEK_MAX_WORDS = 35
BYLINE_MAX_WORDS = 12
BIO_MAX_WORDS = 60
_BYLINE = re.compile(r"^\W*(by|par|von|por|door|di|av|af)\s+", re.IGNORECASE)
# Two to four capitalised words, optionally "and" another name: a person's name.
_NAME = re.compile(
    r"^[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){1,3}(?:(?:,| and) [A-Z][\w.'-]*(?: [A-Z][\w.'-]*){1,3})*"
    r"(?:$|,|\s*[|•·-])"
)
_BIO_VERBS = re.compile(
    r"\b(?:is|was) an? \b|\b(?:covers|writes|reports|has covered|has written|joined)\b"
    r"|\b(?:reporter|editor|correspondent|contributor|columnist|journalist|writer)\b",
    re.IGNORECASE,
)
# A link list holding more than this share of the body's text is kept.
MAX_LIST_SHARE = 0.4
PROMPT_MAX_WORDS = 45
LABEL_MAX_WORDS = 30
STAMP_MAX_WORDS = 12
# Past the largest of the limits above, a block's length in words makes no difference.
_WORD_LIMIT = max(
    LABEL_MAX_WORDS, PROMPT_MAX_WORDS, STAMP_MAX_WORDS, BYLINE_MAX_WORDS, BIO_MAX_WORDS
)
# How far from either end of the body credits and stamps are looked for.
EDGE_BLOCKS = 4
_BLOCK_TAGS = {"p", "head", "list", "quote", "table", "div"}


def words(text: str) -> list[str]:
    """The `\\w+` tokens of a text."""
    if text.isascii():
        return text.translate(_ASCII_NON_WORD).split()
    return _WORD.findall(text)


def normalized(text: str) -> str:
    """A text's `\\w+` tokens, lower-cased and joined by single spaces."""
    return " ".join(words(text)).lower()


_norm = normalized


def normalized_many(texts: list[str]) -> list[str]:
    """`normalized` of each text, done in one pass over them all when they are ASCII."""
    # NUL cannot occur in text from an lxml tree, so it can separate the texts.
    joined = "\0".join(texts)
    if not joined.isascii() or joined.count("\0") != len(texts) - 1:
        return [normalized(text) for text in texts]
    spaced = _SPACE_RUN.sub(b" ", joined.encode("ascii").translate(_ASCII_WORD_BYTES))
    return [piece.strip(" ") for piece in spaced.decode("ascii").split("\0")]


def _lowered(text: str) -> str | None:
    """The text lower-cased for word checks, or None when lower() would hide a match."""
    if not text.isascii() and any(trap in text for trap in _CASE_TRAPS):
        return None
    return text.lower()


def _may_hold(text: str, needles: tuple[str, ...]) -> bool:
    """Whether a text may hold one of the (lower-case) needles, case-insensitively."""
    lowered = _lowered(text)
    return lowered is None or any(needle in lowered for needle in needles)


def _may_be_prompt(text: str) -> bool:
    """Whether some branch of _PROMPT finds every word it needs in the text."""
    lowered = _lowered(text)
    if lowered is None:
        return True
    if not any(map(lowered.__contains__, _PROMPT_FIRST_WORDS)):
        return False  # most lines: a quick no
    return any(
        all(any(word in lowered for word in group) for group in groups) for groups in _PROMPT_NEEDS
    )


def _is_prompt(text: str) -> bool:
    """A prompt to subscribe, follow or share, or an affiliate disclosure."""
    return _may_be_prompt(text) and _PROMPT.search(text) is not None


def _is_credit(text: str) -> bool:
    """A credit, source or copyright line."""
    if _CREDIT_START.match(text):
        return True
    return _may_hold(text, _CREDIT_WORDS) and _CREDIT_ANYWHERE.search(text) is not None


def _text(el: _Element) -> str:
    return "".join(el.itertext()).strip()


def clean_body(
    body: HtmlElement,
    page: HtmlElement,
    meta: PageMetadata,
    elements: PageElements | None = None,
    known_texts: dict[_Element, str] | None = None,
) -> dict[str, str]:
    """Remove boilerplate blocks from trafilatura's body element, in place.

    `known_texts` may hold blocks' texts already read (by recovery that changed
    nothing). Returns what was removed: each block's text mapped to the rule's name.
    """
    blocks = [el for el in body if el.tag in _BLOCK_TAGS]
    if not blocks:
        return {}
    known = known_texts or {}
    texts = [known[el].strip() if el in known else "".join(el.itertext()).strip() for el in blocks]
    found = find_boilerplate(blocks, page, meta, elements, texts)
    removed = {}
    for index in sorted(found, reverse=True):
        removed[texts[index]] = found[index]
        _remove(blocks[index])
    return removed


def find_boilerplate(
    blocks: list[_Element],
    page: HtmlElement,
    meta: PageMetadata,
    elements: PageElements | None = None,
    texts: list[str] | None = None,
) -> dict[int, str]:
    """The indexes of boilerplate blocks, each with the name of the rule that matched.

    `texts` are the blocks' texts, when the caller has them. Date stamps left as loose
    text after a block at either end are cleared on the way.
    """
    if texts is None:
        texts = [_text(el) for el in blocks]
    doomed: dict[int, str] = dict.fromkeys(_leading_title(texts, meta), "title")
    for index in _leading_dek(texts, page, meta, set(doomed), elements):
        doomed[index] = "standfirst"
    anchors: Callable[[], set[str]] = _lazy_anchor_texts(page, elements)
    image_texts: Callable[[], set[str]] = _lazy_image_texts(page, elements)
    count = len(blocks)
    after_label = False
    for index, el in enumerate(blocks):
        text = texts[index]
        # Whitespace words, close enough for length limits, counted no further than the
        # longest limit (a long paragraph need not be split to the end).
        n_words = len(text.split(None, _WORD_LIMIT))
        at_edge = index < EDGE_BLOCKS or index >= count - EDGE_BLOCKS
        if el.tag == "list":
            if _is_link_list(el, anchors):
                doomed[index] = "link list"
            continue
        if not n_words:
            continue
        bare = text.strip("[]() ")
        rule = ""
        if n_words <= LABEL_MAX_WORDS and _LABEL_BLOCK.match(bare):
            rule = "label"
        elif n_words <= LABEL_MAX_WORDS and _LINK_LABEL.match(bare):
            rule = "link label"
        elif n_words <= PROMPT_MAX_WORDS and _is_prompt(text):
            rule = "prompt"
        elif at_edge and n_words <= PROMPT_MAX_WORDS and _is_credit(text):
            rule = "credit"
        elif at_edge and n_words <= STAMP_MAX_WORDS and _is_stamp(text, words(text)):
            rule = "stamp"
        elif index < EDGE_BLOCKS and n_words <= BYLINE_MAX_WORDS and _is_byline(text, meta):
            rule = "byline"
        elif index >= count - EDGE_BLOCKS and n_words <= BIO_MAX_WORDS and _is_bio(text, meta):
            rule = "author bio"
        elif n_words <= LABEL_MAX_WORDS and _is_shouted_link(text, anchors):
            rule = "shouted link"
        elif el.tag == "p" and n_words <= LABEL_MAX_WORDS and _is_caption(text, image_texts):
            # A line repeating an image's alt text is its caption (a heading may name it too).
            rule = "caption"
        elif n_words <= LABEL_MAX_WORDS and text.startswith("[") and _SHORTCODE.search(text):
            rule = "shortcode"
        elif after_label and _is_headline_list(el, anchors):
            # Headlines listed under "Don't miss" or "Related articles".
            rule = "headlines"
        if rule:
            doomed.setdefault(index, rule)
        after_label = rule in ("label", "headlines")
        if at_edge and el.tail and el.tail.strip():
            tail_tokens = words(el.tail)
            if len(tail_tokens) <= STAMP_MAX_WORDS and _is_stamp(el.tail, tail_tokens):
                el.tail = None
    return doomed


def _remove(el: _Element) -> None:
    """Drop an element but keep its tail text in place."""
    parent = el.getparent()
    if parent is None:
        return
    tail = (el.tail or "").strip()
    if tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + " " + tail
        else:
            parent.text = (parent.text or "") + " " + tail
    parent.remove(el)


def _leading_title(texts: list[str], meta: PageMetadata) -> list[int]:
    """Indexes of the headline repeated at the top of the body, and any kicker above it."""
    titles = {_norm(t) for t in meta.titles}
    titles.discard("")
    if not titles:
        return []
    for index, block_text in enumerate(texts[:3]):
        text = _norm(block_text)
        if not text:
            continue
        if text in titles or any(len(text) >= 20 and t.startswith(text) for t in titles):
            # Short labels above the headline ("Review", a section name) go with it.
            kickers = [i for i in range(index) if len(words(texts[i])) <= 4]
            return [*kickers, index] if len(kickers) == index else [index]
    return []


def _leading_dek(
    texts: list[str],
    page: HtmlElement,
    meta: PageMetadata,
    doomed: set[int],
    elements: PageElements | None = None,
) -> list[int]:
    """The standfirst above the story: the page description, in a container of its own.

    Many pages use their first paragraph as description, so a block matching the
    description only goes when the page puts it apart from the next paragraph.
    """
    description = _norm(meta.description).removesuffix(" ")
    if len(description) < 20:
        return []
    for index in range(min(3, len(texts) - 1)):
        if index in doomed:
            continue
        text = texts[index]
        norm = _norm(text)
        if not norm or len(norm.split()) > DEK_MAX_WORDS:
            return []
        same = norm == description or (
            len(norm) > 40 and (description.startswith(norm) or norm.startswith(description))
        )
        if not same:
            continue
        own, following = _page_blocks(page, (text, texts[index + 1]), elements)
        if own is None or following is None:
            return []
        return [index] if own.getparent() is not following.getparent() else []
    return []


_CONTAINERS = {"p", "div", "h2", "h3", "h4", "section", "header", "li", "td", "blockquote"}


_TEXT_WITH_EITHER = XPath("//text()[contains(., $first) or contains(., $second)]")
_EARLIER_TEXT_WITH_EITHER = XPath("preceding::text()[contains(., $first) or contains(., $second)]")


def _page_blocks(
    page: HtmlElement, texts: tuple[str, str], elements: PageElements | None = None
) -> tuple[_Element | None, _Element | None]:
    """For each text, the page's block element whose own text opens like it (None if not found).

    The first text node (a node's own text, not a tail) holding the text's longest word
    among its first six words and opening with those words gives the block: its
    closest container ancestor.
    """
    pending: dict[int, tuple[str, str]] = {}
    for index, text in enumerate(texts):
        tokens = _first_words(text, 6)
        if len(tokens) >= 3:
            pending[index] = (max(tokens, key=len), " ".join(tokens).lower())
    found: list[_Element | None] = [None, None]
    if not pending:
        return None, None
    longest = [word for word, _head in pending.values()]
    # XPath narrows the search, in C and in one pass, to the text nodes holding either word.
    candidates = _paragraph_candidates(pending, elements)
    if candidates:
        # Each text's answer is at the latest its first match inside a paragraph: only
        # the text nodes before the later of those need a look, which spares walking
        # the rest of a page gone cold in the caches (a whole-page scan costs ~0.2 ms).
        nodes = _EARLIER_TEXT_WITH_EITHER(candidates[-1][1], first=longest[0], second=longest[-1])
    else:
        nodes = _TEXT_WITH_EITHER(page, first=longest[0], second=longest[-1])
    for node in nodes:
        if not node.is_text:
            continue
        norm = None
        for index, (word, head) in list(pending.items()):
            if word not in node:
                continue
            norm = _norm(node) if norm is None else norm
            if not norm.startswith(head):
                continue
            found[index] = _container(node.getparent())
            del pending[index]
        if not pending:
            break
    for index, owner in candidates:
        if index in pending:  # nothing before its match in a paragraph: that match it is
            found[index] = _container(owner)
    return found[0], found[1]


def _first_words(text: str, count: int) -> list[str]:
    """The first `count` `\\w+` tokens of a text, without splitting all of a long one."""
    # With more tokens than wanted in a prefix, the wanted ones all ended inside it.
    tokens = words(text[: 20 * count])
    return tokens[:count] if len(tokens) > count else words(text)[:count]


def _container(element: _Element | None) -> _Element | None:
    """The element itself or its closest ancestor that is a block container."""
    while element is not None and element.tag not in _CONTAINERS:
        element = element.getparent()
    return element


def _paragraph_candidates(
    pending: dict[int, tuple[str, str]], elements: PageElements | None
) -> list[tuple[int, _Element]]:
    """For each text, its first match among the own texts of paragraphs and their parts.

    Each as (text's index, the element whose text matched), in document order. Empty
    unless every text has one: then the caller must scan the whole page.
    """
    if elements is None:
        return []
    left = dict(pending)
    found: list[tuple[int, _Element]] = []
    # Paragraphs in document order, each walked in document order: a paragraph nested
    # in one walked before it is walked again, but its texts have been seen already.
    for paragraph in elements.paragraphs:
        for el in paragraph.iter():
            own = el.text
            if not own:
                continue
            for index, (word, head) in list(left.items()):
                if word in own and _norm(own).startswith(head):
                    found.append((index, el))
                    del left[index]
            if not left:
                return found
    return []


def _is_byline(text: str, meta: PageMetadata) -> bool:
    """ "By Jane Doe", "Par <the page's author>", or the author's name alone, above the story."""
    norm = _norm(text) if meta.authors else ""
    if any(norm == _norm(author) for author in meta.authors):
        return True
    match = _BYLINE.match(text)
    if not match:
        return False
    rest = text[match.end() :]
    if any(_norm(author) in norm for author in meta.authors):
        return True
    # Without a known author, only the English "By" followed by a name-like run counts:
    # "Von Risiken und Nebenwirkungen" is a German heading, not a byline.
    return match.group(1).lower() == "by" and bool(_NAME.match(rest))


def _is_bio(text: str, meta: PageMetadata) -> bool:
    """A closing line about the page's author: "Jane Doe is a reporter covering retail"."""
    authors = [author for author in meta.authors if len(author.split()) >= 2]
    if not authors:
        return False
    norm = _norm(text)
    return any(norm.startswith(_norm(author)) and _BIO_VERBS.search(text) for author in authors)


def _is_stamp(text: str, tokens: list[str]) -> bool:
    """An "Updated at ..." or "Reading time" line, or a bare date."""
    # A stamp carries a date, a time or a duration: "Published reports say..." is prose.
    return bool(_STAMP.match(text) and _DIGIT.search(text)) or _is_date(tokens, text)


def _is_date(tokens: list[str], text: str = "") -> bool:
    """A block that is only a date ("sexta-feira, 22 de outubro de 2010 às 20:13")."""
    if _NUMERIC_DATE.search(text):
        # "2018-08-25 15:24" with at most a label word or two around it.
        return sum(1 for t in tokens if not t.isdigit()) <= 2
    if not any(_YEAR.match(t) for t in tokens):
        return False
    # A month or day name, so that a phone number or a score is not taken for a date.
    if not any(t.lower() in _DATE_WORDS and not t.isdigit() and len(t) > 2 for t in tokens):
        return False
    other = [t for t in tokens if not t.isdigit() and t.lower() not in _DATE_WORDS]
    return len(other) <= 1


def _is_shouted_link(text: str, anchors: Callable[[], set[str]]) -> bool:
    """An all-capitals block that is the text of a link: a promo for another story or an app."""
    if text.upper() != text:
        return False
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) < 12 or sum(ch.isupper() for ch in letters) < 0.9 * len(letters):
        return False
    return _norm(text) in anchors()


def _starts_with_link(text: str, anchors: Callable[[], set[str]]) -> bool:
    """A line that opens with the text of a link of three words or more (a teaser)."""
    tokens = _norm(text).split()
    links = anchors()
    return any(" ".join(tokens[:size]) in links for size in range(len(tokens), 2, -1))


_TEXTS_AND_BREAKS = XPath(".//text() | .//lb")


def _lines(el: _Element) -> list[str]:
    """The lines of a block, split at its line breaks."""
    lines = [""]
    for node in _TEXTS_AND_BREAKS(el):
        if isinstance(node, str):
            lines[-1] += node
        else:
            lines.append("")
    return [line for line in lines if line.strip()]


def _is_headline_list(el: _Element, anchors: Callable[[], set[str]]) -> bool:
    """A block whose every line is a short teaser opening with a link."""
    lines = _lines(el)
    return bool(lines) and all(
        len(words(line)) <= LABEL_MAX_WORDS and _starts_with_link(line, anchors) for line in lines
    )


def _is_caption(text: str, image_texts: Callable[[], set[str]]) -> bool:
    """A line that repeats the alt text of one of the page's images."""
    alts = image_texts()
    return bool(alts) and _norm(text) in alts


def _lazy_image_texts(page: HtmlElement, elements: PageElements | None) -> Callable[[], set[str]]:
    """A function giving the normalised alt texts of the page's images (3 words or more)."""
    cache: list[set[str]] = []

    def get() -> set[str]:
        if not cache:
            images = page.iter("img") if elements is None else elements["img"]
            texts = {_norm(img.get("alt") or "") for img in images}
            cache.append({t for t in texts if t.count(" ") >= 2})
        return cache[0]

    return get


def _lazy_anchor_texts(page: HtmlElement, elements: PageElements | None) -> Callable[[], set[str]]:
    """A function giving the normalised texts of the page's links, computed on first use."""
    cache: list[set[str]] = []

    def get() -> set[str]:
        if not cache:
            # Most links hold only text: their .text is their text content, got cheaper.
            links = page.iter("a") if elements is None else elements["a"]
            raw = [a.text_content() if len(a) else a.text or "" for a in links]
            texts = set(normalized_many(raw))
            texts.discard("")
            cache.append(texts)
        return cache[0]

    return get


def _is_link_list(el: _Element, anchors: Callable[[], set[str]]) -> bool:
    """A list whose every item is the text of one link: links to other stories."""
    # Items often hold a headline and a blurb in separate elements: keep them apart.
    items = [" ".join(item.itertext()) for item in el.iter("item")]
    items = [t for t in items if words(t)]
    if len(items) < 2:
        return False
    # A list that is most of the body is the post itself (a link round-up), not an aside.
    body = el.getparent()
    if body is not None and sum(map(len, items)) > MAX_LIST_SHARE * len(" ".join(body.itertext())):
        return False
    links = anchors()
    if all(_norm(t) in links for t in items):
        return True
    # Teasers: each item a headline link followed by a line of blurb.
    return all(len(words(t)) <= PROMPT_MAX_WORDS and _starts_with_link(t, anchors) for t in items)
