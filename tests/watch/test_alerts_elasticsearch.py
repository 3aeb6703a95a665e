"""Alerts on Elasticsearch: same rules, same mail, no item skipped while indexing lags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.elasticsearch_node import throwaway_settings
from tests.smtp import add_item, make_watch, to
from watch import indexer
from watch.alerts import get_cursor, run_alerts
from watch.search.elastic import ElasticBackend
from watch.smtpsink import SmtpSink
from watch.store import Store

pytestmark = pytest.mark.elasticsearch


def test_alerts_run_on_elasticsearch_and_wait_for_items_not_yet_indexed(
    tmp_path: Path, smtp_sink: SmtpSink, elasticsearch_url: str
) -> None:
    es = throwaway_settings(elasticsearch_url, "alerts")
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - {name: fees, query: fees, tags: [marketplaces], recipients: [pm@shop.test]}
        """,
        settings=f"""
        search:
          backend: elasticsearch
          elasticsearch: {{url: "{es.url}", index: {es.index}, replicas: 0}}
        """,
    )
    try:
        with Store(config.db_path) as store:
            first = add_item(store, "Marketplace fees rise", tags=["marketplaces"])
            add_item(store, "Marketplace fees, unrelated tag", tags=["seo"])
            indexer.enqueue_changed(config, store, [1, 2])
            assert indexer.sync(config, store).sent == 2
        run_alerts(config)
        [mail] = smtp_sink.messages
        assert to([mail]) == ["pm@shop.test"]
        assert "Marketplace fees rise" in mail.part("plain")
        assert "unrelated" not in mail.part("plain")

        with Store(config.db_path) as store:
            late = add_item(store, "Fees cut for new sellers", tags=["marketplaces"])
            indexer.enqueue_changed(config, store, [late.item_id])
        # Stored but not yet in Elasticsearch: nothing to send, and the cursor waits for it.
        run_alerts(config)
        assert len(smtp_sink.messages) == 1
        with Store(config.db_path) as store:
            assert get_cursor(store, "fees").last_item_id == late.item_id - 1 > first.item_id
            indexer.sync(config, store)
        run_alerts(config)
        assert len(smtp_sink.messages) == 2
        assert "Fees cut for new sellers" in smtp_sink.messages[1].part("plain")
        run_alerts(config)
        assert len(smtp_sink.messages) == 2
    finally:
        ElasticBackend(config.settings.search.elasticsearch).drop()


@pytest.mark.parametrize("backend", ["sqlite", "elasticsearch"])
def test_alert_mail_keeps_the_space_between_two_highlighted_words(
    tmp_path: Path, smtp_sink: SmtpSink, request: pytest.FixtureRequest, backend: str
) -> None:
    # "third-party sellers" comes back as <mark>third-party</mark> <mark>sellers</mark>
    # (Elasticsearch even marks "third" and "party" apart): the lone space between
    # two marks used to vanish from the mail ("third-partysellers").
    settings = ""
    if backend == "elasticsearch":
        es = throwaway_settings(request.getfixturevalue("elasticsearch_url"), "space")
        settings = f"""
        search:
          backend: elasticsearch
          elasticsearch: {{url: "{es.url}", index: {es.index}, replicas: 0}}
        """
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - {name: sellers, query: "third-party sellers", recipients: [pm@shop.test]}
        """,
        settings=settings,
    )
    text = "Marketplaces now charge third-party sellers a listing fee in every country."
    try:
        with Store(config.db_path) as store:
            add_item(store, "Listing fees", text)
            indexer.enqueue_changed(config, store, [1])
            indexer.sync(config, store)
        run_alerts(config)
        [mail] = smtp_sink.messages
        assert text in mail.part("plain")
        html_part = mail.part("html")
        assert "third-partysellers" not in html_part
        assert "<mark>sellers</mark>" in html_part
        # The space stays outside the marks.
        assert "</mark> <mark>sellers</mark>" in html_part
    finally:
        if backend == "elasticsearch":
            ElasticBackend(config.settings.search.elasticsearch).drop()
