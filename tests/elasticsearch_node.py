"""A real Elasticsearch node for the tests, run through scripts/elasticsearch-node.

Each test session starts its own node on a free loopback port with its own data
directory, so parallel sessions (and a developer's own node on 9250) never share
state. `VEILLE_TEST_ES_URL` points the tests at an existing cluster instead.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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

    # Extra environment for the script (ES_VERSION, ES_JAVA_HOME, ES_HEAP ...).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The node's HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            **self.env,
            "ES_PORT": str(self.port),
            "ES_DATA_DIR": str(self.data_dir),
        }
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


@dataclass
class Fault:
    """A fault the proxy injects into requests whose path contains `path`.

    `status` answers the whole request with that error; `item_status` forwards
    the request and marks the first document of the bulk answer as failed.
    """

    path: str
    status: int | None = None
    item_status: int | None = None
    times: int = 1


class FaultProxy:
    """A loopback HTTP proxy in front of a real node, injecting 429s and 5xx on demand.

    Overload answers cannot be produced on demand by a healthy test node, so this
    is the one place the tests fake a server behaviour; everything else is forwarded.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults: list[Fault] = []
        self.injected = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's URL, to use instead of the node's."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def _take(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in path:
                    fault.times -= 1
                    self.injected += 1
                    return fault
        return None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Forward one request, or answer it with an injected fault."""
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        fault = self._take(request.path)
        if fault is not None and fault.status is not None:
            payload = json.dumps(
                {
                    "error": {"type": "injected_fault", "reason": "injected by the test proxy"},
                    "status": fault.status,
                }
            ).encode()
            self._reply(request, fault.status, {"Content-Type": "application/json"}, payload)
            return
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        conn.request(request.command, request.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = {
            k: v
            for k, v in resp.getheaders()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        conn.close()
        if fault is not None and fault.item_status is not None:
            answer = json.loads(data)
            first = answer["items"][0]
            op = next(iter(first.values()))
            op["status"] = fault.item_status
            op["error"] = {"type": "injected_fault", "reason": "injected by the test proxy"}
            answer["errors"] = True
            data = json.dumps(answer).encode()
        self._reply(request, resp.status, out, data)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes
    ) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        # The client refuses answers that do not say they come from Elasticsearch.
        if not any(k.lower() == "x-elastic-product" for k in headers):
            request.send_header("X-Elastic-Product", "Elasticsearch")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
