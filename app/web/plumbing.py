"""Request plumbing: request ids, one JSON log line per request, health endpoints, body caps."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import has_request_context
from flask import jsonify
from flask import request
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Request

from app.audit.events import RequestInfo
from app.migrate import is_current
from app.web.context import get_db

log = logging.getLogger("frontdesk.request")
# No scripts at all, styles only from our own static file, no framing, forms post only here.
CSP = ("default-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JsonFormatter(logging.Formatter):
    """One JSON object a line; extra fields given as ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send our loggers to stderr as JSON lines."""
    root = logging.getLogger("frontdesk")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def request_info() -> RequestInfo:
    """Return the audit context of the current request."""
    return RequestInfo(
        request_id=g.get("request_id"),
        source_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the signing machinery for requests that carry no
    cookie at all: every API call (SCIM, audit) would otherwise build a serializer for nothing.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when ``FRONTDESK_BASE_URL`` is https, or when this request came over https
        (directly, or as a trusted proxy says: ``app.web.proxies``)."""
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def init_app(app: Flask) -> None:
    """Install the request hooks and the health endpoints."""
    app.session_interface = CookieSessionInterface()

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        state = g._get_current_object()  # one context lookup, not one per field
        request_id = state.get("request_id")
        response.headers["X-Request-Id"] = request_id or ""
        if log.isEnabledFor(logging.INFO):
            # Identifiers only: never bodies, tokens or assertions.
            environ = request.environ
            log.info("request", extra={"fields": {
                "request_id": request_id,
                "method": environ.get("REQUEST_METHOD"),
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - state.get("started", time.perf_counter()))
                            * 1000, 2),
                "ip": environ.get("REMOTE_ADDR"),
                "actor": state.get("actor_label"),
            }})
        return response

    @app.after_request
    def _security_headers(response: Response) -> Response:
        """Lock down every HTML page (the console, /me, SAML pages) and all of /admin."""
        if response.mimetype == "text/html" or request.path.startswith("/admin"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        try:
            current = is_current(get_db(app))
        except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
            return jsonify(status="unavailable", detail="database unreachable"), 503
        if not current:
            pending = "migrations pending: run frontdesk db upgrade"
            return jsonify(status="unavailable", detail=pending), 503
        return jsonify(status="ok"), 200
