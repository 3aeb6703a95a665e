"""The web application behind `veille serve`: a JSON API under /api and a search page.

Why Flask, served by waitress: every part of Veille underneath is synchronous
(sqlite3, the Elasticsearch client), so a WSGI app on a thread pool fits it
with no async bridging. Flask is small and well kept, brings routing, request
parsing and Jinja2 (already a dependency) with autoescaping on, and needs no
JavaScript on the client. waitress is a production-grade, pure-Python WSGI
server with a fixed pool of worker threads, which is what the per-thread
SQLite connections (watch/web/connections.py) want, and it runs the same on
every OS. The page is plain HTML forms and links; it works without scripts and
its Content-Security-Policy allows none.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from watch.config import Config
from watch.errors import UserError
from watch.search.backend import QueryError
from watch.web.api import api
from watch.web.connections import Connections
from watch.web.pages import pages
from watch.web.params import ParamError

log = logging.getLogger(__name__)

# Scripts are not used at all, so none may run, injected or not.
CSP = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]


def create_app(config: Config, trusted_hosts: list[str] | None = None) -> Flask:
    """The Flask app over the store and search backend that `config` names.

    `trusted_hosts` limits the Host header a request may carry (None: any);
    `veille serve` passes the loopback names when it binds loopback, so a web
    page elsewhere cannot reach the API through DNS rebinding.
    """
    app = Flask("watch.web")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["veille"] = Connections(config)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    app.register_error_handler(Exception, _error)
    if trusted_hosts is not None:
        trusted = {h.lower() for h in trusted_hosts}
        app.before_request(lambda: _check_host(trusted))
    app.after_request(_headers)
    return app


def _check_host(trusted: set[str]) -> None:
    """Refuse a request whose Host header names a host this server does not answer to."""
    # Flask's TRUSTED_HOSTS cannot match bracketed IPv6 names such as [::1], hence this.
    host = request.headers.get("Host", "").strip().lower()
    name = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
    if name not in trusted:
        abort(400, f"Host {host!r} is not a name this server answers to; use 127.0.0.1.")


def _error(exc: Exception) -> tuple[Any, int, list[tuple[str, str]]]:
    """Every error as JSON under /api, as a page elsewhere; no traceback reaches the client."""
    status, message = _status(exc)
    # Keep what HTTP requires with the status, such as Allow on a 405.
    extra = [
        (k, v)
        for k, v in (exc.get_headers() if isinstance(exc, HTTPException) else [])
        if k.lower() != "content-type"
    ]
    if request.path.startswith("/api/") or request.path == "/api":
        return jsonify({"error": message}), status, extra
    return render_template("error.html", status=status, message=message), status, extra


def _status(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ParamError | QueryError):
        return 400, str(exc)
    if isinstance(exc, UserError):
        # The search engine is down or misconfigured: not the client's fault.
        return 503, str(exc)
    if isinstance(exc, HTTPException):
        return exc.code or 500, exc.description or exc.name
    log.exception("error serving %s", request.path)
    return 500, "Internal error: the server log has the details."


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Full URLs inside the site (the item page's back link), nothing to article sites.
    response.headers["Referrer-Policy"] = "same-origin"
    return response
