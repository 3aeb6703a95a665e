"""A real browser for page tests: Debian's chromium, driven by selenium through chromedriver.

`scripts/install-browser` (which `make test` runs) installs both from apt. The
driver path is given to selenium explicitly, so it never tries to download a
driver or a browser. The flags keep a headless chromium off the network: it
only talks to the loopback servers the tests start.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "scripts" / "install-browser"
CHROMIUM = Path(os.environ.get("VEILLE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("VEILLE_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


class BrowserUnavailable(Exception):
    """Chromium or chromedriver is missing or does not start; the message says how to fix it."""


def missing() -> str | None:
    """Why the browser cannot run here, or None when both binaries are installed."""
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not absent:
        return None
    return (
        f"{' and '.join(absent)} not installed: run scripts/install-browser as root "
        "(apt-get install -y chromium chromium-driver)"
    )


def start_browser(profile_dir: Path, log_path: Path | None = None) -> webdriver.Chrome:
    """A headless chromium with a fresh profile in `profile_dir`."""
    reason = missing()
    if reason:
        raise BrowserUnavailable(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    service = Service(
        str(CHROMEDRIVER), log_output=str(log_path) if log_path else subprocess.DEVNULL
    )
    try:
        return webdriver.Chrome(service=service, options=options)
    except Exception as exc:  # selenium raises several types; all mean "no browser"
        raise BrowserUnavailable(f"chromium did not start: {exc}") from exc
