"""Alert, digest and notice emails, rendered from Jinja2 templates.

Messages are multipart: plain text and HTML (with the digest chart as an
inline image). Templates come from `watch/templates/`; a `templates_dir` in
alerts.yaml overrides any of them by file name. HTML templates autoescape.
Text that came from the web (titles, snippets) is first reduced to plain text
(entities decoded, tags dropped), so no markup or script from a feed reaches
the email in either part; links are kept only when they are http(s).
"""

from __future__ import annotations

import base64
import html
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)

from watch.errors import UserError

if TYPE_CHECKING:
    from watch.alerts import Evaluation, Match
    from watch.config import Config
    from watch.store import SourceState

BUNDLED_TEMPLATES = Path(__file__).parent / "templates"
_TAG = re.compile(r"<[^>]*>")
_MARK = re.compile(r"(</?mark>)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(value: str | None) -> str:
    """Web text reduced to plain text: entities decoded, tags and control characters dropped."""
    if not value:
        return ""
    if "<" not in value and "&" not in value and value.isprintable():
        return " ".join(value.split())
    text = html.unescape(value)
    text = _TAG.sub(" ", text)
    text = _CONTROL.sub("", text)
    return " ".join(text.split())


def snippet_segments(snippet: str) -> list[tuple[str, bool]]:
    """A backend snippet (escaped HTML with <mark>) as (plain text, highlighted) segments.

    Whitespace between segments is kept as one space, also when it stands alone
    between two marks ("<mark>third-party</mark> <mark>sellers</mark>"), and it
    stays outside the marks.
    """
    segments: list[tuple[str, bool]] = []
    marked = False
    space = False  # whitespace since the last segment's text
    for part in _MARK.split(snippet or ""):
        if part == "<mark>":
            marked = True
            continue
        if part == "</mark>":
            marked = False
            continue
        decoded = _decoded(part)
        words = decoded.split()
        if not words:
            space = space or bool(decoded)
            continue
        text = " ".join(words)
        if segments and (space or decoded[0].isspace()):
            last, last_marked = segments[-1]
            if not last_marked:
                segments[-1] = (last + " ", False)
            elif not marked:
                text = " " + text
            else:
                segments.append((" ", False))
        segments.append((text, marked))
        space = decoded[-1].isspace()
    return segments


def _decoded(part: str) -> str:
    """Snippet text with entities decoded, tags as spaces and control characters dropped."""
    if "<" not in part and "&" not in part:
        return _CONTROL.sub("", part)
    return _CONTROL.sub("", _TAG.sub(" ", html.unescape(part)))


def safe_link(url: str | None) -> str | None:
    """The URL if it is http(s), else None (no javascript: or data: links in mail)."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None


@dataclass
class MailItem:
    """One item as the templates see it (all text already plain)."""

    id: int
    title: str
    url: str | None
    source: str
    category: str
    date: str
    tags: list[str]
    opportunity: str | None
    snippet: list[tuple[str, bool]]

    @property
    def snippet_text(self) -> str:
        """The snippet without highlighting."""
        return "".join(text for text, _ in self.snippet).strip()


@dataclass
class RenderedMail:
    """A rendered message, not yet addressed."""

    subject: str
    text: str
    html: str
    kind: str
    rule: str | None = None
    item_count: int = 0
    images: dict[str, bytes] = field(default_factory=dict)


class Composer:
    """Renders alert, digest and notice emails for one configuration."""

    def __init__(self, config: Config, templates_dir: Path | None = None) -> None:
        self.smtp = config.settings.smtp
        self.tz = ZoneInfo(config.settings.scheduler.timezone)
        loaders = []
        if templates_dir is not None:
            loaders.append(FileSystemLoader(str(templates_dir)))
        loaders.append(FileSystemLoader(str(BUNDLED_TEMPLATES)))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(
                enabled_extensions=("html", "html.j2"), default_for_string=False, default=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates do not change during a run: skip the stat() per render.
            auto_reload=False,
        )
        self.env.filters["when"] = self.format_when

    def format_when(self, value: datetime | None) -> str:
        """A datetime in the configured time zone, as 'YYYY-MM-DD HH:MM'."""
        if value is None:
            return ""
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def render(self, name: str, **context: Any) -> str:
        """Render one template; template mistakes become a UserError naming the file and line."""
        try:
            return self.env.get_template(name).render(**context)
        except TemplateSyntaxError as exc:
            where = exc.filename or name
            raise UserError(f"Email template {where}, line {exc.lineno}: {exc.message}") from None
        except TemplateError as exc:
            raise UserError(f"Email template {name}: {exc}") from None

    def _item(self, match: Match) -> MailItem:
        when = match.published or match.first_seen
        return MailItem(
            id=match.id,
            title=plain_text(match.title) or "(untitled)",
            url=safe_link(match.url),
            source=plain_text(match.source),
            category=plain_text(match.category),
            date=when.astimezone(self.tz).strftime("%Y-%m-%d") if when else "",
            tags=[plain_text(t) for t in match.tags],
            opportunity=f"{match.opportunity:.2f}" if match.opportunity is not None else None,
            snippet=snippet_segments(match.snippet),
        )

    def alert(self, evaluation: Evaluation, *, chart: bool = True) -> RenderedMail:
        """The message for one rule's evaluation: an instant alert or a digest."""
        from watch.digest import summarize

        rule = evaluation.rule
        context: dict[str, Any] = {
            "rule": rule,
            "items": [self._item(m) for m in evaluation.items],
            "total": evaluation.total,
            "more": evaluation.more,
            "period_start": evaluation.period_start,
            "period_end": evaluation.period_end,
            "digest": None,
            "chart_cid": None,
        }
        images: dict[str, bytes] = {}
        kind = "instant"
        if rule.is_digest:
            kind = "digest"
            summary = summarize(evaluation, chart=chart)
            context["digest"] = summary
            if summary.chart_png:
                cid = make_msgid("chart", domain=self._domain())[1:-1]
                context["chart_cid"] = cid
                images[cid] = summary.chart_png
        prefix = "digest" if rule.is_digest else "alert"
        return RenderedMail(
            subject=_one_line(self.render(f"{prefix}_subject.txt.j2", **context)),
            text=self.render(f"{prefix}.txt.j2", **context),
            html=self.render(f"{prefix}.html.j2", **context),
            kind=kind,
            rule=rule.name,
            item_count=len(evaluation.items),
            images=images,
        )

    def source_failing(self, states: list[SourceState], now: datetime) -> RenderedMail:
        """The admin notice listing sources that keep failing."""
        context = {"sources": states, "now": now}
        return RenderedMail(
            subject=_one_line(self.render("source_failing_subject.txt.j2", **context)),
            text=self.render("source_failing.txt.j2", **context),
            html=self.render("source_failing.html.j2", **context),
            kind="notice",
        )

    def message(self, mail: RenderedMail, recipient: str, now: datetime) -> bytes:
        """A complete MIME message for one recipient, as the bytes SMTP sends.

        multipart/alternative: text/plain, then text/html (in multipart/related
        with its inline images). Written directly rather than through the email
        package's generator, which costs more than rendering the templates when a
        cycle queues a thousand alerts; the tests parse every message back.
        """
        headers = [
            ("From", _address(self.smtp.from_addr)),
            ("To", _address(recipient)),
            ("Subject", _header(mail.subject)),
            ("Date", format_datetime(now)),
            ("Message-ID", make_msgid("veille", domain=self._domain())),
            # RFC 3834: tells auto-responders not to answer.
            ("Auto-Submitted", "auto-generated"),
        ]
        if mail.rule:
            headers.append(("X-Veille-Rule", _header(mail.rule)))
        headers.append(("MIME-Version", "1.0"))
        html_part = _leaf('text/html; charset="utf-8"', mail.html.encode("utf-8"))
        if mail.images:
            images = [
                _leaf(
                    "image/png",
                    data,
                    [
                        ("Content-ID", f"<{cid}>"),
                        ("Content-Disposition", 'inline; filename="chart.png"'),
                    ],
                )
                for cid, data in mail.images.items()
            ]
            html_part = _multipart("related", [html_part, *images])
        text_part = _leaf('text/plain; charset="utf-8"', mail.text.encode("utf-8"))
        head = "".join(f"{name}: {value}{CRLF}" for name, value in headers)
        return (head + _multipart("alternative", [text_part, html_part])).encode("ascii")

    def outbox_rows(self, evaluation: Evaluation, now: datetime | None = None) -> list[dict]:
        """One outbox row per recipient for an evaluation (see watch.mailer.enqueue)."""
        mail = self.alert(evaluation)
        when = now or evaluation.period_end
        return [self._row(mail, r, when) for r in evaluation.rule.recipients]

    def source_failing_row(self, states: list[SourceState], admin: str, now: datetime) -> dict:
        """The outbox row of a "source failing" notice to the admin."""
        return self._row(self.source_failing(states, now), admin, now)

    def _row(self, mail: RenderedMail, recipient: str, now: datetime) -> dict:
        msg = self.message(mail, recipient, now)
        return {
            "rule": mail.rule,
            "kind": mail.kind,
            "recipient": parseaddr(recipient)[1],
            "subject": mail.subject,
            "message": msg,
            "item_count": mail.item_count,
        }

    def _domain(self) -> str:
        address = parseaddr(self.smtp.from_addr)[1]
        return address.rpartition("@")[2] or "localhost"


def _one_line(text: str) -> str:
    return " ".join(text.split())


CRLF = "\r\n"


def _leaf(content_type: str, data: bytes, extra: list[tuple[str, str]] | None = None) -> str:
    """One base64-encoded MIME part: its headers, a blank line, the body."""
    head = f"Content-Type: {content_type}{CRLF}Content-Transfer-Encoding: base64{CRLF}"
    head += "".join(f"{name}: {value}{CRLF}" for name, value in extra or [])
    body = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    return head + CRLF + body


def _multipart(subtype: str, parts: list[str]) -> str:
    """A multipart/<subtype> part around `parts`."""
    # "_" is not in the base64 alphabet, so the boundary can never occur in a body;
    # the random part only tells nested parts apart (no system call needed).
    boundary = f"=_veille_{random.getrandbits(64):016x}"
    out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{CRLF}{CRLF}'
    for part in parts:
        out += f"--{boundary}{CRLF}{part}{CRLF}"
    return out + f"--{boundary}--{CRLF}"


def _header(text: str) -> str:
    """A header value, RFC 2047-encoded when it is not plain ASCII."""
    text = _one_line(text)
    if text.isascii() and len(text) <= 76:
        return text
    return Header(text, "utf-8" if not text.isascii() else "us-ascii").encode(linesep=CRLF)


def _address(entry: str) -> str:
    """An address header value with its display name encoded when needed."""
    name, address = parseaddr(entry)
    return formataddr((_one_line(name), address), charset="utf-8") if address else entry
