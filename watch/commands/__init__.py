"""The command modules; each adds its commands to the root group."""

from __future__ import annotations

import importlib

import click

# One module per area, so each can grow without touching the others.
COMMAND_MODULES = (
    "watch.commands.setup",
    "watch.commands.collect",
    "watch.commands.read",
    "watch.commands.demo",
    "watch.commands.elastic",
    "watch.commands.alerts",
    "watch.commands.run",
    "watch.commands.extract",
    "watch.commands.serve",
    "watch.commands.tagging",
)


def register(group: click.Group) -> None:
    """Add every command module's commands to `group`."""
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            group.add_command(command)
