"""The command modules, loaded lazily: a command's module is imported only when it runs.

Importing every module up front pulled scikit-learn, Scrapy and the
Elasticsearch client into every `veille` call; a lazy group keeps start-up
to what the command in hand needs.
"""

from __future__ import annotations

import importlib

import click

# Command name -> the module that defines it (in its COMMANDS list).
# One module per area, so each can grow without touching the others.
COMMAND_MODULES: dict[str, str] = {
    "init": "watch.commands.setup",
    "crawl": "watch.commands.collect",
    "search": "watch.commands.read",
    "show": "watch.commands.read",
    "sources": "watch.commands.read",
    "demo": "watch.commands.demo",
    "reindex": "watch.commands.elastic",
    "alerts": "watch.commands.alerts",
    "run": "watch.commands.run",
    "schedule": "watch.commands.run",
    "extract": "watch.commands.extract",
    "serve": "watch.commands.serve",
    "label": "watch.commands.tagging",
    "train": "watch.commands.tagging",
    "evaluate": "watch.commands.tagging",
    "classify": "watch.commands.tagging",
    "retag": "watch.commands.tagging",
}


# Command name -> the first line of its help, so that `veille --help` lists every
# command without importing every module (tests/watch/test_cli.py keeps them in step).
SUMMARIES: dict[str, str] = {
    "alerts": "Alert rules (alerts.yaml): list them, preview one, or run them now.",
    "classify": "Show the tags and opportunity score of TEXT or a stored item, with their reasons.",
    "crawl": (
        "Collect the sources: fetch, extract, tag and store what is new, then print a summary."
    ),
    "demo": (
        "Crawl a bundled web of fictional e-commerce sites on this machine, search it, "
        "mail an alert."
    ),
    "evaluate": (
        "Precision, recall and F1 per label: of a model (--model) or by K-fold CV (--cv K)."
    ),
    "extract": "Print what Veille extracts from each page, one JSON object per line.",
    "init": (
        "Write a commented starter configuration (veille.yaml, sources.yaml ...) into DIRECTORY."
    ),
    "label": (
        "Correct an item's tags or opportunity; kept across re-crawls and used by `veille train`."
    ),
    "reindex": "Rebuild the Elasticsearch index from the store, with no downtime.",
    "retag": "Re-tag every stored item with the current rules, model and corrections.",
    "run": "Run one full cycle and exit: crawl due sources, index, evaluate alerts, send mail.",
    "schedule": "Stay running: crawl each source on its schedule, send alerts and digests.",
    "search": (
        "Search the stored items; with no QUERY, list what matches the filters, newest first."
    ),
    "serve": "Serve the search page and the read-only JSON API until Ctrl-C.",
    "show": "Show one stored item: its fields, tags and full text.",
    "sources": "The sources' health: items stored, last success and error, failures, next run.",
    "train": "Train the topic classifier and opportunity score (default: seed set + corrections).",
}


def load_command(name: str) -> click.Command | None:
    """Import the module defining command `name` and return the command."""
    module_name = COMMAND_MODULES.get(name)
    if module_name is None:
        return None
    module = importlib.import_module(module_name)
    return next((c for c in module.COMMANDS if c.name == name), None)


class LazyGroup(click.Group):
    """A click group that imports a command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted."""
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command called `cmd_name`, importing its module if needed."""
        if cmd_name not in self.commands:
            command = load_command(cmd_name)
            if command is None:
                return None
            self.add_command(command)
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every command with its summary, importing only those that have none."""
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(name)
            if summary is None:
                command = self.get_command(ctx, name)
                summary = command.get_short_help_str() if command is not None else ""
            rows.append((name, summary))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
