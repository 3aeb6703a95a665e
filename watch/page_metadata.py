"""A page's metadata from its DOM: canonical URL, title, description, authors, dates, language.

Reads what publishers declare for search engines and social networks (JSON-LD,
Open Graph, article:*, Dublin Core, microdata, <time>), in one pass over the
head-like elements, so it costs far less than date-guessing over the whole text.
"""

from __future__ import annotations

import html
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.etree import XPath, _Element
from lxml.html import HtmlElement

from watch.page_elements import PageElements, page_elements

# JSON-LD types whose fields describe the page's main story.
_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "blogposting",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "reviewnewsarticle",
    "backgroundnewsarticle",
    "techarticle",
    "scholarlyarticle",
    "socialmediaposting",
    "liveblogposting",
    "report",
    "review",
    "posting",
    "webpage",
    "itempage",
    "medicalwebpage",
    "creativework",
    "videoobject",
    "product",
}
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "article:published",
    "datepublished",
    "publishdate",
    "publish-date",
    "publish_date",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date.created",
    "dcterms.created",
    "dc.date",
    "date",
    "created",
    "article.published",
    "cxenseparse:recs:publishtime",
    "og:pubdate",
)
_AUTHOR_META = (
    "author",
    "article:author",
    "og:article:author",
    "dc.creator",
    "dcterms.creator",
    "byl",
    "parsely-author",
    "sailthru.author",
    "twitter:creator",
)
_TITLE_META = ("og:title", "twitter:title", "dc.title", "parsely-title", "sailthru.title")
_DESCRIPTION_META = ("description", "og:description", "twitter:description", "dc.description")
_BYLINE_PREFIX = re.compile(r"^\s*(?:by|par|von|por|di|door|af|av)\s*[:\-]?\s+", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|\||\band\b|\bet\b|\bund\b|\by\b|&|,)\s*", re.IGNORECASE)
_URL_LIKE = re.compile(r"^(?:https?:)?//|^www\.|\.(?:com|org|net)\b", re.IGNORECASE)
_HANDLE = re.compile(r"^@\w+$")
_WS = re.compile(r"\s+")
# Dates in URLs such as /2019/11/18/ or /2019-11-18-: a last resort, day precision.
_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/\-_]([01]?\d)[/\-_]([0-3]?\d)(?:[/\-_.]|$)")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_COMPACT_DATE = re.compile(r"^((?:19|20)\d{2})([01]\d)([0-3]\d)$")
MAX_AUTHOR_CHARS = 80
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " » ", " · ")
_TAG = re.compile(r"<[^>]{0,200}>")
# Zone abbreviations pages print; dateutil knows only UTC/GMT by itself.
_TZ_ABBREVIATIONS = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "BST": 3600,
    "CET": 3600,
    "CEST": 7200,
    "EET": 7200,
    "EEST": 10800,
    "IST": 19800,
    "JST": 32400,
    "KST": 32400,
    "AEST": 36000,
    "AEDT": 39600,
    "EST": -18000,
    "EDT": -14400,
    "CST": -21600,
    "CDT": -18000,
    "MST": -25200,
    "MDT": -21600,
    "PST": -28800,
    "PDT": -25200,
}


@dataclass
class PageMetadata:
    """What a page declares about itself."""

    canonical_url: str | None = None
    titles: list[str] = field(default_factory=list)
    description: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    languages: list[str | None] = field(default_factory=list)
    site_name: str = ""

    @property
    def title(self) -> str:
        """The best title: the first candidate found."""
        return self.titles[0] if self.titles else ""


def _clean(value: Any) -> str:
    """Text from a metadata value: entities publishers escaped twice decoded, tags dropped."""
    if not isinstance(value, str):
        return ""
    if "&" in value:
        value = html.unescape(value)
    if "<" in value:
        value = _TAG.sub(" ", value)
    return _WS.sub(" ", value).strip()


def parse_date(value: Any) -> datetime | None:
    """A datetime from an ISO 8601 or common textual date, UTC when the page gives no zone."""
    text = _clean(value)
    if not text or len(text) > 64:
        return None
    result: datetime | None = None
    compact = _COMPACT_DATE.match(text)
    if compact:
        text = "-".join(compact.groups())
    try:
        result = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        if not _YEAR.search(text):
            return None  # a bare time or day name is not a publication date
        try:
            from dateutil import parser as date_parser  # imported late: rarely needed

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an unknown zone name leaves the date naive
                result = date_parser.parse(text, tzinfos=_TZ_ABBREVIATIONS)
        except (ValueError, OverflowError, TypeError, LookupError):
            return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=UTC)
    now_year = datetime.now(UTC).year
    return result if 1990 <= result.year <= now_year + 1 else None


