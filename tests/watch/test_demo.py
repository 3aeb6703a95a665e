"""The bundled demo: its web of fictional sites, and `veille demo` end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from lxml import etree

from tests.smtp import add_item, make_watch
from watch.cli import cli
from watch.config import load_config
from watch.demo.content import load_sites
from watch.demo.runner import DEMO_SEARCHES, parse_smtp_address, run_alerts_step, run_searches
from watch.demo.server import DemoWeb
from watch.errors import UserError
from watch.smtpsink import SmtpSink
from watch.store import Store

# The rule of the bundled alerts.yaml, and the stories it must mail.
DEMO_RULE = "Marketplaces opening to sellers"
SELLERS_STORY = "Agora Market opens its marketplace to third-party sellers in France"
# Which demo site each source of the bundled sources.yaml watches.
SOURCE_SITES = {
    "ranking-signals": "ranking-signals",
    "comptoir-ecommerce": "comptoir",
    "retail-wire": "retail-wire",
    "agora-newsroom": "agora-market",
    "kettle-co": "kettle-co",
}
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


@pytest.fixture(scope="module")
def web() -> Iterator[DemoWeb]:
    """The demo web, served on free loopback ports."""
    with DemoWeb() as running:
        yield running


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of a GET (errors included)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def expected_paths(site_key: str) -> set[str]:
    """The paths of a demo site's pages that a crawl should keep: articles and products."""
    site = next(s for s in load_sites() if s.key == site_key)
    return {site.article_url_path(a) for a in site.articles} | {
        site.product_url_path(p) for p in site.products
    }


def test_demo_content_has_a_few_dozen_items_in_english_and_french() -> None:
    sites = load_sites()
    items = [(s, a) for s in sites for a in s.articles]
    products = [p for s in sites for p in s.products]
    assert 40 <= len(items) + len(products) <= 60
    french = [a for s, a in items if (a.language or s.language) == "fr"]
    assert len(french) >= 8
    assert {s.kind for s in sites} == {"blog", "press", "marketplace", "shop"}
    assert {s.feed for s in sites} >= {"rss", "atom", "news-sitemap"}


def test_every_site_has_its_own_robots_txt(web: DemoWeb) -> None:
    bodies = set()
    for site in web.sites:
        status, body, headers = get(web.base(site.key) + "/robots.txt")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert b"User-agent: *" in body and b"Disallow:" in body
        bodies.add(body)
    assert len(bodies) == len(web.sites)


def test_blog_feeds_are_rss2_and_atom_with_one_entry_per_article(web: DemoWeb) -> None:
    rss = feedparser.parse(get(web.base("ranking-signals") + "/feed.xml")[1])
    atom = feedparser.parse(get(web.base("comptoir") + "/atom.xml")[1])
    assert rss.version == "rss20" and not rss.bozo
    assert atom.version == "atom10" and not atom.bozo
    for parsed, key in ((rss, "ranking-signals"), (atom, "comptoir")):
        links = {e.link for e in parsed.entries}
        assert links == set(web.renderer(key).item_urls)
        assert all(e.get("published_parsed") and e.get("author") for e in parsed.entries)


def test_news_sitemap_keeps_publication_date_title_and_keywords(web: DemoWeb) -> None:
    status, body, _ = get(web.base("retail-wire") + "/news-sitemap.xml")
    assert status == 200
    urls = etree.fromstring(body).findall("{http://www.sitemaps.org/schemas/sitemap/0.9}url")
    assert len(urls) == len(web.renderer("retail-wire").item_urls)
    for url in urls:
        news = url.find(f"{NEWS}news")
        assert news.findtext(f"{NEWS}publication_date")
        assert news.findtext(f"{NEWS}title")
        assert news.findtext(f"{NEWS}keywords")


def test_pages_answer_conditional_gets_and_unknown_paths_with_404(web: DemoWeb) -> None:
    url = web.renderer("agora-market").item_urls[0]
    status, body, headers = get(url)
    assert status == 200 and b'property="og:type" content="article"' in body
    assert get(url, {"If-None-Match": headers["ETag"]})[0] == 304
    assert get(url, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    assert get(web.base("agora-market") + "/no-such-page")[0] == 404


def test_items_are_dated_relative_to_now_so_they_look_fresh(web: DemoWeb) -> None:
    for renderer in web.renderers.values():
        for view in renderer.articles:
            assert 0 <= (web.now - view.published).days <= 10


def test_syndicated_story_reuses_its_original_text() -> None:
    articles = {(s.key, a.slug): a for s in load_sites() for a in s.articles}
    copies = [a for a in articles.values() if a.copy_of]
    assert copies
    for copy in copies:
        original = articles[tuple(copy.copy_of.split("/"))]
        assert set(original.body) < set(copy.body)


def test_demo_refuses_a_keep_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["demo", "--keep", str(tmp_path)])
    assert isinstance(result.exception, UserError)
    assert "not empty" in str(result.exception)
    assert (tmp_path / "precious.txt").exists()


def test_demo_says_which_ports_are_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--port", str(port), "--keep", str(tmp_path)])
    assert isinstance(result.exception, UserError)
    assert f"ports {port}-" in str(result.exception) and "--port" in str(result.exception)


def test_demo_port_range_must_fit_every_site() -> None:
    with pytest.raises(UserError, match="at most"):
        DemoWeb(port=65535)


