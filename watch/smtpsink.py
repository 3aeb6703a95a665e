"""A local SMTP sink: a real aiosmtpd server on loopback that keeps what it receives.

The demo delivers its alert to one and prints it; the tests assert on the
messages it collects. It can be stopped and started again on the same port
to play an outage.
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One message as the sink received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]

    def part(self, subtype: str) -> str:
        """The text of the text/<subtype> part ('plain' or 'html')."""
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.sink.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self.sink.lock:
            self.sink.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(data))
            )
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        # handled=False: let aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False)


class _Controller(Controller):
    def factory(self) -> SMTP:
        # Plain-text AUTH on loopback is deliberate here (tests of login): skip the advice.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 collecting messages in `messages`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: Literal["starttls", "ssl"] | None = None,
        certfile: Path | None = None,
        keyfile: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.messages: list[Received] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()
        self.auth = (username, password) if username else None
        self.tls = tls
        self.certfile = certfile
        self.keyfile = keyfile
        self.controller: Controller | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.certfile), str(self.keyfile))
        return context

    def start(self) -> SmtpSink:
        """Start listening (again, on the same port)."""
        kwargs: dict[str, Any] = {}
        if self.auth:
            kwargs = {
                "authenticator": _Authenticator(*self.auth),
                "auth_require_tls": self.tls == "starttls",
                "auth_required": True,
            }
        if self.tls == "starttls":
            kwargs.update(tls_context=self._ssl_context(), require_starttls=True)
        elif self.tls == "ssl":
            kwargs.update(ssl_context=self._ssl_context())
        self.controller = _Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (messages already received are kept)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def running(self) -> bool:
        """Whether the server listens now."""
        return self.controller is not None

    def clear(self) -> None:
        """Forget received messages and refused addresses."""
        with self.lock:
            self.messages.clear()
            self.refuse.clear()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
