"""Python snippets run in a fresh interpreter: for what a new process imports or sets up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_snippet(code: str) -> str:
    """The standard output of `python -c code` run from the repository root; fails if it fails."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
