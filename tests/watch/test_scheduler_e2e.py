"""`veille run` end to end: the real crawler on the loopback fixture site, then alerts by SMTP."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.httpserver import FixtureServer
from tests.smtp import make_watch, to
from watch.cli import cli
from watch.smtpsink import SmtpSink
from watch.store import Store

CRAWL = """
crawl:
  per_domain_concurrency: 8
  per_domain_delay: 0
  autothrottle: false
  timeout: 2
  retries: 1
  allow_private_addresses: true
"""


def test_veille_run_crawls_due_sources_and_mails_matching_items_once(
    tmp_path: Path, site: FixtureServer, smtp_sink: SmtpSink
) -> None:
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - name: Structured data
            query: '"structured data"'
            recipients: [seo@shop.test]
        """,
        sources=f"""
        sources:
          - {{name: search-desk, type: feed, url: "{site.url}/blog/feed.rss", category: seo}}
        """,
        settings=CRAWL,
    )
    runner = CliRunner()
    args = ["run", "--config", str(config.path), "--json"]

    first = runner.invoke(cli, args)

    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    [source] = report["sources"]
    assert source["status"] == "crawled" and source["next_due_at"]
    assert "adaptive" in source["reason"]
    [mail] = smtp_sink.messages
    assert to([mail]) == ["seo@shop.test"]
    assert mail.message["Subject"].startswith("[Veille] Structured data: ")
    assert "Product structured data: the fields that still earn rich results" in mail.part("plain")
    assert f"{site.url}/blog/posts/product-structured-data.html" in mail.part("html")

    # Not due again yet: nothing crawled, nothing sent.
    second = json.loads(runner.invoke(cli, args).output)
    assert second["sources"] == [] and len(smtp_sink.messages) == 1

    # Forced: the feed answers 304 and no item is new, so still no second mail.
    forced = json.loads(runner.invoke(cli, [*args, "--all"]).output)
    assert forced["sources"][0]["status"] == "crawled"
    assert len(smtp_sink.messages) == 1
    with Store(config.db_path) as store:
        state = store.source_state("search-desk")
        assert state.consecutive_failures == 0 and state.next_due_at is not None
        assert store.conn.execute("SELECT count(*) FROM locks").fetchone()[0] == 0
