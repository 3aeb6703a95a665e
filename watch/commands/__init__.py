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
