"""Test helpers for mail: a real aiosmtpd server on loopback, and a watch configured to use it.

The `smtp_sink` fixture (tests/conftest.py) starts a `watch.smtpsink.SmtpSink`
per test; `make_watch` writes veille.yaml, sources.yaml and alerts.yaml into a
temporary directory with the SMTP settings pointing at that sink; `add_item`
stores an article the way the crawl pipeline would.
"""

from __future__ import annotations

import hashlib
import itertools
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from crawler.items import Article
from watch.config import Config, load_config
from watch.smtpsink import Received, SmtpSink
from watch.store import Store, UpsertResult

_counter = itertools.count(1)


def make_watch(
    root: Path,
    sink: SmtpSink | None,
    alerts: str,
    *,
    sources: str = "sources: []\n",
    settings: str = "",
) -> Config:
    """Write a watch into `root` whose mail goes to `sink`; return its loaded config."""
    smtp = ""
    if sink is not None:
        smtp = f"smtp:\n  host: 127.0.0.1\n  port: {sink.port}\n  from_addr: veille@test.local\n"
    (root / "veille.yaml").write_text(
        "data_dir: data\n" + smtp + textwrap.dedent(settings), encoding="utf-8"
    )
    (root / "sources.yaml").write_text(textwrap.dedent(sources), encoding="utf-8")
    (root / "alerts.yaml").write_text(textwrap.dedent(alerts), encoding="utf-8")
    return load_config(root / "veille.yaml")


def add_item(
    store: Store,
    title: str,
    text: str = "",
    *,
    source: str = "news",
    category: str = "market",
    tags: list[str] | None = None,
    opportunity: float | None = None,
    language: str | None = "en",
    url: str | None = None,
    published: datetime | None = None,
    summary: str = "",
) -> UpsertResult:
    """Store one article as the crawl pipeline would (unique URL unless given)."""
    n = next(_counter)
    body = text or f"{title}. Story number {n} with its own distinct words: " + " ".join(
        hashlib.sha1(f"{n}-{i}".encode()).hexdigest()[:8] for i in range(40)
    )
    article = Article(
        url=url or f"https://{source}.example/articles/{n}",
        source=source,
        category=category,
        title=title,
        text=body,
        summary=summary or body[:200],
        published=published or datetime.now(UTC),
        language=language,
        tags=list(tags or []),
        opportunity=opportunity,
        content_hash=hashlib.sha1(f"{title}\n{body}".encode()).hexdigest(),
    )
    return store.upsert(article)


def to(messages: list[Received]) -> list[str]:
    """Every envelope recipient of these messages, sorted."""
    return sorted(r for m in messages for r in m.rcpt_tos)


def subjects(messages: list[Received]) -> list[str]:
    """The subjects of these messages, in order."""
    return [str(m.message["Subject"]) for m in messages]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key (cert, key), for TLS tests."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
