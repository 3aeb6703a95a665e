"""Canonical URLs, rel=canonical and address safety."""

from __future__ import annotations

import pytest

from watch.urls import (
    canonicalize,
    choose_canonical,
    find_rel_canonical,
    is_http_url,
    is_public_address,
    is_tracking_param,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://Example.COM/a/b", "http://example.com/a/b"),
        ("https://example.com/post#comments", "https://example.com/post"),
        ("https://example.com:443/p", "https://example.com/p"),
        ("http://example.com:8080/p", "http://example.com:8080/p"),
        ("https://example.com", "https://example.com/"),
        ("https://user:secret@example.com/p", "https://example.com/p"),
        (
            "https://example.com/p?utm_source=rss&utm_medium=feed&id=7&fbclid=x&gclid=y",
            "https://example.com/p?id=7",
        ),
        ("https://example.com/p?mc_cid=1&mc_eid=2&MC_CID=3&_hsenc=4", "https://example.com/p"),
        ("https://example.com/p?b=2&a=1", "https://example.com/p?a=1&b=2"),
        ("https://example.com/caf\u00e9", "https://example.com/caf%C3%A9"),
        ("https://example.com./p", "https://example.com/p"),
    ],
)
def test_canonical_form_drops_what_does_not_change_the_page(raw: str, canonical: str) -> None:
    assert canonicalize(raw) == canonical


def test_relative_urls_resolve_against_the_base() -> None:
    assert canonicalize("../b?utm_campaign=x", "https://Ex.org/a/c/") == "https://ex.org/a/b"


def test_tracking_parameters_are_recognised_case_insensitively() -> None:
    assert is_tracking_param("UTM_Content") and is_tracking_param("gclid")
    assert not is_tracking_param("id") and not is_tracking_param("page")


def test_rel_canonical_is_found_whatever_the_attribute_order() -> None:
    html = b"""<html><head><link href="/story?utm_source=x&amp;id=3" rel="canonical"></head>"""
    assert find_rel_canonical(html, "https://ex.org/amp/story") == (
        "https://ex.org/story?utm_source=x&id=3"
    )
    assert find_rel_canonical(b"<link rel='canonical' href='https://ex.org/s'>", "https://ex.org/")
    assert find_rel_canonical(b"<link rel=stylesheet href=/a.css>", "https://ex.org/") is None
    assert find_rel_canonical(b"<link rel=canonical href='javascript:x'>", "https://e.org/") is None


def test_rel_canonical_is_honoured_on_the_same_site_only() -> None:
    page = "https://news.example.com/amp/story-1?utm_medium=social"
    same = "https://www.news.example.com/story-1"
    assert choose_canonical(page, same) == "https://www.news.example.com/story-1"
    # Another site cannot claim (and so overwrite) an article stored under its URL.
    assert choose_canonical(page, "https://other.example.org/story-1") == (
        "https://news.example.com/amp/story-1"
    )
    assert choose_canonical(page, None) == "https://news.example.com/amp/story-1"


def test_only_http_urls_with_a_host_are_followed() -> None:
    assert is_http_url("https://ex.org/a") and is_http_url("HTTP://ex.org")
    for url in ("ftp://ex.org/f", "file:///etc/passwd", "javascript:alert(1)", "mailto:a@b.c",
                "http:///nohost", "/relative"):  # fmt: skip
        assert not is_http_url(url), url


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "not-an-ip"],
)  # fmt: skip
def test_private_loopback_and_link_local_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


def test_public_addresses_are_public() -> None:
    assert is_public_address("93.184.216.34") and is_public_address("2606:4700::6810:84e5")
