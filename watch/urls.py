"""Canonical URLs and address safety for discovered links.

The same article reached by different URLs (tracking parameters, an upper-case
host, a fragment, a reordered query) must be stored once, so every URL is
reduced to a canonical form before it is requested and before it is stored.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Query parameters that only say where a click came from; they never change the page.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ttclid",
        "twclid",
        "igshid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "rb_clickid",
        "s_cid",
        "srsltid",
        "ss_source",
        "ss_campaign_id",
        "wt_mc",
        "wt.mc_id",
        "epik",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_CANONICAL_LINK = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_REL_CANONICAL = re.compile(rb"""\brel\s*=\s*["']?\s*canonical\b""", re.IGNORECASE)
_HREF = re.compile(rb"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def is_http_url(url: str) -> bool:
    """Whether a URL is absolute http(s) with a host (the only links Veille follows)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter only tracks the click (utm_*, fbclid, gclid ...)."""
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonicalize(url: str, base: str | None = None) -> str:
    """The canonical form of a URL: lower-case host, no fragment, no tracking parameters.

    Relative URLs are resolved against `base`. The query is sorted and
    percent-encoding normalised (w3lib), default ports and credentials dropped.
    A URL that cannot be parsed is returned stripped but otherwise unchanged.
    """
    url = url.strip()
    if base:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return url
    if ":" in host:
        host = f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, v) for k, v in pairs if not is_tracking_param(k)])
    cleaned = urlunsplit((scheme, host, parts.path or "/", query, ""))
    return canonicalize_url(cleaned, keep_fragments=False)


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same site (same host, ignoring a leading `www.`)."""

    def host(url: str) -> str:
        name = (urlsplit(url).hostname or "").lower().rstrip(".")
        return name.removeprefix("www.")

    try:
        return host(a) == host(b) != ""
    except ValueError:
        return False


def find_rel_canonical(html: bytes, base: str) -> str | None:
    """The absolute `<link rel="canonical">` target of a page, if it declares one.

    A regex over the raw bytes is enough here and far cheaper than a parse: the
    tag sits in the head and its attributes are simple.
    """
    head = html[:200_000]
    for tag in _CANONICAL_LINK.finditer(head):
        raw = tag.group(0)
        if not _REL_CANONICAL.search(raw):
            continue
        match = _HREF.search(raw)
        if not match:
            continue
        href = next(g for g in match.groups() if g is not None).decode("utf-8", "replace")
        href = href.strip().replace("&amp;", "&")
        if not href:
            continue
        absolute = urljoin(base, href)
        return absolute if is_http_url(absolute) else None
    return None


def choose_canonical(page_url: str, declared: str | None) -> str:
    """The URL to store a page under: its declared canonical when trustworthy, else its own.

    A declared canonical is honoured only on the same site: a page must not be
    able to overwrite another site's stored article by claiming its URL.
    (Cross-site syndication is caught by the near-duplicate clustering instead.)
    """
    if declared and is_http_url(declared) and same_site(declared, page_url):
        return canonicalize(declared)
    return canonicalize(page_url)


def is_public_address(address: str) -> bool:
    """Whether an IP address is a public one (not private, loopback, link-local, reserved ...)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global excludes private, loopback, link-local, shared (CGNAT) and reserved ranges.
    return ip.is_global and not ip.is_multicast


def ip_literal(host: str) -> str | None:
    """The host itself when it is an IP address literal, else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None
