"""Commands: placeholder until its module lands."""

COMMANDS: list = []
