import importlib
import subprocess
import sys

from tests.fresh_python import run_snippet
from watch.commands import COMMAND_MODULES, SUMMARIES, load_command


def test_every_command_module_is_mapped_by_name() -> None:
    for module_name in set(COMMAND_MODULES.values()):
        module = importlib.import_module(module_name)
        for command in module.COMMANDS:
            assert COMMAND_MODULES.get(command.name) == module_name, command.name


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "watch", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMAND_MODULES:
        assert name in out


def test_help_summaries_are_the_first_line_of_each_commands_help() -> None:
    assert set(SUMMARIES) == set(COMMAND_MODULES)
    for name, summary in SUMMARIES.items():
        command = load_command(name)
        assert command is not None and command.help is not None
        assert summary == command.help.strip().splitlines()[0].strip(), name


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from watch.cli import cli; "
        "CliRunner().invoke(cli, ['--help']); "
        "print(' '.join(m for m in sys.modules if m.startswith('watch.commands.')))"
    )
    assert run_snippet(code).strip() in ("", "watch.commands.options")


def test_start_up_imports_only_the_command_in_hand() -> None:
    code = (
        "import sys; from watch.cli import cli; cli.get_command(None, 'init'); "
        "print(' '.join(m for m in ('sklearn', 'scrapy', 'elasticsearch') if m in sys.modules))"
    )
    assert run_snippet(code).strip() == ""
