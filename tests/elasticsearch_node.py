"""A real Elasticsearch node for the tests, run through scripts/elasticsearch-node.

Each test session starts its own node on a free loopback port with its own data
directory, so parallel sessions (and a developer's own node on 9250) never share
state. `VEILLE_TEST_ES_URL` points the tests at an existing cluster instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from watch.config import ElasticsearchSettings

if TYPE_CHECKING:
    import pytest

    from watch.search.elastic import ElasticBackend
    from watch.store import Store

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "elasticsearch-node"
ENV_URL = "VEILLE_TEST_ES_URL"


class NodeUnavailable(Exception):
    """The node could not be started or reached; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_healthy(url: str, timeout: float = 5.0) -> bool:
    """Whether the cluster at `url` answers its health endpoint."""
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class ElasticsearchNode:
    """One node started by the script; `stop()` kills it, `start()` brings it back."""

    port: int = field(default_factory=free_port)
    # Under /tmp, not pytest's 0700 tmp dirs: root runs the node as a system user
    # that must reach its data directory.
    data_dir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="veille-es-", dir="/tmp"))
    )

    @property
    def url(self) -> str:
        """The node's HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ES_PORT": str(self.port), "ES_DATA_DIR": str(self.data_dir)}
        os.chmod(self.data_dir, 0o755)
        return subprocess.run(
            [str(SCRIPT), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, timeout: float = 300) -> str:
        """Start the node (downloading it on first use); return its URL."""
        try:
            done = self._run("start", timeout)
        except subprocess.TimeoutExpired:
            raise NodeUnavailable(
                f"scripts/elasticsearch-node start took over {timeout}s"
            ) from None
        if done.returncode != 0:
            raise NodeUnavailable(
                f"scripts/elasticsearch-node start failed ({done.returncode}): "
                f"{done.stderr.strip()[-2000:]}"
            )
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop the node (its data stays until `remove()`)."""
        self._run("stop", 120)

    def remove(self) -> None:
        """Stop the node and delete its data directory."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def throwaway_settings(url: str, hint: str = "t") -> ElasticsearchSettings:
    """Settings for a throwaway alias of its own on the test node (no replicas: one node)."""
    alias = f"veille-test-{hint}-{uuid.uuid4().hex[:8]}".lower()
    return ElasticsearchSettings(url=url, index=alias, replicas=0)


@contextmanager
def elastic_backend(store: Store, request: pytest.FixtureRequest) -> Iterator[ElasticBackend]:
    """The contract suite's Elasticsearch factory: a fresh alias on the session node."""
    from watch.search.elastic import ElasticBackend

    url = request.getfixturevalue("elasticsearch_url")
    backend = ElasticBackend(throwaway_settings(url, "contract"))
    try:
        yield backend
    finally:
        backend.drop()
