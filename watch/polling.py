"""When to poll each source next: fixed, cron, adaptive, and backoff after failures.

Sources with an explicit `interval` or `cron` keep it. The others start at
`default_interval` and, once crawled successfully, poll adaptively, like
Miniflux's entry-frequency scheduler: the interval is a week divided by the
number of items the source published in the last week, clamped to
[min_interval, max_interval], so a feed that rarely changes is polled rarely
and a busy one often. A source that has failed `failure_threshold` times in a
row backs off exponentially, up to `max_backoff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from watch.config import Config, ConfigError, SchedulerSettings, Source, parse_duration
from watch.store import SourceState, Store, to_iso

WEEK = 7 * 86400.0


@dataclass
class PollPlan:
    """A source's next poll: when, the interval behind it, and why."""

    source: str
    next_due_at: datetime
    interval: float
    reason: str


def cron_trigger(source: Source, timezone: str) -> CronTrigger:
    """The APScheduler trigger for a source's cron expression (ConfigError if malformed)."""
    try:
        return CronTrigger.from_crontab(source.cron or "", timezone=timezone)
    except ValueError as exc:
        raise ConfigError(
            f"source {source.name!r}, field 'cron': {exc}; expected five fields "
            "'minute hour day month weekday', e.g. '0 */2 * * *'."
        ) from None


def _duration(text: str, where: str) -> float:
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{where}: expected a positive duration; got {text!r}.")
    return seconds


def check_schedules(config: Config) -> None:
    """Validate every schedule setting and source interval/cron up front (one ConfigError)."""
    problems = []
    sched = config.settings.scheduler
    for key in ("default_interval", "min_interval", "max_interval", "max_backoff"):
        try:
            _duration(getattr(sched, key), f"{config.path}: field 'scheduler.{key}'")
        except ConfigError as exc:
            problems.append(str(exc))
    for source in config.sources:
        try:
            if source.interval and source.cron:
                raise ConfigError(
                    f"source {source.name!r}: set either 'interval' or 'cron', not both."
                )
            if source.interval:
                _duration(source.interval, f"source {source.name!r}, field 'interval'")
            if source.cron:
                cron_trigger(source, sched.timezone)
        except ConfigError as exc:
            problems.append(f"{config.sources_path}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))


def weekly_item_count(store: Store, source: str, now: datetime) -> int:
    """Items from a source dated (published, else first seen) within the last week."""
    since = to_iso(now - timedelta(seconds=WEEK))
    row = store.conn.execute(
        "SELECT count(*) FROM items WHERE source = ? AND COALESCE(published, first_seen) >= ?",
        (source, since),
    ).fetchone()
    return int(row[0])


def adaptive_interval(weekly_count: int, settings: SchedulerSettings) -> float:
    """Seconds between polls for a source that published `weekly_count` items last week."""
    low = parse_duration(settings.min_interval)
    high = parse_duration(settings.max_interval)
    if weekly_count <= 0:
        return high
    return min(high, max(low, WEEK / weekly_count))


def backoff_interval(base: float, failures: int, settings: SchedulerSettings) -> float:
    """The interval for a source failing `failures` times in a row (base below the threshold)."""
    if failures < settings.failure_threshold:
        return base
    doublings = failures - settings.failure_threshold + 1
    cap = max(parse_duration(settings.max_backoff), base)
    # 2**doublings overflows nothing here: cap long before.
    return min(cap, base * (2 ** min(doublings, 30)))


def plan(
    config: Config, store: Store, source: Source, state: SourceState, now: datetime
) -> PollPlan:
    """The next poll of `source` after a run that ended at `now`."""
    sched = config.settings.scheduler
    if source.interval:
        base = parse_duration(source.interval)
        reason = f"fixed interval {source.interval}"
    elif source.cron:
        base = 0.0
        reason = f"cron '{source.cron}'"
    elif state.last_success_at is None:
        # Nothing to learn a rate from yet.
        base = parse_duration(sched.default_interval)
        reason = f"default interval {sched.default_interval} (no successful crawl yet)"
    else:
        count = weekly_item_count(store, source.name, now)
        base = adaptive_interval(count, sched)
        reason = f"adaptive: {count} item(s) in the last 7 days"
    failures = state.consecutive_failures
    if source.cron:
        next_fire = cron_trigger(source, sched.timezone).get_next_fire_time(None, now)
        due = next_fire if next_fire is not None else now + timedelta(days=365)
        if failures >= sched.failure_threshold:
            seed = max((due - now).total_seconds(), parse_duration(sched.min_interval))
            wait = backoff_interval(seed, failures, sched)
            due = max(due, now + timedelta(seconds=wait))
            reason += f"; backing off after {failures} failures in a row"
        return PollPlan(source.name, due, (due - now).total_seconds(), reason)
    interval = backoff_interval(base, failures, sched)
    if interval != base:
        reason += f"; backing off after {failures} failures in a row"
    return PollPlan(source.name, now + timedelta(seconds=interval), interval, reason)


def is_due(state: SourceState, now: datetime) -> bool:
    """Whether a source should be polled now (never polled, or its due time has passed)."""
    return state.next_due_at is None or state.next_due_at <= now


def due_sources(config: Config, store: Store, now: datetime) -> list[Source]:
    """Enabled sources whose next poll is due at `now`."""
    states = store.source_states()
    return [
        s
        for s in config.sources
        if s.enabled and is_due(states.get(s.name, SourceState(name=s.name)), now)
    ]
