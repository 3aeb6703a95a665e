"""Alert rules end to end: store → search backend → outbox → a real SMTP server on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.smtp import add_item, make_watch, to
from watch.alerts import get_cursor, load_rules, preview, run_alerts
from watch.cli import cli
from watch.config import ConfigError
from watch.mailer import backoff, entries
from watch.smtpsink import SmtpSink
from watch.store import Store

SEO_RULE = """
alerts:
  - name: SEO watch
    query: google
    recipients: [ana@shop.test, "Bo <bo@shop.test>"]
"""


def test_rule_file_errors_name_file_line_rule_and_field(tmp_path: Path) -> None:
    config = make_watch(
        tmp_path,
        None,
        """
        alerts:
          - name: ok
            recipients: [a@b.test]
          - name: broken
            recipients: [a@b.test]
            mode: daily at 25:00
        """,
    )
    with pytest.raises(ConfigError) as err:
        load_rules(config)
    message = str(err.value)
    assert "alerts.yaml, line 7" in message
    assert "alert rule 'broken'" in message and "field 'at'" in message
    assert "HH:MM" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    recipients: [not-an-address]\n", "not an email address"),
        ("    recipients: []\n", "field 'recipients'"),
        ("    recipients: [a@b.test]\n    mode: hourly\n", "'instant', 'daily' or 'weekly'"),
        ("    recipients: [a@b.test]\n    mode: weekly\n    day: funday\n", "day of the week"),
        ("    recipients: [a@b.test]\n    min_opportunity: 2\n", "min_opportunity"),
        ("    recipients: [a@b.test]\n    querry: x\n", "not a known setting"),
    ],
)
def test_invalid_rule_fields_are_reported(tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "veille.yaml").write_text("data_dir: data\n")
    (tmp_path / "alerts.yaml").write_text("alerts:\n  - name: r\n" + body)
    from watch.config import load_config

    with pytest.raises(ConfigError, match="alert rule 'r'") as err:
        load_rules(load_config(tmp_path / "veille.yaml"))
    assert expected in str(err.value)


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    config = make_watch(
        tmp_path,
        None,
        "alerts:\n  - {name: x, recipients: [a@b.test]}\n  - {name: x, recipients: [a@b.test]}\n",
    )
    with pytest.raises(ConfigError, match="line 3: alert rule 'x' is defined twice"):
        load_rules(config)


def test_mode_shorthand_and_separate_keys_mean_the_same(tmp_path: Path) -> None:
    config = make_watch(
        tmp_path,
        None,
        """
        alerts:
          - {name: a, recipients: [a@b.test], mode: "weekly on fri at 7:30"}
          - {name: b, recipients: [a@b.test], mode: weekly, day: Friday, at: "07:30"}
          - {name: c, recipients: a@b.test, mode: daily at 18:05, language: fr}
        """,
    )
    a, b, c = load_rules(config).rules
    assert a.schedule_text == b.schedule_text == "weekly on friday at 07:30"
    assert c.schedule_text == "daily at 18:05" and c.recipients == ["a@b.test"]
    assert c.language == ["fr"]


def test_missing_alerts_file_means_no_rules(tmp_path: Path) -> None:
    config = make_watch(tmp_path, None, "alerts: []\n")
    (tmp_path / "alerts.yaml").unlink()
    rules = load_rules(config)
    assert rules.rules == [] and not rules.exists


def test_instant_alert_reaches_each_recipient_with_the_item_details(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(tmp_path, smtp_sink, SEO_RULE)
    with Store(config.db_path) as store:
        add_item(
            store,
            "Google rolls out a core update",
            summary="The March core update from Google changes rankings.",
            source="seo-blog",
            tags=["seo", "platforms-tech"],
            opportunity=0.83,
            url="https://seo-blog.example/core-update",
            published=datetime(2025, 3, 14, 9, 0, tzinfo=UTC),
        )
        add_item(store, "Parcel lockers expand in Lyon", source="logistics-news")

    report = run_alerts(config)

    assert [r.status for r in report.rules] == ["sent"]
    assert to(smtp_sink.messages) == ["ana@shop.test", "bo@shop.test"]
    mail = smtp_sink.messages[0]
    assert mail.mail_from == "veille@test.local"
    assert mail.message["Subject"] == "[Veille] SEO watch: 1 new item"
    assert mail.message.get_content_type() == "multipart/alternative"
    text, html = mail.part("plain"), mail.part("html")
    for part in (text, html):
        assert "Google rolls out a core update" in part
        assert "seo-blog" in part and "2025-03-14" in part
        assert "platforms-tech" in part and "0.83" in part
        assert "Parcel lockers" not in part
    assert '<a href="https://seo-blog.example/core-update"' in html
    assert "<mark>Google</mark>" in html
    assert "https://seo-blog.example/core-update" in text


def test_web_text_is_escaped_and_unsafe_links_dropped(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    config = make_watch(
        tmp_path,
        smtp_sink,
        "alerts:\n  - {name: all, recipients: [a@shop.test]}\n",
    )
    with Store(config.db_path) as store:
        add_item(
            store,
            'Sale <script>alert("x")</script> <img src=x onerror=alert(1)> & <b>more</b>',
            summary="<iframe src='https://evil.test'></iframe>Prices &lt;b&gt;drop&lt;/b&gt;",
            url="javascript:alert(document.cookie)",
        )
    run_alerts(config)

    [mail] = smtp_sink.messages
    raw = mail.data.decode("utf-8", "replace").lower()
    html, text = mail.part("html"), mail.part("plain")
    for part in (html.lower(), text.lower(), raw):
        assert "<script" not in part and "<iframe" not in part and "<img" not in part
        assert "onerror" not in part or "<img" not in part
        assert "javascript:" not in part
    assert "<b>" not in html and "Sale" in html and "&amp; more" in html
    assert "Sale alert(" in text


def test_rerun_sends_nothing_twice_and_only_new_items_later(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(tmp_path, smtp_sink, SEO_RULE)
    with Store(config.db_path) as store:
        add_item(store, "Google ads change bidding")
    run_alerts(config)
    run_alerts(config)
    assert len(smtp_sink.messages) == 2  # one per recipient, once

    with Store(config.db_path) as store:
        add_item(store, "Google Merchant Center adds a report")
    run_alerts(config)
    run_alerts(config)

    assert len(smtp_sink.messages) == 4
    later = [m.part("plain") for m in smtp_sink.messages[2:]]
    assert all("Merchant Center" in t and "bidding" not in t for t in later)


def test_near_duplicate_stories_count_once(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    config = make_watch(tmp_path, smtp_sink, "alerts:\n  - {name: r, recipients: [a@x.test]}\n")
    story = (
        "Marketplace Kelio opens to third-party sellers across Europe this spring. Sellers "
        "can list products from April, with fees of eight percent and fulfilment options "
        "in France, Spain and Italy. The company said onboarding takes two weeks and that "
        "it expects ten thousand merchants within the first year of the programme."
    )
    with Store(config.db_path) as store:
        first = add_item(store, "Kelio opens to sellers", story, source="wire")
        copy = add_item(store, "Kelio opens to sellers", story + " (syndicated)", source="blog")
        assert copy.status == "duplicate" and copy.cluster_id == first.item_id
    run_alerts(config)
    [mail] = smtp_sink.messages
    assert mail.message["Subject"] == "[Veille] r: 1 new item"

    with Store(config.db_path) as store:
        late = add_item(store, "Kelio opens to sellers", story + " Updated.", source="third")
        assert late.cluster_id == first.item_id
    run_alerts(config)
    assert len(smtp_sink.messages) == 1  # the cluster was already sent to this rule


def test_pending_alert_is_delivered_when_the_smtp_server_comes_back(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(tmp_path, smtp_sink, SEO_RULE)
    with Store(config.db_path) as store:
        add_item(store, "Google Shopping opens free listings")
    smtp_sink.stop()
    now = datetime.now(UTC)

    down = run_alerts(config, now=now)

    assert down.delivery.sent == 0 and down.delivery.pending == 2
    assert "cannot reach SMTP server" in down.delivery.errors[0]
    with Store(config.db_path) as store:
        assert {e.status for e in entries(store)} == {"pending"}
    # Still down within the backoff: not even tried.
    smtp_sink.start()
    early = run_alerts(config, now=now + timedelta(seconds=10))
    assert early.delivery.sent == 0 and smtp_sink.messages == []

    back = run_alerts(config, now=now + backoff(1) + timedelta(seconds=1))

    assert back.delivery.sent == 2 and back.delivery.pending == 0
    assert to(smtp_sink.messages) == ["ana@shop.test", "bo@shop.test"]
    run_alerts(config, now=now + timedelta(hours=1))
    assert len(smtp_sink.messages) == 2


def test_backoff_doubles_and_is_capped() -> None:
    assert backoff(1) == timedelta(minutes=1)
    assert backoff(2) == timedelta(minutes=2)
    assert backoff(5) == timedelta(minutes=16)
    assert backoff(40) == timedelta(hours=6)


def test_refused_recipient_fails_visibly_while_others_get_their_mail(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(tmp_path, smtp_sink, SEO_RULE)
    smtp_sink.refuse.add("bo@shop.test")
    with Store(config.db_path) as store:
        add_item(store, "Google Analytics retires a report")
    report = run_alerts(config)

    assert to(smtp_sink.messages) == ["ana@shop.test"]
    assert report.delivery.failed == 1
    assert any("bo@shop.test refused: 550" in e for e in report.delivery.errors)
    result = CliRunner().invoke(cli, ["alerts", "list", "--json", "--config", str(config.path)])
    [row] = json.loads(result.output)["rules"]
    assert row["mail"] == {"pending": 0, "sent": 1, "failed": 1}


def test_filters_tags_opportunity_sources_and_language(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - name: hot seo
            tags: [seo]
            min_opportunity: 0.5
            recipients: [a@x.test]
          - name: french marketplaces
            query: marketplace
            sources: [fr-news]
            language: fr
            recipients: [b@x.test]
        """,
    )
    with Store(config.db_path) as store:
        add_item(store, "SEO tip one", tags=["seo"], opportunity=0.9)
        add_item(store, "SEO tip two", tags=["seo"], opportunity=0.2)
        add_item(store, "Ads tip", tags=["advertising"], opportunity=0.95)
        add_item(store, "Nouvelle marketplace", source="fr-news", language="fr")
        add_item(store, "New marketplace", source="fr-news", language="en")
        add_item(store, "Autre marketplace", source="other", language="fr")
    run_alerts(config)

    by_rcpt = {m.rcpt_tos[0]: m.part("plain") for m in smtp_sink.messages}
    assert "SEO tip one" in by_rcpt["a@x.test"]
    assert "SEO tip two" not in by_rcpt["a@x.test"] and "Ads tip" not in by_rcpt["a@x.test"]
    assert "Nouvelle marketplace" in by_rcpt["b@x.test"]
    assert "New marketplace" not in by_rcpt["b@x.test"]
    assert "Autre" not in by_rcpt["b@x.test"]