def _json_ld_objects(data: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every object in a JSON-LD document, @graph and nested lists included."""
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            yield from _json_ld_objects(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _json_ld_objects(data["@graph"], depth + 1)
        main = data.get("mainEntity")
        if isinstance(main, dict | list):
            yield from _json_ld_objects(main, depth + 1)


def _types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _names(value: Any) -> list[str]:
    """Person names from a JSON-LD author value (string, object, or list of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        name = value.get("name")
        return _names(name) if name else []
    if isinstance(value, list):
        return [n for item in value[:10] for n in _names(item)]
    return []


def clean_authors(raw: list[str]) -> list[str]:
    """Split, trim and de-duplicate author strings; drop URLs, handles and long blurbs."""
    seen: dict[str, str] = {}
    for value in raw:
        value = _BYLINE_PREFIX.sub("", _clean(value))
        if not value or _URL_LIKE.search(value) or len(value) > MAX_AUTHOR_CHARS * 3:
            continue
        parts = _AUTHOR_SPLIT.split(value)
        # "Smith, John" is one person: only split on commas when every part is a full name.
        if "," in value and any(len(p.split()) < 2 for p in parts if p):
            parts = [p for p in re.split(r"\s*(?:;|\||\band\b|&)\s*", value)]
        for part in parts:
            part = part.strip(" ,.-–—:")
            if not part or len(part) > MAX_AUTHOR_CHARS or _HANDLE.match(part):
                continue
            if not any(ch.isalpha() for ch in part):
                continue
            seen.setdefault(part.lower(), part)
    return list(seen.values())


def _without_site_name(title: str, site_name: str) -> str:
    """A title without a " | Site name" part, when the site name is known."""
    if not site_name or not title:
        return title
    for sep in _TITLE_SEPARATORS:
        parts = [p.strip() for p in title.split(sep)]
        kept = [p for p in parts if p.lower() != site_name.lower()]
        if kept and len(kept) < len(parts):
            return sep.join(kept)
    return title


def _title_from_title_tag(text: str, site_name: str) -> str:
    """The <title> without a trailing or leading " | Site name"."""
    for sep in _TITLE_SEPARATORS:
        if sep in text:
            parts = [p.strip() for p in text.split(sep)]
            if site_name:
                kept = [p for p in parts if p.lower() != site_name.lower()]
                if kept and len(kept) < len(parts):
                    return sep.join(kept)
            return max(parts, key=len)
    return text


def read_metadata(
    tree: HtmlElement, url: str | None = None, elements: PageElements | None = None
) -> PageMetadata:
    """Collect a page's declared metadata from its parsed tree (or its gathered elements)."""
    found = page_elements(tree, elements)
    meta: dict[str, str] = {}
    for el in found["meta"]:
        key = (el.get("property") or el.get("name") or el.get("itemprop") or "").lower()
        content = el.get("content")
        if key and content and key not in meta:
            meta[key] = content
        equiv = (el.get("http-equiv") or "").lower()
        if equiv == "content-language" and content:
            meta.setdefault("content-language", content)
    canonical = ""
    for el in found["link"]:
        if (el.get("rel") or "").lower() == "canonical":
            canonical = el.get("href") or ""
            if canonical:
                break
    title_tag = ""
    for el in found["title"]:
        title_tag = _clean(el.text_content())
        if title_tag:
            break
    json_ld: list[dict[str, Any]] = []
    for el in found["script"]:
        if (el.get("type") or "").lower() == "application/ld+json" and el.text:
            try:
                json_ld.extend(_json_ld_objects(json.loads(el.text, strict=False)))
            except (ValueError, RecursionError):
                continue
    h1s: list[str] = []
    for el in found["h1"]:
        text = _clean(el.text_content())
        if text:
            h1s.append(text)
            if len(h1s) == 3:
                break
    time_dates: list[str] = []
    for el in found["time"]:
        value = el.get("datetime") or ""
        if el.get("itemprop") == "datePublished" or el.get("pubdate") is not None:
            time_dates.insert(0, value)
        elif value:
            time_dates.append(value)
        if len(time_dates) == 3:
            break

    article = next((o for o in json_ld if _types(o) & _ARTICLE_TYPES and _has_story(o)), {})
    result = PageMetadata()
    result.site_name = _clean(meta.get("og:site_name"))

    base = url or ""
    for candidate in (canonical, meta.get("og:url"), _ld_url(article)):
        candidate = _clean(candidate)
        if candidate and not candidate.startswith(("javascript:", "#")):
            joined = urljoin(base, candidate) if base else candidate
            if urlsplit(joined).scheme in ("http", "https"):
                result.canonical_url = joined
                break

    titles = [_clean(article.get("headline"))]
    titles += [_without_site_name(_clean(meta.get(k)), result.site_name) for k in _TITLE_META]
    titles += h1s[:1] if len(h1s) == 1 else []
    titles.append(_title_from_title_tag(title_tag, result.site_name) if title_tag else "")
    titles.append(title_tag)
    result.titles = list(dict.fromkeys(t for t in titles if t))

    for key in _DESCRIPTION_META:
        if meta.get(key, "").strip():
            result.description = _clean(meta[key])
            break
    else:
        result.description = _clean(article.get("description"))

    # The first source that yields a usable name wins; a meta author that is only a
    # profile URL does not stop the search.
    sources = (
        lambda: _names(article.get("author")) or _names(article.get("creator")),
        lambda: [meta[k] for k in _AUTHOR_META if meta.get(k)][:1],
        lambda: _rel_authors(found["a"]),
        lambda: _microdata_authors(tree),
        lambda: _byline_authors(tree),
    )
    for source in sources:
        result.authors = clean_authors(source())
        if result.authors:
            break

    candidates = [article.get("datePublished"), article.get("dateCreated")]
    candidates += [meta.get(k) for k in _PUBLISHED_META]
    candidates += time_dates
    candidates.append(article.get("uploadDate"))
    candidates.append(article.get("dateModified"))
    candidates.append(meta.get("article:modified_time"))
    for candidate in candidates:
        parsed = parse_date(candidate)
        if parsed:
            result.published = parsed
            break

    root = tree.getroottree().getroot()
    result.languages = [
        root.get("lang") or root.get("xml:lang"),
        meta.get("content-language"),
        meta.get("dc.language"),
        _clean(article.get("inLanguage")) or None,
        meta.get("og:locale"),
    ]
    return result


def _rel_authors(links: list[_Element]) -> list[str]:
    """The text of the page's first five links marked rel="author"."""
    marked = (a for a in links if (a.get("rel") or "").lower() == "author")
    return [a.text_content() for a in islice(marked, 5)]


def _has_story(obj: dict[str, Any]) -> bool:
    return any(k in obj for k in ("headline", "datePublished", "author", "articleBody"))


def _ld_url(article: dict[str, Any]) -> str:
    value = article.get("mainEntityOfPage") or article.get("url")
    if isinstance(value, dict):
        value = value.get("@id") or value.get("url")
    return value if isinstance(value, str) else ""


def _microdata_authors(tree: HtmlElement) -> list[str]:
    """Names marked itemprop="author" in the body (the name inside, when marked)."""
    names = []
    for el in tree.xpath('//*[@itemprop="author"]')[:5]:
        inner = el.xpath('.//*[@itemprop="name"]')
        target = inner[0] if inner else el
        names.append(target.get("content") or target.text_content())
    return names


_BYLINE_ELEMENTS = XPath(
    "//*[contains(@class, 'byline') or contains(@class, 'Byline') or contains(@class, 'author')"
    " or contains(@class, 'Author') or contains(@id, 'author')]"
    "[not(self::meta or self::link or self::script or self::style or self::body or self::html"
    " or self::article or self::main)]"
)
# "By Jane Doe", "Jane Doe and John Roe": two to four capitalised words per name.
_BYLINE_NAME = re.compile(
    r"^(?:by\s+)?([A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){1,3}"
    r"(?:(?:,| and| &) [A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){1,3})*)\s*$",
    re.IGNORECASE,
)
_NOT_NAME_START = {"the", "a", "an", "by", "about", "more", "all", "view", "see", "posted"}


def _byline_authors(tree: HtmlElement) -> list[str]:
    """A name in an element classed like a byline ("byline", "author"), outside comments."""
    for el in _BYLINE_ELEMENTS(tree)[:20]:
        marks = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
        if "comment" in marks:
            continue
        text = " ".join(el.text_content().split())
        if not text or len(text) > MAX_AUTHOR_CHARS:
            continue
        match = _BYLINE_NAME.match(text)
        if match and match.group(1)[0].isupper():
            name = match.group(1)
            if name.split()[0].lower() not in _NOT_NAME_START:
                return [name]
    return []


def guess_published(tree: HtmlElement, url: str | None) -> datetime | None:
    """A publication date for a page that declares none: htmldate's search, then the URL.

    htmldate reads date-like class names, hidden fields and visible dates. It may
    prune the tree, so call this once nothing else needs the tree.
    """
    import htmldate  # imported late: only pages without date metadata need it

    try:
        found = htmldate.find_date(
            tree,
            extensive_search=False,
            original_date=True,
            outputformat="%Y-%m-%dT%H:%M:%S",
            url=url,
        )
    except (ValueError, TypeError, OverflowError):
        found = None
    return parse_date(found) or date_in_url(url or "")


def date_in_url(url: str) -> datetime | None:
    """A publication day written in a URL path (/2019/11/18/), at midnight UTC."""
    match = _URL_DATE.search(urlsplit(url).path) if url else None
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None
