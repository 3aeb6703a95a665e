"""Extraction never raises: empty, binary, huge, oddly encoded and broken pages."""

from __future__ import annotations

import codecs
import gzip
import random
import time
import zlib

import pytest

from watch.charset import decode_html
from watch.extract import Extracted, extract

STORY = (
    "<html lang='{lang}'><head><meta charset='{charset}'><title>{title}</title></head>"
    "<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{paragraphs}</article>"
    "<footer>Footer</footer></body></html>"
)


def story(paragraphs: list[str], title: str = "A story", charset: str = "utf-8") -> str:
    """A page with the given paragraphs in an <article>."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return STORY.format(lang="en", charset=charset, title=title, paragraphs=body)


def assert_empty(result: Extracted) -> None:
    assert result.text == ""
    assert result.title == ""
    assert result.published is None


@pytest.mark.parametrize("html", [b"", "", "   \n\t ", b"\n\n"], ids=repr)
def test_empty_input_gives_an_empty_result(html: str | bytes) -> None:
    assert_empty(extract(html, url="https://shop.test/empty"))


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >>",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(100),
        random.Random(7).randbytes(100_000),
    ],
    ids=["pdf", "png", "zip", "random"],
)
def test_binary_junk_gives_an_empty_result(data: bytes) -> None:
    assert decode_html(data) == ""
    result = extract(data)
    assert result.text == ""
    assert result.language is None


@pytest.mark.parametrize(
    "html",
    [
        b'{"products": [{"sku": "A1", "price": 12.5}]}',
        "Just a line of plain text, no markup at all.",
        "<p>a fragment",
        "<html><body><div><p>unclosed <b>tags <i>everywhere",
        "<html><head><title>Only a title</title></head></html>",
        "<?xml version='1.0' encoding='utf-8'?><html><body><p>x</p></body></html>",
        "<html>" + "<div>" * 5000 + "deep" + "</div>" * 5000 + "</html>",
        "<html><body>\x00\x01\x0b<p>control characters</p>\ufffe</body></html>",
        b"<html><body><p>truncated multibyte \xe2\x82</p></body></html>",
    ],
    ids=[
        "json",
        "plain-text",
        "fragment",
        "unclosed",
        "title-only",
        "xml-decl",
        "deep",
        "ctrl",
        "cut",
    ],
)
def test_non_html_and_broken_markup_never_raise(html: str | bytes) -> None:
    result = extract(html)
    assert isinstance(result, Extracted)
    assert isinstance(result.text, str)


def test_title_only_page_keeps_its_title() -> None:
    result = extract("<html><head><title>Only a title</title></head></html>")
    assert result.title == "Only a title"
    assert result.text == ""


def test_latin1_page_without_declaration_is_detected() -> None:
    paragraphs = [
        "Les vendeurs indépendants préfèrent désormais la livraison en relais, moins chère.",
        "Les frais d'expédition élevés restent la première cause d'abandon du panier d'achat.",
        "Une enquête menée auprès de trois cents boutiques françaises le confirme cette année.",
    ]
    html = story(paragraphs, title="Livraison", charset="").replace("<meta charset=''>", "")
    result = extract(html.encode("latin-1"))
    assert "indépendants préfèrent" in result.text
    assert "\ufffd" not in result.text


def test_declared_charset_decodes_shift_jis() -> None:
    paragraphs = ["日本のオンラインショップは送料無料の基準を引き上げています。" * 3] * 3
    html = story(paragraphs, title="送料", charset="shift_jis")
    result = extract(html.encode("shift_jis"))
    assert "送料無料" in result.text


def test_http_charset_is_used_when_the_page_declares_none() -> None:
    text = "Größere Händler senken die Versandkosten für Bestellungen über fünfzig Euro. " * 3
    html = story([text] * 3, charset="").replace("<meta charset=''>", "")
    result = extract(html.encode("cp1252"), content_type="text/html; charset=windows-1252")
    assert "Größere Händler" in result.text


def test_utf16_with_bom_is_decoded() -> None:
    html = story(["Marketplace fees rose by two points for most categories this spring."] * 3)
    data = codecs.BOM_UTF16_LE + html.encode("utf-16-le")
    assert "Marketplace fees rose" in extract(data).text


def test_utf8_bytes_win_over_a_wrong_latin1_declaration() -> None:
    text = "Café owners now sell beans online; “direct” sales doubled in a year. " * 3
    html = story([text] * 3, charset="iso-8859-1")
    assert "Café owners" in extract(html.encode("utf-8")).text


def test_gzipped_bytes_are_inflated() -> None:
    html = story(["Gzip pages are common when a server compresses static files."] * 4)
    assert "Gzip pages are common" in extract(gzip.compress(html.encode())).text


def test_a_gzip_bomb_is_capped_not_inflated_whole() -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = packer.compress(b" " * (256 * 1024 * 1024)) + packer.flush()
    started = time.monotonic()
    result = extract(bomb)
    assert result.text == ""
    assert time.monotonic() - started < 30


def test_a_huge_page_is_extracted_in_bounded_time() -> None:
    paragraphs = [
        f"Paragraph {i} reports that order volume at shop number {i * 7} grew by {i % 13} percent "
        f"while returns fell, according to the merchant's quarterly letter number {i}."
        for i in range(20_000)
    ]
    html = story(paragraphs).encode()
    assert len(html) > 3_000_000
    started = time.monotonic()
    result = extract(html)
    assert time.monotonic() - started < 60
    assert "Paragraph 0 reports" in result.text


def test_an_internal_failure_is_logged_and_gives_an_empty_result(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A fault that real pages cannot be relied on to produce: the metadata reader breaking.
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("watch.extract.read_metadata", broken)
    result = extract(story(["Some text."]), url="https://shop.test/x")
    assert result.url == "https://shop.test/x"
    assert result.text == ""
    assert "extraction failed for https://shop.test/x" in caplog.text