def run_veille(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `veille` command line in a child process, as a user would."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUTF8": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from watch.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_veille_demo_crawls_every_source_and_searches_with_facets(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    result = run_veille("demo", "--keep", str(keep))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    config = load_config(keep / "veille.yaml")
    assert config.settings.crawl.allow_private_addresses
    assert {s.name for s in config.sources} == set(SOURCE_SITES)
    with Store(config.db_path) as store:
        items = list(store.iter_items())
    # Every article and product of every demo site, and nothing else (no hubs, no /about).
    for source, site in SOURCE_SITES.items():
        stored = {i.canonical_url.split("/", 3)[3] for i in items if i.source == source}
        assert {f"/{p}" for p in stored} == expected_paths(site), source
    by_path = {"/" + i.canonical_url.split("/", 3)[3]: i for i in items}
    original = by_path["/newsroom/agora-opens-to-third-party-sellers-france/"]
    copy = by_path["/news/agora-market-opens-third-party-sellers-france"]
    assert original.cluster_id == copy.cluster_id
    assert {i.language for i in items} == {"en", "fr"}
    assert all(i.published for i in items if "/products/" not in i.canonical_url)
    # Tagged on the way in: the competitor rule and the topic classifier.
    assert all("competitor:kettle-co" in i.tags for i in items if i.source == "kettle-co")
    assert sum(1 for i in items if any(not t.startswith("competitor:") for t in i.tags)) > 30

    # The searches the demo printed, run again on its kept store.
    results = {search.title: result for search, result in run_searches(config)}
    assert len(results) == len(DEMO_SEARCHES)
    sellers = results["Marketplaces opening to sellers"]
    assert {h.source for h in sellers.hits} >= {"agora-newsroom", "comptoir-ecommerce"}
    assert sum(b.count for b in sellers.facets["language"]) > sellers.total  # collapsed
    competitor = results["Competitor watch: Kettle & Co prices and stock"]
    assert competitor.total >= 3 and {h.source for h in competitor.hits} == {"kettle-co"}
    everything = results["Everything collected, by facet"]
    assert everything.total == len(items)
    assert {b.value for b in everything.facets["source"]} == set(SOURCE_SITES)

    # What the user saw: the crawl summary, hits, facets and what to try next.
    assert "Crawl run" in out and "total" in out
    for search in DEMO_SEARCHES:
        assert search.title in out
    assert "Agora Market opens its marketplace to third-party sellers in France" in out
    assert f"{len(items)} results" in out
    assert "Facets" in out and "retail-wire 13" in out and "fr 11" in out
    assert "What next" in out and str(keep / "veille.yaml") in out

    # The alert step: the rule fired and the local sink's message was printed.
    alerts = out[out.index("3. Alerts") : out.index("4. What next")]
    assert f"Rule {DEMO_RULE} (instant): sent" in alerts
    assert "received 1 message(s)" in alerts
    assert f"Subject: [Veille] {DEMO_RULE}" in alerts
    assert "To: Product manager <pm@demo.example>" in alerts
    assert SELLERS_STORY in alerts


def test_demo_smtp_address_must_be_host_and_port() -> None:
    assert parse_smtp_address("mail.test:2525") == ("mail.test", 2525)
    assert parse_smtp_address(":1025") == ("127.0.0.1", 1025)
    assert parse_smtp_address("[::1]:25") == ("::1", 25)
    for bad in ("localhost", "localhost:smtp", "localhost:0", "localhost:70000"):
        result = CliRunner().invoke(cli, ["demo", "--smtp", bad])
        assert result.exit_code == 2
        assert "Invalid value for '--smtp'" in result.output and "HOST:PORT" in result.output


def test_demo_delivers_its_alert_to_the_smtp_server_given(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    keep = tmp_path / "demo"
    server = f"127.0.0.1:{smtp_sink.port}"
    result = CliRunner().invoke(cli, ["demo", "--keep", str(keep), "--smtp", server])
    assert result.exit_code == 0, result.output
    assert f"Sent 1 message(s) to the SMTP server at {server}" in result.output
    [received] = smtp_sink.messages
    assert received.rcpt_tos == ["pm@demo.example"]
    assert received.message["Subject"].startswith(f"[Veille] {DEMO_RULE}")
    assert SELLERS_STORY in received.part("plain") and SELLERS_STORY in received.part("html")
    # The kept config mails there too, for `veille alerts run` afterwards.
    smtp = load_config(keep / "veille.yaml").settings.smtp
    assert (smtp.host, smtp.port) == ("127.0.0.1", smtp_sink.port)


def test_demo_alert_step_says_when_the_smtp_server_given_does_not_answer(
    tmp_path: Path,
) -> None:
    config = make_watch(
        tmp_path,
        None,
        f"""
        alerts:
          - {{name: "{DEMO_RULE}", query: sellers, recipients: [pm@demo.example]}}
        """,
    )
    with Store(config.db_path) as store:
        add_item(store, "Marketplace opens to third-party sellers")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(UserError, match=f"could not be delivered to 127.0.0.1:{port}.*--smtp"):
        run_alerts_step(config, f"127.0.0.1:{port}")


@pytest.mark.elasticsearch
def test_demo_runs_on_the_elasticsearch_given(tmp_path: Path, elasticsearch_url: str) -> None:
    from watch.search.elastic import ElasticBackend

    keep = tmp_path / "demo"
    args = ["demo", "--keep", str(keep), "--search-backend", "elasticsearch"]
    result = CliRunner().invoke(cli, [*args, "--es-url", elasticsearch_url])
    config = load_config(keep / "veille.yaml")
    es = config.settings.search.elasticsearch
    try:
        assert result.exit_code == 0, result.output
        assert config.settings.search.backend == "elasticsearch"
        assert es.url.rstrip("/") == elasticsearch_url
        with Store(config.db_path) as store:
            stored = sum(1 for _ in store.iter_items())
        assert ElasticBackend(es).search(DEMO_SEARCHES[-1].query).total == stored
        assert SELLERS_STORY in result.output and f"{stored} results" in result.output
        assert f"Subject: [Veille] {DEMO_RULE}" in result.output
    finally:
        ElasticBackend(es).drop()