def test_max_items_lists_the_newest_and_counts_the_rest(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(
        tmp_path, smtp_sink, "alerts:\n  - {name: r, recipients: [a@x.test], max_items: 3}\n"
    )
    with Store(config.db_path) as store:
        for i in range(7):
            add_item(store, f"Story {i}", published=datetime(2025, 5, 1 + i, tzinfo=UTC))
    run_alerts(config)
    [mail] = smtp_sink.messages
    text = mail.part("plain")
    assert mail.message["Subject"] == "[Veille] r: 7 new items"
    assert all(f"Story {i}" in text for i in (4, 5, 6))
    assert "Story 3" not in text and "and 4 more" in text


def test_first_evaluation_looks_back_a_day_then_follows_the_cursor(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(tmp_path, smtp_sink, "alerts:\n  - {name: r, recipients: [a@x.test]}\n")
    with Store(config.db_path) as store:
        add_item(store, "Seen today")
        last = add_item(store, "Also today")
    now = datetime.now(UTC)
    later = now + timedelta(days=3)
    # Three days later the first evaluation ignores items first seen over a day ago.
    report = run_alerts(config, now=later)
    assert report.rules[0].status == "nothing new" and smtp_sink.messages == []
    with Store(config.db_path) as store:
        assert get_cursor(store, "r").last_item_id == last.item_id
        add_item(store, "Fresh one")
    run_alerts(config, now=later)
    [mail] = smtp_sink.messages
    assert "Fresh one" in mail.part("plain") and "Also today" not in mail.part("plain")


def test_dry_run_and_preview_send_nothing_and_keep_the_cursor(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(tmp_path, smtp_sink, SEO_RULE)
    with Store(config.db_path) as store:
        add_item(store, "Google Discover update")
    dry = run_alerts(config, dry_run=True)
    assert dry.rules[0].status == "dry run" and dry.rules[0].total == 1
    assert preview(config, "SEO watch").items[0].title == "Google Discover update"

    runner = CliRunner()
    args = ["--config", str(config.path), "--json"]
    shown = json.loads(runner.invoke(cli, ["alerts", "test", "SEO watch", *args]).output)
    assert shown["subject"] == "[Veille] SEO watch: 1 new item"
    assert [i["title"] for i in shown["items"]] == ["Google Discover update"]
    ran = json.loads(runner.invoke(cli, ["alerts", "run", "--dry-run", *args]).output)
    assert ran["rules"][0]["status"] == "dry run"
    assert smtp_sink.messages == []
    with Store(config.db_path) as store:
        assert get_cursor(store, "SEO watch") is None and entries(store) == []

    ran = json.loads(runner.invoke(cli, ["alerts", "run", *args]).output)
    assert ran["delivery"]["sent"] == 2 and len(smtp_sink.messages) == 2


def test_alerts_test_names_the_known_rules_when_the_name_is_wrong(tmp_path: Path) -> None:
    config = make_watch(tmp_path, None, SEO_RULE)
    result = CliRunner().invoke(cli, ["alerts", "test", "nope", "--config", str(config.path)])
    assert result.exit_code != 0
    assert "No alert rule named 'nope'" in str(result.exception)
    assert "SEO watch" in str(result.exception)


def test_alerts_list_shows_schedule_and_last_evaluation(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(
        tmp_path,
        smtp_sink,
        SEO_RULE + "  - {name: weekly, recipients: [c@x.test], mode: weekly on mon at 09:00}\n",
    )
    run_alerts(config, digests="none")
    result = CliRunner().invoke(
        cli, ["alerts", "list", "--config", str(config.path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "SEO watch" in result.output and "weekly on monday at 09:00" in result.output
    data = json.loads(
        CliRunner().invoke(cli, ["alerts", "list", "--json", "--config", str(config.path)]).output
    )
    seo, weekly = data["rules"]
    assert seo["last_evaluated"] and weekly["last_evaluated"] is None


def test_a_bad_query_is_reported_per_rule_and_others_still_run(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - {name: broken, query: OR amazon, recipients: [a@x.test]}
          - {name: fine, recipients: [b@x.test]}
        """,
    )
    with Store(config.db_path) as store:
        add_item(store, "Anything")
    report = run_alerts(config)
    broken, fine = report.rules
    assert broken.status == "error" and broken.error
    assert fine.status == "sent" and to(smtp_sink.messages) == ["b@x.test"]
    with Store(config.db_path) as store:
        assert get_cursor(store, "broken") is None


def test_user_templates_override_the_bundled_ones(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "alert_subject.txt.j2").write_text(
        "Heads up: {{ total }} for {{ rule.name }}"
    )
    (tmp_path / "mail" / "alert.html.j2").write_text(
        "<p>{% for i in items %}<i>{{ i.title }}</i>{% endfor %}</p>"
    )
    config = make_watch(
        tmp_path,
        smtp_sink,
        "templates_dir: mail\nalerts:\n  - {name: r, recipients: [a@x.test]}\n",
    )
    with Store(config.db_path) as store:
        add_item(store, "Tom & <Jerry>")
    run_alerts(config)
    [mail] = smtp_sink.messages
    assert mail.message["Subject"] == "Heads up: 1 for r"
    assert mail.part("html").strip() == "<p><i>Tom &amp;</i></p>"
    assert "Tom &" in mail.part("plain")  # the bundled text template still applies


def test_a_broken_user_template_is_a_clear_error(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "alert.txt.j2").write_text("{% for x in items %}\n")
    config = make_watch(
        tmp_path, smtp_sink, "templates_dir: mail\nalerts:\n  - {name: r, recipients: [a@x.test]}\n"
    )
    with Store(config.db_path) as store:
        add_item(store, "Anything")
    from watch.errors import UserError

    with pytest.raises(UserError, match=r"alert.txt.j2, line \d+"):
        run_alerts(config)


def test_many_rules_are_evaluated_in_parallel_each_getting_its_own_items(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    words = [f"topic{chr(97 + i)}" for i in range(20)]
    rules = "".join(
        f"  - {{name: r{i}, query: {w}, recipients: [r{i}@x.test]}}\n" for i, w in enumerate(words)
    )
    config = make_watch(tmp_path, smtp_sink, "alerts:\n" + rules)
    with Store(config.db_path) as store:
        for i, word in enumerate(words):
            for j in range(i % 3 + 1):
                add_item(store, f"{word} story {j}")
        add_item(store, "Nothing to see", "OR amazon")
    report = run_alerts(config)
    assert [r.rule for r in report.rules] == [f"r{i}" for i in range(20)]
    assert [r.total for r in report.rules] == [i % 3 + 1 for i in range(20)]
    assert len(smtp_sink.messages) == 20
    for mail in smtp_sink.messages:
        i = int(mail.rcpt_tos[0][1:].split("@")[0])
        assert mail.message["Subject"] == f"[Veille] r{i}: {i % 3 + 1} new item" + (
            "s" if i % 3 else ""
        )
        assert words[i] in mail.part("plain")


def test_the_demo_hook_delivers_to_a_given_smtp_server(tmp_path: Path) -> None:
    from watch.alerts import deliver_to

    config = make_watch(
        tmp_path,
        None,  # the configured server (127.0.0.1:25) is not the one used
        """
        alerts:
          - {name: now, recipients: [a@x.test]}
          - {name: weekly, recipients: [b@x.test], mode: weekly on monday at 09:00}
        """,
    )
    with Store(config.db_path) as store:
        add_item(store, "Demo item")
    with SmtpSink() as sink:
        report = deliver_to(config, "127.0.0.1", sink.port)
        assert report.delivery.sent == 2
        assert to(sink.messages) == ["a@x.test", "b@x.test"]
        assert "Demo item" in sink.messages[1].part("plain")


def test_non_ascii_and_long_headers_are_encoded_and_read_back(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    long_name = "Marchés et places de marché européennes " + "très " * 12 + "suivies"
    config = make_watch(
        tmp_path,
        smtp_sink,
        f'alerts:\n  - {{name: "{long_name}", recipients: ["Zoé Martin <zoe@x.test>"]}}\n',
    )
    with Store(config.db_path) as store:
        add_item(store, "Zalando ouvre sa marketplace aux vendeurs tiers", language="fr")
    run_alerts(config)
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["zoe@x.test"]
    assert mail.message["Subject"] == f"[Veille] {long_name}: 1 new item"
    assert mail.message["To"] == "Zoé Martin <zoe@x.test>"
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))
    assert "Zalando ouvre sa marketplace" in mail.part("plain")
    assert mail.data.isascii()
