"""SMTP delivery against real aiosmtpd servers: login, STARTTLS, SSL; secrets stay out of logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.smtp import add_item, make_watch, self_signed_cert, to
from watch.alerts import run_alerts
from watch.mailer import entries
from watch.smtpsink import SmtpSink
from watch.store import Store

RULE = "alerts:\n  - {name: r, recipients: [a@x.test]}\n"
PASSWORD = "pw-Zq81-never-log-me"


def _watch_with_item(tmp_path: Path, sink: SmtpSink, smtp_extra: str):
    config = make_watch(tmp_path, None, RULE, settings=smtp_extra.format(port=sink.port))
    with Store(config.db_path) as store:
        add_item(store, "Checkout conversion study")
    return config


def test_login_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_VEILLE_SMTP_PW", PASSWORD)
    with SmtpSink(username="veille", password=PASSWORD) as sink:
        config = _watch_with_item(
            tmp_path,
            sink,
            "smtp:\n  port: {port}\n  username: veille\n  password_env: TEST_VEILLE_SMTP_PW\n",
        )
        report = run_alerts(config)
        assert report.delivery.sent == 1 and to(sink.messages) == ["a@x.test"]


def test_a_refused_login_never_shows_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEST_VEILLE_SMTP_PW", PASSWORD)
    caplog.set_level(logging.DEBUG)
    with SmtpSink(username="veille", password="the-right-one") as sink:
        config = _watch_with_item(
            tmp_path,
            sink,
            "smtp:\n  port: {port}\n  username: veille\n  password_env: TEST_VEILLE_SMTP_PW\n",
        )
        report = run_alerts(config)
        assert sink.messages == []
    assert report.delivery.sent == 0 and report.delivery.pending == 1
    assert "login as 'veille' refused (535)" in report.delivery.errors[0]
    with Store(config.db_path) as store:
        stored = [e.last_error or "" for e in entries(store)]
        raw = b"".join(bytes(r[0]) for r in store.conn.execute("SELECT message FROM mail_outbox"))
    everything = " ".join([str(report.to_dict()), caplog.text, *stored]) + raw.decode()
    assert PASSWORD not in everything
    assert PASSWORD not in config.path.read_text()


def test_a_missing_password_variable_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TEST_VEILLE_SMTP_PW", raising=False)
    with SmtpSink(username="veille", password=PASSWORD) as sink:
        config = _watch_with_item(
            tmp_path,
            sink,
            "smtp:\n  port: {port}\n  username: veille\n  password_env: TEST_VEILLE_SMTP_PW\n",
        )
        report = run_alerts(config)
    assert "TEST_VEILLE_SMTP_PW" in report.delivery.errors[0]
    assert report.delivery.pending == 1


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_delivery_verifies_the_server_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("TEST_VEILLE_SMTP_PW", PASSWORD)
    with SmtpSink(
        username="veille", password=PASSWORD, tls=security, certfile=cert, keyfile=key
    ) as sink:
        settings = (
            "smtp:\n  port: {port}\n  security: " + security + "\n  username: veille\n"
            "  password_env: TEST_VEILLE_SMTP_PW\n  ca_certs: " + str(cert) + "\n"
        )
        config = _watch_with_item(tmp_path, sink, settings)
        report = run_alerts(config)
        assert report.delivery.sent == 1, report.delivery.errors
        assert to(sink.messages) == ["a@x.test"]


def test_tls_with_an_untrusted_certificate_keeps_the_mail_pending(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    with SmtpSink(tls="starttls", certfile=cert, keyfile=key) as sink:
        config = _watch_with_item(tmp_path, sink, "smtp:\n  port: {port}\n  security: starttls\n")
        report = run_alerts(config)
        assert sink.messages == []
    assert report.delivery.pending == 1
    assert "certificate" in report.delivery.errors[0].lower()


def test_sent_mail_is_pruned_after_a_month_but_never_resent(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    from datetime import UTC, datetime, timedelta

    config = make_watch(tmp_path, smtp_sink, RULE)
    with Store(config.db_path) as store:
        add_item(store, "Checkout conversion study")
    now = datetime.now(UTC)
    run_alerts(config, now=now)
    run_alerts(config, now=now + timedelta(days=29))
    with Store(config.db_path) as store:
        assert [e.status for e in entries(store)] == ["sent"]
    run_alerts(config, now=now + timedelta(days=31))
    with Store(config.db_path) as store:
        assert entries(store) == []
    assert len(smtp_sink.messages) == 1
