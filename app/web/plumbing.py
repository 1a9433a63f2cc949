"""Request plumbing: request ids and W3C trace context, one JSON log line per request, request
metrics, the health endpoints and ``/metrics``, body caps."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask
from flask import Response
from flask import g
from flask import has_request_context
from flask import jsonify
from flask import request
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Request

from app import logs
from app.audit.events import RequestInfo
from app.migrate import is_current
from app.web import metrics
from app.web.callers import AuthError
from app.web.callers import bearer
from app.web.context import get_db

log = logging.getLogger("frontdesk.request")
AUTH_ERROR_CODES = {401: "unauthorized", 403: "forbidden"}
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
# W3C Trace Context: version-trace_id-parent_id-flags, lowercase hex; a later version may add
# "-..." fields after the flags (version 00 may not).
TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
JsonFormatter = logs.JsonFormatter  # the one formatter (kept importable from here)


def configure_logging(level: str) -> None:
    """Send every record of the process to stderr as JSON lines (``app.logs``), and our own
    loggers at ``level``."""
    logs.configure(level)
    ours = logging.getLogger("frontdesk")
    if not any(isinstance(h.formatter, JsonFormatter) for h in ours.handlers):
        ours.addHandler(logs.json_handler())
    ours.setLevel(level.upper())
    ours.propagate = False


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """Return (trace id, parent id) of a W3C ``traceparent`` header, or None when it is absent
    or invalid (then it is ignored, as the Trace Context spec says)."""
    match = TRACEPARENT_RE.match(value or "")
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id


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
        fields = {"request_id": g.request_id}
        trace = parse_traceparent(request.headers.get("traceparent"))
        if trace is not None:
            fields["trace_id"], fields["parent_id"] = trace
        # Every record written while this request runs carries its ids (app.logs).
        g.log_fields_token = logs.REQUEST_FIELDS.set(fields)

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = g.pop("log_fields_token", None)
        if token is not None:
            logs.REQUEST_FIELDS.reset(token)

    @app.after_request
    def _finish(response: Response) -> Response:
        state = g._get_current_object()  # one context lookup, not one per field
        request_id = state.get("request_id")
        response.headers["X-Request-Id"] = request_id or ""
        seconds = time.perf_counter() - state.get("started", time.perf_counter())
        rule = request.url_rule
        metrics.observe_request(rule.rule if rule is not None else None,
                                request.environ.get("REQUEST_METHOD", ""),
                                response.status_code, seconds)
        if log.isEnabledFor(logging.INFO):
            # Identifiers only: never bodies, tokens or assertions.
            environ = request.environ
            log.info("request", extra={"fields": {
                "request_id": request_id,
                "method": environ.get("REQUEST_METHOD"),
                "path": request.path,
                "status": response.status_code,
                "ms": round(seconds * 1000, 2),
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

    metrics.watch_pool(get_db(app))

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        """Prometheus text format, for a token with the ``metrics`` scope."""
        try:
            g.actor_label = bearer(app, request.headers.get("Authorization"), "metrics").name
        except AuthError as err:
            response = jsonify(status=err.status, error=AUTH_ERROR_CODES[err.status],
                               detail=err.detail)
            response.status_code = err.status
            if err.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="frontdesk"'
            return response
        body, content_type = metrics.exposition(get_db(app), request.headers.get("Accept"))
        return Response(body, content_type=content_type)

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
