"""`veille alerts list|test|run`: see, try and run the alert rules."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from watch.alerts import AlertRunReport, Evaluation, get_cursor, load_rules, preview, run_alerts
from watch.commands.options import config_option, console, json_option, load, print_json
from watch.emails import Composer, plain_text
from watch.mailer import outbox_counts
from watch.store import Store, to_iso


@click.group()
def alerts() -> None:
    """Alert rules (alerts.yaml): list them, preview one, or run them now."""


@alerts.command("list")
@config_option
@json_option
def list_rules(config_path: str | None, as_json: bool) -> None:
    """List the rules with their schedule, last evaluation and mail counts."""
    config = load(config_path)
    rules = load_rules(config)
    with Store(config.db_path) as store:
        counts = outbox_counts(store)
        rows = []
        for rule in rules.rules:
            cursor = get_cursor(store, rule.name)
            mail = counts.get(rule.name, {"pending": 0, "sent": 0, "failed": 0})
            rows.append(
                {
                    "name": rule.name,
                    "mode": rule.schedule_text,
                    "enabled": rule.enabled,
                    "query": rule.query,
                    "filters": _filters(rule),
                    "recipients": list(rule.recipients),
                    "max_items": rule.max_items,
                    "last_evaluated": to_iso(cursor.evaluated_at) if cursor else None,
                    "last_digest": to_iso(cursor.last_digest_at) if cursor else None,
                    "cursor": cursor.last_item_id if cursor and cursor.evaluated_at else None,
                    "mail": mail,
                }
            )
        notices = counts.get("", {"pending": 0, "sent": 0, "failed": 0})
    if as_json:
        print_json({"file": str(rules.path), "rules": rows, "notices": notices})
        return
    if not rules.exists:
        console.print(
            f"No alert rules: {rules.path} does not exist. `veille init` writes a commented one."
        )
        return
    table = Table(title=f"Alert rules ({rules.path})")
    for column in ("Name", "Mode", "Query / filters", "Recipients", "Last evaluated", "Mail"):
        table.add_column(column)
    for row in rows:
        mail = row["mail"]
        mail_text = f"{mail['sent']} sent"
        if mail["pending"]:
            mail_text += f", [yellow]{mail['pending']} pending[/]"
        if mail["failed"]:
            mail_text += f", [red]{mail['failed']} failed[/]"
        query = row["query"] or "(any)"
        if row["filters"]:
            query += "\n" + row["filters"]
        table.add_row(
            row["name"] + ("" if row["enabled"] else " [dim](disabled)[/]"),
            row["mode"],
            query,
            "\n".join(row["recipients"]),
            row["last_evaluated"] or "never",
            mail_text,
            style=None if row["enabled"] else "dim",
        )
    console.print(table)
    if notices["pending"] or notices["failed"]:
        console.print(f"Admin notices: {notices['pending']} pending, {notices['failed']} failed.")


def _filters(rule) -> str:
    parts = []
    for label, values in (
        ("tags", rule.tags),
        ("categories", rule.categories),
        ("sources", rule.sources),
        ("language", rule.language),
    ):
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    if rule.min_opportunity is not None:
        parts.append(f"opportunity >= {rule.min_opportunity:g}")
    return "; ".join(parts)


@alerts.command("test")
@click.argument("name")
@config_option
@json_option
@click.option("--text", "show_text", is_flag=True, help="Also print the email's plain-text part.")
def test_rule(name: str, config_path: str | None, as_json: bool, show_text: bool) -> None:
    """Show what rule NAME would send now. Sends nothing and changes nothing."""
    config = load(config_path)
    evaluation = preview(config, name)
    rules = load_rules(config)
    mail = Composer(config, rules.templates_dir).alert(evaluation, chart=False)
    if as_json:
        print_json({**evaluation.to_dict(), "subject": mail.subject, "text": mail.text})
        return
    _print_evaluation(evaluation, mail.subject)
    if show_text:
        console.rule("plain-text part")
        console.print(mail.text, markup=False, highlight=False)


def _print_evaluation(evaluation: Evaluation, subject: str) -> None:
    rule = evaluation.rule
    since = (
        f"since item #{evaluation.cursor_from}"
        if evaluation.cursor_from is not None
        else f"first seen since {to_iso(evaluation.period_start)} (first evaluation)"
    )
    console.print(f"[bold]{rule.name}[/] ({rule.schedule_text}), items {since}")
    if not evaluation.items:
        console.print("Nothing new would be sent now.")
        return
    console.print(f"Would send to {escape(', '.join(rule.recipients))}: [bold]{escape(subject)}[/]")
    table = Table()
    for column in ("ID", "Title", "Source", "Date", "Tags", "Opp."):
        table.add_column(column)
    for m in evaluation.items:
        when = m.published or m.first_seen
        table.add_row(
            str(m.id),
            escape(plain_text(m.title)),
            escape(m.source),
            when.date().isoformat() if when else "",
            escape(", ".join(m.tags)),
            f"{m.opportunity:.2f}" if m.opportunity is not None else "",
        )
    console.print(table)
    if evaluation.more:
        console.print(f"... and {evaluation.more} more (max_items is {rule.max_items}).")


@alerts.command("run")
@config_option
@json_option
@click.option("--dry-run", is_flag=True, help="Evaluate and report; queue and send nothing.")
@click.option("--rule", "only", multiple=True, help="Only this rule (repeatable).")
@click.option(
    "--digests",
    type=click.Choice(["due", "all", "none"]),
    default="due",
    show_default=True,
    help="Digest rules: only those due now, all of them now, or none.",
)
def run_rules(
    config_path: str | None, as_json: bool, dry_run: bool, only: tuple[str, ...], digests: str
) -> None:
    """Evaluate the rules against new items, queue the emails and send the outbox."""
    config = load(config_path)
    rules = load_rules(config)
    for name in only:
        rules.rule(name)
    report = run_alerts(
        config,
        dry_run=dry_run,
        digests=digests,  # type: ignore[arg-type]
        only=list(only) or None,
    )
    if as_json:
        print_json(report.to_dict())
        return
    print_alert_report(report)


def print_alert_report(report: AlertRunReport) -> None:
    """The per-rule table and the delivery summary of an alert run."""
    if report.skipped_reason:
        console.print(f"[yellow]Alerts skipped: {report.skipped_reason}.[/]")
        return
    if report.rules:
        table = Table(title="Alerts")
        for column in ("Rule", "Mode", "Status", "New items", "Listed", "Messages"):
            table.add_column(column)
        for r in report.rules:
            status = r.status if not r.error else f"[red]{r.status}: {escape(r.error)}[/]"
            table.add_row(r.rule, r.mode, status, str(r.total), str(r.items), str(r.messages or ""))
        console.print(table)
    else:
        console.print("No alert rules to evaluate.")
    if report.notices:
        console.print(f"Queued {report.notices} 'source failing' notice(s) for the admin.")
    d = report.delivery
    if d is not None:
        line = f"Mail: {d.sent} sent, {d.pending} pending"
        if d.failed:
            line += f", [red]{d.failed} refused[/]"
        console.print(line)
        for error in d.errors[:5]:
            console.print(f"  [yellow]{escape(error)}[/]", highlight=False)


COMMANDS = [alerts]
