"""The search page in a real browser (headless chromium): search, highlights, facets, items.

One browser for the session (the `browser` fixture); each test starts from a URL,
so the tests do not depend on each other's order.
"""

from __future__ import annotations

from typing import Any

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.watch.web.conftest import Served
from tests.watch.web.data import HOSTILE_TITLE

WAIT_SECONDS = 15


def navigate(browser: Any, action: Any) -> None:
    """Run an action that loads a new page (click, submit) and wait until the new one is there."""
    old = browser.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda _: is_gone(old))
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def is_gone(element: WebElement) -> bool:
    """Whether the page holding `element` has been replaced."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        # Caught mid-navigation, chromedriver may answer this instead of "stale".
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def heading(browser: Any) -> str:
    return browser.find_element(By.ID, "results-heading").text


def facet_option(browser: Any, facet: str, value: str) -> WebElement:
    """The link of one facet value (by its visible value)."""
    for link in browser.find_elements(By.CSS_SELECTOR, f"#facet-{facet} ~ ul a.option"):
        if link.find_element(By.CSS_SELECTOR, ".value").text == value:
            return link
    raise AssertionError(f"no {facet} option {value!r}")


def test_type_a_query_see_highlights_pick_a_facet_and_open_an_item(
    browser: Any, served: Served
) -> None:
    browser.get(served.url)
    box = browser.find_element(By.CSS_SELECTOR, "input#q")
    # The box is labelled for screen readers, and so is every other field.
    assert browser.find_element(By.CSS_SELECTOR, "label[for=q]").text == "Search the watch"
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden])')]"
        ".filter(i => !i.labels.length).map(i => i.name)"
    )
    assert unlabelled == []
    box.send_keys("marketplace")
    navigate(browser, lambda: box.send_keys(Keys.ENTER))

    assert heading(browser).startswith("21 results for marketplace")
    marks = browser.find_elements(By.CSS_SELECTOR, "ol.hits .snippet mark")
    assert len(marks) >= 10
    assert {m.text.lower() for m in marks} == {"marketplace"}
    hits = browser.find_elements(By.CSS_SELECTOR, "ol.hits > li")
    assert len(hits) == 10
    assert "opportunity" in hits[0].find_element(By.CSS_SELECTOR, ".meta").text

    option = facet_option(browser, "source", "shop-radar")
    assert option.find_element(By.CSS_SELECTOR, ".count").text == "7"
    navigate(browser, option.click)
    assert "source=shop-radar" in browser.current_url
    assert heading(browser).startswith("7 results")
    sources = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "ol.hits .meta .source")}
    assert sources == {"shop-radar"}
    assert "selected" in facet_option(browser, "source", "shop-radar").get_attribute("class")
    chips = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "ul.chips a")]
    assert any("Source: shop-radar" in c for c in chips)

    first = browser.find_element(By.CSS_SELECTOR, "ol.hits > li h3 a")
    title = first.text
    navigate(browser, first.click)
    assert browser.current_url.startswith(f"{served.url}items/")
    assert browser.find_element(By.TAG_NAME, "h1").text == title
    back = browser.find_element(By.LINK_TEXT, "← Back to search")
    navigate(browser, back.click)
    assert heading(browser).startswith("7 results for marketplace")


def test_sort_by_date_and_move_through_pages(browser: Any, served: Served) -> None:
    browser.get(f"{served.url}?q=marketplace")
    navigate(browser, browser.find_element(By.LINK_TEXT, "Newest first").click)
    dates = [
        t.get_attribute("datetime")
        for t in browser.find_elements(By.CSS_SELECTOR, "ol.hits .meta time")
    ]
    assert dates == sorted(dates, reverse=True)
    current = browser.find_element(By.CSS_SELECTOR, "nav.sort a[aria-current]")
    assert current.text == "Newest first"

    navigate(browser, browser.find_element(By.CSS_SELECTOR, "nav.pager a[rel=next]").click)
    assert "page 2 of 3" in heading(browser)
    assert browser.find_element(By.CSS_SELECTOR, "ol.hits").get_attribute("start") == "11"
    later = [
        t.get_attribute("datetime")
        for t in browser.find_elements(By.CSS_SELECTOR, "ol.hits .meta time")
    ]
    assert later[0] <= dates[-1]


def test_a_malformed_query_shows_a_message_in_the_page(browser: Any, served: Served) -> None:
    browser.get(served.url)
    box = browser.find_element(By.CSS_SELECTOR, "input#q")
    box.send_keys('"price drop')
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "form.search button").click)
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "A quote is not closed" in alert.text
    assert browser.find_element(By.CSS_SELECTOR, "input#q").get_attribute("value") == (
        '"price drop'
    )


def test_a_script_in_item_text_is_shown_and_never_run(browser: Any, served: Served) -> None:
    browser.get(f"{served.url}?q=teardown")
    link = browser.find_element(By.CSS_SELECTOR, "ol.hits > li h3 a")
    assert link.text == HOSTILE_TITLE
    navigate(browser, link.click)
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_TITLE
    text = browser.find_element(By.CSS_SELECTOR, "section.text").text
    assert "<script>document.body.dataset.pwned='1'</script>" in text
    assert "<img src=x onerror=" in text
    # Had any of it been parsed as markup, these would show it.
    assert browser.title == f"{HOSTILE_TITLE} · Veille"
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.find_elements(By.CSS_SELECTOR, "article img") == []
    assert browser.execute_script("return document.body.dataset.pwned ?? null") is None
