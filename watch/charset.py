"""Turn the bytes of a web page into text: BOM, valid UTF-8, declared charset, then detection."""

from __future__ import annotations

import codecs
import re
import zlib

# Past this a page is not an article any more; extraction only reads this much.
MAX_DECODED_BYTES = 20_000_000

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_.:\-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(
    rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-z0-9_.:\-]+)""", re.IGNORECASE
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([a-z0-9_.:\-]+)""", re.IGNORECASE)
# Browsers read these labels as windows-1252 (WHATWG Encoding Standard); so do we.
_LABEL_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


# Signatures of common binary formats a URL may serve instead of a page.
_BINARY_MAGIC = (
    b"%PDF-",
    b"PK\x03\x04",
    b"\x89PNG",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",
    b"RIFF",
    b"\x00\x00\x01\x00",
    b"OggS",
    b"fLaC",
    b"ID3",
    b"\x1a\x45\xdf\xa3",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x7fELF",
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))
# Above this share of control bytes in its opening, data is binary, not text.
MAX_CONTROL_SHARE = 0.1
# Detection guesses within this much "chaos" of the cleanest count as equally clean.
CHAOS_MARGIN = 0.02


def looks_binary(data: bytes) -> bool:
    """Whether bytes are a binary file (image, PDF, archive...) rather than text."""
    if data.startswith(_BINARY_MAGIC):
        return True
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if not head:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > MAX_CONTROL_SHARE * len(head)


def decompress_gzip(data: bytes, limit: int = MAX_DECODED_BYTES) -> bytes:
    """Inflate gzip data, stopping at `limit` bytes so a gzip bomb cannot fill memory."""
    inflater = zlib.decompressobj(31)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error:
        return b""
    return out


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset named in a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def declared_charset(data: bytes) -> str | None:
    """The charset the page declares in its first bytes (meta charset or XML declaration)."""
    head = data[:4096]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def _codec(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when Python does not know it."""
    if not label:
        return None
    label = label.strip().lower()
    label = _LABEL_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _try(data: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(data: bytes, declared: str | None = None) -> str:
    """Decode page bytes: BOM, then UTF-8 if valid, then the declared charset, then detection.

    Valid UTF-8 wins over a declared single-byte charset because pages that declare
    ISO-8859-1 while serving UTF-8 are common and the reverse practically never decodes.
    Binary data (images, PDFs, archives) decodes to "". Never raises: undecodable
    bytes become U+FFFD.
    """
    return to_utf8(data, declared).decode("utf-8", "replace")


def to_utf8(data: bytes, declared: str | None = None) -> bytes:
    """The page as UTF-8 bytes, decoded as `decode_html` says; valid UTF-8 comes back as is."""
    if data[:3] == b"\x1f\x8b\x08":
        data = decompress_gzip(data)
    data = data[:MAX_DECODED_BYTES]
    if looks_binary(data):
        return b""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            return body if codec == "utf-8" else body.decode(codec, "replace").encode("utf-8")
    if _try(data, "utf-8") is not None:
        return data
    for label in (declared, declared_charset(data)):
        codec = _codec(label)
        if codec and not codec.startswith("utf"):
            text = _try(data, codec)
            if text is not None:
                return text.encode("utf-8", "replace")
    return _detect(data).encode("utf-8", "replace")


def _detect(data: bytes) -> str:
    """Decode with the most plausible charset charset-normalizer finds, else lossy UTF-8.

    Its first guess is often a sibling code page on short texts (Baltic for French),
    so among the guesses nearly as clean as the best, the most coherent one wins,
    and windows-1252, the web's historical default, wins ties.
    """
    from charset_normalizer import from_bytes  # imported late: rarely needed and slow to load

    sample = data if len(data) <= 200_000 else data[:100_000] + data[-100_000:]
    matches = list(from_bytes(sample))
    if not matches:
        return data.decode("utf-8", "replace")
    cleanest = min(m.chaos for m in matches)
    close = [m for m in matches if m.chaos <= cleanest + CHAOS_MARGIN]
    best = max(close, key=lambda m: (round(m.coherence, 2), m.encoding == "cp1252"))
    return data.decode(best.encoding, "replace")
