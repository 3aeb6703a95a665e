"""`veille serve` as a user runs it: a child prints its URL, answers, stops on Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.watch.web.conftest import fetch, write_config
from tests.watch.web.data import fill
from watch.errors import UserError
from watch.store import Store
from watch.web.server import WebServer

VEILLE = [sys.executable, "-c", "from watch.cli import main; main()"]


def start(config_path: Path, *args: str, sigint_ignored: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*VEILLE, "serve", "--config", str(config_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell's background job starts with SIGINT ignored; so may a CI runner's.
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop_signal", "sigint_ignored"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["ctrl-c", "sigterm", "ctrl-c-in-a-background-job"],
)
def test_serve_prints_its_url_answers_and_stops_on_ctrl_c_or_sigterm(
    tmp_path: Path, stop_signal: signal.Signals, sigint_ignored: bool
) -> None:
    config = write_config(tmp_path)
    with Store(config.db_path) as store:
        fill(store)
    proc = start(config.path, "--port", "0", sigint_ignored=sigint_ignored)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)$", first.strip())
        assert match, first + (proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        url = match.group(1)
        assert fetch(f"{url}api/search?q=marketplace").json()["total"] == 21
        assert "Search the watch" in fetch(url).body
    finally:
        proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped." in out
    assert "Traceback" not in err


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError) as caught:
            WebServer(config, "127.0.0.1", port)
    message = str(caught.value)
    assert f"Cannot listen on 127.0.0.1 port {port}" in message
    assert "--port" in message
