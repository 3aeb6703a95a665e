"""The HTTP server for the web app: waitress on a fixed pool of worker threads.

`WebServer.serve()` runs in the calling thread until Ctrl-C (the command);
`start()`/`stop()` run it in a background thread (the tests, on port 0).
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from waitress import create_server, wasyncore

from watch.config import Config
from watch.errors import UserError
from watch.store import Store
from watch.web.app import LOOPBACK_NAMES, create_app

THREADS = 4
# How often the serving loop checks for stop(); also the longest stop() waits for it.
POLL_SECONDS = 0.2


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebServer:
    """The web app bound to host:port (port 0: a free port), ready to serve."""

    def __init__(
        self, config: Config, host: str = "127.0.0.1", port: int = 8080, threads: int = THREADS
    ) -> None:
        self.config = config
        # Migrate once here, so worker threads only ever read an up-to-date schema.
        Store(config.db_path).close()
        # On loopback, answer only to loopback names (the bound one included, e.g. 127.0.0.2).
        bound = f"[{host.strip('[]')}]" if ":" in host else host
        trusted = [*LOOPBACK_NAMES, bound] if is_loopback(host) else None
        self.app = create_app(config, trusted)
        self._map: dict[int, Any] = {}
        try:
            self._server = create_server(
                self.app,
                map=self._map,
                host=host,
                port=port,
                threads=threads,
                ident="veille",
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise UserError(
                f"Cannot listen on {host} port {port}: {exc.strerror or exc}. "
                "Choose another with --port (or --host), or stop what is using it."
            ) from None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL the server answers on, e.g. http://127.0.0.1:8080/."""
        host, port = self._addresses()[0]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def _addresses(self) -> list[tuple[str, int]]:
        listen = getattr(self._server, "effective_listen", None)
        if listen:
            return [(str(h), int(p)) for h, p in listen]
        return [(str(self._server.effective_host), int(self._server.effective_port))]

    def serve(self) -> None:
        """Serve until stop() or Ctrl-C, then close every connection and worker."""
        try:
            while not self._stop.is_set():
                wasyncore.loop(
                    timeout=POLL_SECONDS,
                    map=self._map,
                    use_poll=self._server.adj.asyncore_use_poll,
                    count=1,
                )
        except KeyboardInterrupt:
            pass
        finally:
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._map)

    def start(self) -> WebServer:
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(target=self.serve, name="veille-web", daemon=True)
        self._thread.start()
        return self

    def request_stop(self, *_: object) -> None:
        """Make serve() return within a poll interval (safe in a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop a server started with start() and wait for it."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
