"""Digests: when they are due, and the summary they carry (tags, volume per day, chart).

A daily rule is due once its time of day (in `scheduler.timezone`) has passed
since its last digest; a weekly one on its day at its time. A digest lists
the period's items like an instant alert, plus counts per tag and a small
chart of volume per day: an inline PNG drawn with matplotlib's Agg canvas
(no display, no global pyplot state) and text bars for the plain-text part.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from watch.alerts import AlertRule, Cursor, Evaluation

MAX_CHART_DAYS = 31


def _at(rule: AlertRule) -> tuple[int, int]:
    hour, minute = rule.at.split(":")
    return int(hour), int(minute)


def last_occurrence(rule: AlertRule, now: datetime, timezone: str) -> datetime:
    """The latest scheduled digest time at or before `now`."""
    from watch.alerts import WEEKDAYS

    local = now.astimezone(ZoneInfo(timezone))
    hour, minute = _at(rule)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if rule.mode == "weekly":
        candidate -= timedelta(days=(candidate.weekday() - WEEKDAYS.index(rule.day)) % 7)
        if candidate > local:
            candidate -= timedelta(days=7)
    elif candidate > local:
        candidate -= timedelta(days=1)
    # Rebuild from wall-clock fields so a DST change between the dates is honoured.
    naive = candidate.replace(tzinfo=None)
    return naive.replace(tzinfo=ZoneInfo(timezone))


def next_occurrence(rule: AlertRule, now: datetime, timezone: str) -> datetime:
    """The first scheduled digest time after `now`."""
    step = timedelta(days=7 if rule.mode == "weekly" else 1)
    last = last_occurrence(rule, now, timezone).replace(tzinfo=None) + step
    return last.replace(tzinfo=ZoneInfo(timezone))


def digest_due(rule: AlertRule, cursor: Cursor | None, now: datetime, timezone: str) -> bool:
    """Whether a digest rule's time has come since its last digest (or since it was added)."""
    if not rule.is_digest or cursor is None:
        return False
    since = cursor.last_digest_at or cursor.created_at
    if since is None:
        return False
    return last_occurrence(rule, now, timezone) > since


def cron_fields(rule: AlertRule) -> dict[str, str | int]:
    """APScheduler CronTrigger fields for a digest rule's schedule."""
    hour, minute = _at(rule)
    fields: dict[str, str | int] = {"hour": hour, "minute": minute}
    if rule.mode == "weekly":
        fields["day_of_week"] = rule.day[:3]
    return fields


@dataclass
class DayBar:
    """One day of the volume chart."""

    day: date
    count: int
    percent: int

    @property
    def label(self) -> str:
        """A short label such as 'Mon 03'."""
        return self.day.strftime("%a %d")

    @property
    def text_bar(self) -> str:
        """The bar drawn in characters for the plain-text part."""
        return "#" * max(1 if self.count else 0, round(self.percent / 5))


@dataclass
class DigestSummary:
    """The extra figures of a digest."""

    tag_counts: list[tuple[str, int]]
    days: list[DayBar]
    earlier: int = 0
    chart_png: bytes | None = None
    chart_cid: str | None = None
    total_items: int = field(default=0)


def summarize(evaluation: Evaluation, *, chart: bool = True) -> DigestSummary:
    """Counts per tag and volume per day over the digest period (dates as the backend facets)."""
    start = evaluation.period_start.date()
    end = evaluation.period_end.date()
    if (end - start).days >= MAX_CHART_DAYS:
        start = end - timedelta(days=MAX_CHART_DAYS - 1)
    counts: dict[date, int] = {}
    earlier = 0
    for text, count in evaluation.day_counts:
        try:
            day = date.fromisoformat(text[:10])
        except ValueError:
            continue
        if day < start:
            earlier += count
        else:
            # A date in the future (a feed's clock or time zone) counts on the last day.
            day = min(day, end)
            counts[day] = counts.get(day, 0) + count
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    top = max([counts.get(d, 0) for d in days] + [1])
    bars = [DayBar(d, counts.get(d, 0), round(100 * counts.get(d, 0) / top)) for d in days]
    summary = DigestSummary(
        tag_counts=list(evaluation.tag_counts),
        days=bars,
        earlier=earlier,
        total_items=sum(counts.values()) + earlier,
    )
    if chart and bars:
        summary.chart_png = volume_chart(bars)
    return summary


def volume_chart(bars: list[DayBar]) -> bytes:
    """A small PNG bar chart of items per day."""
    # The Agg canvas directly: no GUI backend, no pyplot global state in a long-lived process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(3.0, 0.35 * len(bars) + 1.2), 1.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(bars)))
    ax.bar(xs, [b.count for b in bars], color="#2f6fb0", width=0.7)
    step = max(1, len(bars) // 8)
    ax.set_xticks(xs[::step], [b.day.strftime("%d %b") for b in bars][::step], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("items", fontsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout(pad=0.4)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
