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
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
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
    """A backend snippet (escaped HTML with <mark>) as (plain text, highlighted) segments."""
    segments: list[tuple[str, bool]] = []
    marked = False
    for part in _MARK.split(snippet or ""):
        if part == "<mark>":
            marked = True
        elif part == "</mark>":
            marked = False
        else:
            text = plain_text(part)
            if text:
                # Keep a space between segments that plain_text trimmed.
                lead = " " if part[:1].isspace() and segments else ""
                trail = " " if part[-1:].isspace() else ""
                segments.append((lead + text + trail, marked))
    return segments


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

    def message(self, mail: RenderedMail, recipient: str, now: datetime) -> Message:
        """A complete MIME message for one recipient: text, then HTML (with inline images)."""
        # The compat32 MIME classes: several times faster to build than EmailMessage,
        # which counts when a cycle queues a thousand alerts.
        html_part: Message = _text_part(mail.html, "html")
        if mail.images:
            related = MIMEMultipart("related")
            related.attach(html_part)
            for cid, data in mail.images.items():
                image = MIMEImage(data, "png")
                image["Content-ID"] = f"<{cid}>"
                image.add_header("Content-Disposition", "inline", filename="chart.png")
                related.attach(image)
            html_part = related
        msg = MIMEMultipart("alternative")
        msg["From"] = _address(self.smtp.from_addr)
        msg["To"] = _address(recipient)
        msg["Subject"] = _header(mail.subject)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = make_msgid("veille", domain=self._domain())
        # RFC 3834: tells auto-responders not to answer.
        msg["Auto-Submitted"] = "auto-generated"
        if mail.rule:
            msg["X-Veille-Rule"] = _header(mail.rule)
        msg.attach(_text_part(mail.text, "plain"))
        msg.attach(html_part)
        return msg

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
            "message": msg.as_bytes(policy=SMTP_COMPAT),
            "item_count": mail.item_count,
        }

    def _domain(self) -> str:
        address = parseaddr(self.smtp.from_addr)[1]
        return address.rpartition("@")[2] or "localhost"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# CRLF line ends, as SMTP wants them on the wire.
SMTP_COMPAT = compat32.clone(linesep="\r\n")


def _text_part(text: str, subtype: str) -> Message:
    """A text/<subtype> UTF-8 part, base64-encoded in C (email's own encoder loops in Python)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(text.encode("utf-8")).decode("ascii"))
    return part


def _header(text: str) -> str:
    """A header value, RFC 2047-encoded when it is not plain ASCII."""
    text = _one_line(text)
    return text if text.isascii() else Header(text, "utf-8").encode()


def _address(entry: str) -> str:
    """An address header value with its display name encoded when needed."""
    name, address = parseaddr(entry)
    return formataddr((_one_line(name), address), charset="utf-8") if address else entry
