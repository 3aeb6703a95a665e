"""Daily and weekly digests: when they are due, and what they carry (tags, volume chart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.smtp import add_item, make_watch, to
from watch.alerts import AlertRule, Cursor, run_alerts
from watch.digest import digest_due, last_occurrence, next_occurrence
from watch.smtpsink import SmtpSink
from watch.store import Store


def rule(mode: str) -> AlertRule:
    return AlertRule(name="d", recipients=["a@x.test"], mode=mode)


def test_last_and_next_occurrences_of_daily_and_weekly_digests() -> None:
    now = datetime(2025, 6, 4, 10, 0, tzinfo=UTC)  # a Wednesday
    assert last_occurrence(rule("daily at 08:30"), now, "UTC") == datetime(
        2025, 6, 4, 8, 30, tzinfo=UTC
    )
    assert last_occurrence(rule("daily at 11:00"), now, "UTC") == datetime(
        2025, 6, 3, 11, 0, tzinfo=UTC
    )
    weekly = rule("weekly on monday at 09:00")
    assert last_occurrence(weekly, now, "UTC") == datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    assert next_occurrence(weekly, now, "UTC") == datetime(2025, 6, 9, 9, 0, tzinfo=UTC)
    # Times are wall-clock times in the configured zone (Paris is UTC+2 in June).
    paris = last_occurrence(rule("daily at 08:30"), now, "Europe/Paris")
    assert paris.astimezone(UTC) == datetime(2025, 6, 4, 6, 30, tzinfo=UTC)


def test_a_digest_is_due_once_per_occurrence() -> None:
    daily = rule("daily at 08:00")
    added = datetime(2025, 6, 4, 7, 0, tzinfo=UTC)
    cursor = Cursor(rule="d", created_at=added)
    assert not digest_due(daily, cursor, added + timedelta(minutes=30), "UTC")
    assert digest_due(daily, cursor, added + timedelta(hours=1, minutes=1), "UTC")
    cursor.last_digest_at = added + timedelta(hours=1, minutes=1)
    assert not digest_due(daily, cursor, added + timedelta(hours=20), "UTC")
    assert digest_due(daily, cursor, added + timedelta(days=1, hours=1, minutes=1), "UTC")
    assert not digest_due(rule("instant"), cursor, added + timedelta(days=9), "UTC")


def test_daily_digest_lists_items_with_tag_counts_and_a_volume_chart(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    at = (t0 + timedelta(hours=1)).strftime("%H:%M")
    config = make_watch(
        tmp_path,
        smtp_sink,
        f"""
        alerts:
          - name: Morning
            recipients: [pm@shop.test, ceo@shop.test]
            mode: daily at {at}
        """,
    )
    first = run_alerts(config, now=t0)
    assert first.rules[0].status == "not due"

    with Store(config.db_path) as store:
        add_item(store, "Core update lands", tags=["seo"], opportunity=0.4)
        add_item(store, "Search console report", tags=["seo", "platforms-tech"])
        add_item(store, "New <b>ad</b> format", tags=["advertising"], opportunity=0.9)
        add_item(store, "Old story", tags=["seo"], published=t0 - timedelta(days=20))
    assert run_alerts(config, now=t0 + timedelta(minutes=30)).rules[0].status == "not due"
    assert smtp_sink.messages == []

    due = run_alerts(config, now=t0 + timedelta(hours=1, minutes=1))

    assert due.rules[0].status == "sent"
    assert to(smtp_sink.messages) == ["ceo@shop.test", "pm@shop.test"]
    mail = smtp_sink.messages[0]
    assert mail.message["Subject"] == "[Veille] Morning (daily digest): 4 items"
    text, html = mail.part("plain"), mail.part("html")
    assert "seo" in text and "advertising" in text
    tags_block = text.split("Items per tag:")[1].split("Volume per day:")[0]
    assert [line.split() for line in tags_block.strip().splitlines()] == [
        ["seo", "3"],
        ["advertising", "1"],
        ["platforms-tech", "1"],
    ]
    assert "(+1 dated earlier)" in text
    assert "New ad format" in text and "<b>" not in html
    # The chart is an inline PNG referenced from the HTML part.
    images = [p for p in mail.message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    cid = images[0]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html

    again = run_alerts(config, now=t0 + timedelta(hours=2))
    assert again.rules[0].status == "not due" and len(smtp_sink.messages) == 2

    with Store(config.db_path) as store:
        add_item(store, "Tomorrow's news", tags=["seo"])
    run_alerts(config, now=t0 + timedelta(days=1, hours=1, minutes=1))
    assert len(smtp_sink.messages) == 4
    next_day = smtp_sink.messages[2]
    assert next_day.message["Subject"] == "[Veille] Morning (daily digest): 1 item"
    assert "Core update" not in next_day.part("plain")


def test_digests_and_instant_rules_keep_separate_cursors(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_watch(
        tmp_path,
        smtp_sink,
        """
        alerts:
          - {name: now, recipients: [a@x.test]}
          - {name: weekly, recipients: [b@x.test], mode: weekly on monday at 09:00}
        """,
    )
    with Store(config.db_path) as store:
        add_item(store, "Item one")
    run_alerts(config)
    assert to(smtp_sink.messages) == ["a@x.test"]
    forced = run_alerts(config, digests="all")
    assert [r.status for r in forced.rules] == ["nothing new", "sent"]
    assert to(smtp_sink.messages) == ["a@x.test", "b@x.test"]
    assert "Item one" in smtp_sink.messages[1].part("plain")
