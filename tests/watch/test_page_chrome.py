"""Page chrome is set aside for trafilatura without changing what is extracted."""

from __future__ import annotations

from pathlib import Path

import pytest
import trafilatura.core
import trafilatura.settings
from lxml.html import tostring

from watch import page_chrome
from watch.extract import extract, parse_html
from watch.page_chrome import CHROME_TAGS, chrome_set_aside, whole_page_needed

FIXTURES = Path(__file__).parents[1] / "fixtures"

PAGE = b"""<html><head><title>T</title><style>p {}</style></head><body>
<nav><a href="/">Home</a></nav>tail after nav
<div class="wrap"><footer>inner footer<nav>nested nav</nav></footer>tail after footer
<aside><h1>A headline in an aside stays</h1></aside>
<p>First paragraph.</p><svg><path d="M0"/></svg>tail after svg<p>Second.</p></div>
<footer>page footer</footer>
</body></html>"""


def test_chrome_is_taken_out_and_put_back_exactly() -> None:
    tree = parse_html(PAGE)
    before = tostring(tree)
    with chrome_set_aside(tree) as taken:
        inside = tostring(tree)
        # The outer footer takes its nested nav with it; the aside holding an h1 stays.
        assert len(taken) == 5
        assert b"<nav" not in inside and b"<footer" not in inside and b"<svg" not in inside
        assert b"A headline in an aside stays" in inside
        # Tails stay where they were, as trafilatura's delete_element leaves them.
        for tail in (b"tail after nav", b"tail after footer", b"tail after svg"):
            assert tail in inside
    assert tostring(tree) == before


def test_the_chrome_is_what_trafilatura_cleans_away_anyway() -> None:
    assert set(CHROME_TAGS) <= set(trafilatura.settings.MANUALLY_CLEANED)
    assert page_chrome.ESCALATION_MAX_LENGTH == trafilatura.core.ESCALATION_MAX_LENGTH
    assert page_chrome.ESCALATION_PAGE_SHARE == trafilatura.core.ESCALATION_PAGE_SHARE
    config = trafilatura.settings.DEFAULT_CONFIG
    assert config.getint("DEFAULT", "MIN_EXTRACTED_SIZE") == page_chrome.MIN_EXTRACTED_SIZE


def test_short_results_are_extracted_again_from_the_whole_page() -> None:
    def needed(size: int, page: bytes) -> bool:
        tree = parse_html(page)
        with chrome_set_aside(tree) as taken:
            return whole_page_needed(size, tree, taken)

    assert needed(100, PAGE)  # trafilatura's rescue reads the raw page
    assert not needed(10_000, PAGE)  # long enough: no escalation
    assert not needed(400, PAGE)
    # A short result from a page holding much more text: trafilatura retries it.
    assert needed(400, PAGE.replace(b"<p>Second.</p>", b"<p>" + b"word " * 2000 + b"</p>"))
    # Navigation text counts (html2txt keeps it), though it was set aside.
    assert needed(400, PAGE.replace(b">Home<", b">" + b"link " * 2000 + b"<"))


@pytest.mark.parametrize(
    "page", sorted(p for p in FIXTURES.rglob("*.htm*") if p.is_file()), ids=lambda p: p.name
)
def test_extraction_is_the_same_with_the_chrome_set_aside(
    page: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = page.read_bytes()
    with_cut = extract(html, "http://example.com/a")
    monkeypatch.setattr(page_chrome, "CHROME_TAGS", ("no-such-tag",))
    assert extract(html, "http://example.com/a") == with_cut
