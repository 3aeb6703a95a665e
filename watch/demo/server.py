"""The demo web on loopback: each fictional site on its own port of 127.0.0.1.

Each site gets its own port so that it has its own robots.txt, as real sites
do. Pages are rendered once at start-up; the server answers conditional GETs
with 304 and compresses for clients that accept gzip, like an ordinary web
server.
"""

from __future__ import annotations

import email.utils
import gzip
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from watch.demo.content import DemoSite, load_sites
from watch.demo.web import Resource, SiteRenderer, renderers
from watch.errors import UserError

HOST = "127.0.0.1"


class DemoWeb:
    """The running demo web: one threaded HTTP server per site.

    `port=0` lets the system choose free ports; `port=N` serves the sites on
    N, N+1, ... in the order of `sites`.
    """

    def __init__(self, port: int = 0, now: datetime | None = None) -> None:
        self.sites: list[DemoSite] = load_sites()
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []
        last = port + len(self.sites) - 1
        if port and last > 65535:
            raise UserError(
                f"The demo web needs {len(self.sites)} ports from --port {port}; "
                f"choose a port of at most {65536 - len(self.sites)}."
            )
        try:
            for offset, site in enumerate(self.sites):
                self._servers[site.key] = _bind(port + offset if port else 0)
        except OSError as exc:
            self._close()
            raise UserError(
                f"Cannot serve the demo web on ports {port}-{last} of {HOST} ({exc.strerror}). "
                "Choose other ports with --port N, or leave --port out to use free ones."
            ) from None
        self.bases = {
            key: f"http://{HOST}:{srv.server_address[1]}" for key, srv in self._servers.items()
        }
        self.renderers = {r.site.key: r for r in renderers(self.sites, self.bases, self.now)}
        for key, server in self._servers.items():
            renderer = self.renderers[key]
            server.RequestHandlerClass = _handler(renderer.render(), renderer.not_found())

    def start(self) -> DemoWeb:
        """Serve every site in background threads."""
        for key, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"demo-web-{key}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and release the ports."""
        if self._threads:
            for server in self._servers.values():
                server.shutdown()
        self._close()

    def _close(self) -> None:
        for server in self._servers.values():
            server.server_close()

    def __enter__(self) -> DemoWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def base(self, key: str) -> str:
        """The base URL (no trailing slash) of the site `key`."""
        return self.bases[key]

    def item_urls(self) -> dict[str, list[str]]:
        """For each site, the URLs of the pages a crawl should store as items."""
        return {key: r.item_urls for key, r in self.renderers.items()}

    def renderer(self, key: str) -> SiteRenderer:
        """The renderer of site `key` (its articles, products and URLs)."""
        return self.renderers[key]


def _bind(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((HOST, port), BaseHTTPRequestHandler)
    server.daemon_threads = True
    return server


def _handler(routes: dict[str, Resource], not_found: Resource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "DemoWeb/1.0"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            path = urlsplit(self.path).path or "/"
            resource = routes.get(path)
            if resource is None and not path.endswith("/") and f"{path}/" in routes:
                self._redirect(f"{path}/")
                return
            resource = resource or not_found
            if resource.status == 200 and self._not_modified(resource):
                self.send_response(304)
                self.send_header("ETag", resource.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = resource.body
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "") and len(body) > 1024
            if gzipped:
                body = gzip.compress(body, mtime=0)
            self.send_response(resource.status)
            self.send_header("Content-Type", resource.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", resource.etag)
            self.send_header(
                "Last-Modified", email.utils.format_datetime(resource.last_modified, usegmt=True)
            )
            self.send_header("Vary", "Accept-Encoding")
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _not_modified(self, resource: Resource) -> bool:
            etags = self.headers.get("If-None-Match")
            if etags is not None:
                return resource.etag in {e.strip() for e in etags.split(",")}
            since = self.headers.get("If-Modified-Since")
            if since:
                try:
                    return resource.last_modified <= email.utils.parsedate_to_datetime(since)
                except (TypeError, ValueError):
                    return False
            return False

        def _redirect(self, location: str) -> None:
            self.send_response(301)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            # The demo prints its own progress; request logs would drown it.
            pass

    return Handler
