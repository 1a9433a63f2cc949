"""``/api/audit``: the audit log as JSON for admins and SIEM pull jobs.

Authenticated by a token with the ``audit:read`` scope or an admin's browser session; a
SCIM-only token gets 403. Newest first, with an opaque ``next`` cursor.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from flask import session
from werkzeug.exceptions import HTTPException

from app.admins import current_admin
from app.audit.events import Actor
from app.audit.query import event_to_dict
from app.audit.query import filter_from_args
from app.audit.query import get_event
from app.audit.query import list_events
from app.errors import DomainError
from app.errors import InvalidInputError
from app.web.callers import AuthError
from app.web.callers import bearer
from app.web.context import get_db
from app.web.context import get_settings
from app.web.errors import register_renderer

bp = Blueprint("api", __name__, url_prefix="/api")
def require_audit_reader() -> Actor:
    """Return who is reading: an audit:read token or an admin session; else raise AuthError."""
    header = request.headers.get("Authorization")
    if header:
        info = bearer(current_app, header, "audit:read")
        return Actor("token", info.id, info.name)
    settings = get_settings(current_app)
    admin = current_admin(get_db(current_app), session, settings.admin_groups)
    if admin is None:
        raise AuthError(401, "sign in as an admin or send a token with the audit:read scope")
    return admin.actor


@bp.before_request
def _authenticate() -> None:
    g.reader = require_audit_reader()
    g.actor_label = g.reader.label


@bp.get("/audit")
def audit_list() -> Response:
    """List events: filters, ``limit`` (1-500, default 50), ``cursor``."""
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        raise InvalidInputError("'limit' must be an integer") from None
    filters = filter_from_args(request.args)
    with get_db(current_app).read_session() as db_session:
        page = list_events(db_session, filters, cursor=request.args.get("cursor") or None,
                           limit=limit)
        events = [event_to_dict(e) for e in page.events]
    return jsonify(events=events, next=page.next_cursor, filters={
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in filters.active().items()})


@bp.get("/audit/<event_id>")
def audit_event(event_id: str) -> Response:
    with get_db(current_app).read_session() as db_session:
        row = get_event(db_session, event_id)
        if row is None:
            return _json_error(404, "no such event")
        return jsonify(event_to_dict(row))


def _json_error(status: int, detail: str) -> Response:
    response = jsonify(status=status, detail=detail)
    response.status_code = status
    return response


def render_error(err: Exception) -> Response:
    """JSON errors for everything under /api."""
    if isinstance(err, AuthError):
        response = _json_error(err.status, err.detail)
        if err.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="frontdesk"'
        return response
    if isinstance(err, DomainError):
        return _json_error(400, err.detail)
    if isinstance(err, HTTPException):
        return _json_error(err.code or 500, err.description or "error")
    current_app.logger.exception("unhandled error in /api")
    return _json_error(500, "internal error; see the server log")


register_renderer(bp, render_error)
