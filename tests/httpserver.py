"""A real HTTP server on 127.0.0.1 for tests: static fixture sites plus scripted routes.

Static files are served from a directory with ETag and Last-Modified, and
answer conditional GETs with 304. Tests add routes for faults (500s, redirect
loops, slow answers, oversized or gzip-bomb bodies) with `server.route(...)`.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Response:
    """What a scripted route answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before answering (timeouts, slow servers).
    delay: float = 0.0


Route = Callable[["RequestInfo"], Response]


@dataclass
class RequestInfo:
    """A request as routes and tests see it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]


class FixtureServer:
    """A threaded HTTP server bound to an ephemeral port on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.routes: dict[str, Route] = {}
        self.requests: list[RequestInfo] = []
        self._lock = threading.Lock()
        handler = self._make_handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FixtureServer:
        """Start serving in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, path: str, handler: Route | Response) -> None:
        """Answer `path` with a scripted response (a Response or a callable)."""
        self.routes[path] = handler if callable(handler) else (lambda _req, r=handler: r)

    def reset(self) -> None:
        """Forget scripted routes and recorded requests."""
        with self._lock:
            self.routes.clear()
            self.requests.clear()

    def hits(self, path: str) -> list[RequestInfo]:
        """Recorded requests for a path."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                info = RequestInfo(self.command, parts.path, parts.query, dict(self.headers))
                with server._lock:
                    server.requests.append(info)
                    route = server.routes.get(parts.path)
                response = route(info) if route else server._static(info)
                if response.delay:
                    threading.Event().wait(response.delay)
                try:
                    self.send_response(response.status)
                    headers = {"Content-Length": str(len(response.body)), **response.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def _static(self, req: RequestInfo) -> Response:
        path = req.path
        if path.endswith("/"):
            path += "index.html"
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_file() or self.root.resolve() not in target.parents:
            return Response(404, b"<h1>Not found</h1>", {"Content-Type": "text/html"})
        body = target.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        mtime = email.utils.formatdate(target.stat().st_mtime, usegmt=True)
        if req.headers.get("If-None-Match") == etag:
            return Response(304, b"", {"ETag": etag, "Last-Modified": mtime})
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix in (".xml", ".rss", ".atom"):
            kind = "application/xml"
        headers = {"Content-Type": kind, "ETag": etag, "Last-Modified": mtime}
        if target.name.endswith(".gz"):
            headers["Content-Type"] = "application/x-gzip"
        return Response(200, body, headers)
