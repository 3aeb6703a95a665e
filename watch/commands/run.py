"""`veille run` (one cycle, for cron) and `veille schedule` (stay running)."""

from __future__ import annotations

import logging

import click
from rich.markup import escape
from rich.table import Table

from watch.commands.alerts import print_alert_report
from watch.commands.options import config_option, console, json_option, load, print_json
from watch.scheduler import CycleReport, Service, run_cycle


@click.command("run")
@config_option
@json_option
@click.option("--source", "sources", multiple=True, help="Crawl this source now (repeatable).")
@click.option("--all", "force", is_flag=True, help="Crawl every enabled source, due or not.")
@click.option("--no-crawl", is_flag=True, help="Skip crawling: index, alerts and mail only.")
@click.option("--no-alerts", is_flag=True, help="Skip alert evaluation and mail.")
@click.option("--quiet", is_flag=True, help="Print only problems (for cron, which mails output).")
def run(
    config_path: str | None,
    as_json: bool,
    sources: tuple[str, ...],
    force: bool,
    no_crawl: bool,
    no_alerts: bool,
    quiet: bool,
) -> None:
    """Run one full cycle and exit: crawl due sources, index, evaluate alerts, send mail.

    Meant for cron: each source is crawled only when its schedule says it is due,
    and a source already being crawled by another process is skipped.
    """
    config = load(config_path)
    report = run_cycle(
        config,
        sources=list(sources) or None,
        force=force,
        crawl_enabled=not no_crawl,
        alerts=not no_alerts,
        progress=not (as_json or quiet),
    )
    if as_json:
        print_json(report.to_dict())
        return
    if quiet:
        _print_problems(report)
        return
    _print_cycle(report)


def _print_cycle(report: CycleReport) -> None:
    if report.sources:
        table = Table(title="Sources")
        for column in ("Source", "Status", "Next poll", "Why"):
            table.add_column(column)
        for s in report.sources:
            status = s.status if not s.error else f"{s.status}: {escape(s.error)}"
            color = {"failed": "red", "skipped": "yellow"}.get(s.status)
            table.add_row(
                escape(s.source),
                f"[{color}]{status}[/]" if color else status,
                s.plan.next_due_at.strftime("%Y-%m-%d %H:%M UTC") if s.plan else "",
                escape(s.plan.reason) if s.plan else "",
            )
        console.print(table)
    else:
        console.print("No source was due.")
    if report.index_error:
        console.print(f"[yellow]Index: {escape(report.index_error)} (items stay queued)[/]")
    elif report.indexed:
        console.print(f"Indexed {report.indexed} item(s).")
    if report.alerts is not None:
        print_alert_report(report.alerts)


def _print_problems(report: CycleReport) -> None:
    for s in report.sources:
        if s.status == "failed":
            console.print(f"source {escape(s.source)} failed: {escape(s.error or '')}")
    if report.index_error:
        console.print(f"index: {escape(report.index_error)}")
    alerts = report.alerts
    if alerts is None:
        return
    for r in alerts.rules:
        if r.error:
            console.print(f"alert {escape(r.rule)}: {escape(r.error)}")
    if alerts.delivery is not None:
        for error in alerts.delivery.errors:
            console.print(f"mail: {escape(error)}")


@click.command("schedule")
@config_option
@click.option("--verbose", "-v", is_flag=True, help="Log every job, not only what changes.")
def schedule(config_path: str | None, verbose: bool) -> None:
    """Stay running: crawl each source on its schedule, send alerts and digests.

    Sources with `interval` or `cron` keep them; the others adapt to how often
    they publish. Overdue sources and missed digests run once at start.
    SIGTERM (or Ctrl-C) stops after the current work.
    """
    config = load(config_path)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    service = Service(config)
    console.print(
        f"Scheduling {sum(s.enabled for s in config.sources)} source(s) and "
        f"{sum(r.enabled for r in service.rules.rules)} alert rule(s); SIGTERM or Ctrl-C stops."
    )
    service.run_forever()


COMMANDS = [run, schedule]
