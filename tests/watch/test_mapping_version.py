"""An index built with an older mapping: every command that uses it says to run `veille reindex`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.elasticsearch_node import throwaway_settings
from tests.smtp import add_item, make_watch
from tests.watch.web.conftest import fetch, serve
from watch import indexer
from watch.cli import cli
from watch.config import Config
from watch.errors import UserError
from watch.search import elastic
from watch.search.elastic import ElasticBackend, mapping
from watch.smtpsink import SmtpSink
from watch.store import Store

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def old_watch(tmp_path: Path, smtp_sink: SmtpSink, elasticsearch_url: str) -> Iterator[Config]:
    """A watch whose alias points at an index an older Veille built (mapping version 1)."""
    es = throwaway_settings(elasticsearch_url, "mapping")
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - {name: fees, query: fees, recipients: [pm@shop.test]}
        """,
        settings=f"""
        search:
          backend: elasticsearch
          elasticsearch: {{url: "{es.url}", index: {es.index}, replicas: 0}}
        """,
    )
    backend = ElasticBackend(es)
    backend.client.indices.create(
        index=f"{es.index}-v1",
        mappings={**mapping(es), "_meta": {"app": "veille", "mapping_version": 1}},
        settings={"number_of_replicas": 0},
        aliases={es.index: {"is_write_index": True}},
    )
    with Store(config.db_path) as store:
        for title in ("Marketplace fees rise", "Fees cut for new sellers"):
            add_item(store, title)
        indexer.enqueue_changed(config, store, [1, 2])
    yield config
    backend.drop()


def _says_to_reindex(message: str, config: Config) -> None:
    index = f"{config.settings.search.elasticsearch.index}-v1"
    assert index in message
    assert "mapping version 1" in message
    assert f"needs mapping version {elastic.MAPPING_VERSION}" in message
    assert "veille reindex" in message


def test_search_names_the_old_index_and_the_command_without_a_traceback(
    old_watch: Config,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "watch", "search", "fees", "--config", str(old_watch.path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    _says_to_reindex(" ".join((done.stderr + done.stdout).split()), old_watch)


def test_crawl_indexing_and_alerts_say_so_and_keep_everything_queued(
    old_watch: Config, smtp_sink: SmtpSink
) -> None:
    with Store(old_watch.db_path) as store:
        report = indexer.sync(old_watch, store)
        assert report.sent == 0 and report.pending == 2
        assert report.error is not None
        _says_to_reindex(report.error, old_watch)
        # What the crawl calls after storing: its summary shows this message.
        with pytest.raises(UserError, match="veille reindex"):
            indexer.sync_pending(old_watch, store)

    alerts = CliRunner().invoke(cli, ["alerts", "run", "--json", "--config", str(old_watch.path)])
    [rule] = json.loads(alerts.output)["rules"]
    _says_to_reindex(rule["error"], old_watch)
    assert smtp_sink.messages == []

    rebuilt = CliRunner().invoke(cli, ["reindex", "--config", str(old_watch.path)])
    assert rebuilt.exit_code == 0, rebuilt.output
    with Store(old_watch.db_path) as store:
        assert store.pending_index_count() == 0
    searched = CliRunner().invoke(cli, ["search", "fees", "--config", str(old_watch.path)])
    assert searched.exit_code == 0, searched.output
    assert "Marketplace fees rise" in searched.output


def test_serve_answers_503_with_the_advice_then_recovers_after_reindex(
    old_watch: Config,
) -> None:
    server = serve(old_watch)
    try:
        reply = fetch(f"{server.url}api/search?q=fees")
        assert reply.status == 503
        _says_to_reindex(reply.json()["error"], old_watch)
        page = fetch(f"{server.url}?q=fees")
        assert page.status == 503 and "veille reindex" in page.body
        rebuilt = CliRunner().invoke(cli, ["reindex", "--config", str(old_watch.path)])
        assert rebuilt.exit_code == 0, rebuilt.output
        # The running server checks again: no restart needed.
        assert fetch(f"{server.url}api/search?q=fees").json()["total"] == 2
    finally:
        server.stop()
