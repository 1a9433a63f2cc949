"""``/api/lifecycle``: the dormant-rule preview and lifting suspensions, as JSON.

``GET /api/lifecycle/dormant`` previews the rules and writes nothing: a token with the
``audit:read`` or ``lifecycle`` scope, or an admin's browser session. ``POST
/api/lifecycle/users/<id or userName>/unsuspend`` with ``{"reason": "..."}`` lifts a
suspension: a token with the ``lifecycle`` scope (an admin's action, audited with the reason).
Errors are JSON ``{"error": code, "detail": ...}`` with a stable code.
"""

from __future__ import annotations

from typing import Any

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
from app.errors import DomainError
from app.errors import NotFoundError
from app.lifecycle import dormant
from app.uow import UnitOfWork
from app.web.callers import AuthError
from app.web.callers import bearer
from app.web.callers import token_actor
from app.web.context import get_db
from app.web.context import get_settings
from app.web.errors import register_renderer
from app.web.plumbing import request_info

bp = Blueprint("lifecycle_api", __name__, url_prefix="/api/lifecycle")
READ_SCOPES = frozenset({"audit:read", "lifecycle"})


def _reader() -> Actor:
    header = request.headers.get("Authorization")
    if header:
        info = bearer(current_app, header, None)
        if not READ_SCOPES & info.scopes:
            raise AuthError(403, "the token lacks the 'audit:read' or 'lifecycle' scope")
        return token_actor(info)
    admin = current_admin(get_db(current_app), session, get_settings(current_app).admin_groups)
    if admin is None:
        raise AuthError(401, "sign in as an admin or send a token with the audit:read or "
                        "lifecycle scope")
    return admin.actor


@bp.get("/dormant")
def dormant_preview() -> Response:
    """Who the dormant rules would warn (``warn``), have warned (``pending``) and would act on
    (``act``) now, with the rule, the last activity and its kind."""
    reader = _reader()
    g.actor_label = reader.label
    db = get_db(current_app)
    lines = dormant.preview(db, db.lifecycle, get_settings(current_app).admin_groups)
    return jsonify(rules=[rule.name for rule in db.lifecycle.dormant],
                   users=[line.to_dict() for line in lines])


@bp.post("/users/<ref>/unsuspend")
def unsuspend(ref: str) -> Response:
    """Lift a user's suspension, with a reason."""
    info = bearer(current_app, request.headers.get("Authorization"), "lifecycle")
    actor = token_actor(info)
    g.actor_label = actor.label
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        return _error(400, "invalid_json", "the body must be a JSON object")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return _error(400, "reason_required", "'reason' (why the suspension is lifted) is "
                      "required")
    db = get_db(current_app)
    with UnitOfWork(db, request_info()) as uow:
        user = uow.users.find(ref) or uow.users.find_by_user_name(ref)
        if user is None:
            raise NotFoundError(f"no user '{ref}'")
        user = dormant.unsuspend(uow, user.id, actor=actor, reason=reason)
        return jsonify(_user(user))


def _user(user: Any) -> dict[str, Any]:
    return {"id": user.id, "userName": user.user_name, "state": dormant.state_of(user),
            "lastActivityAt": user.last_activity_at.isoformat() if user.last_activity_at
            else None, "lastActivityKind": user.last_activity_kind}


def _error(status: int, code: str, detail: str) -> Response:
    response = jsonify(error=code, detail=detail)
    response.status_code = status
    return response


def render_error(err: Exception) -> Response:
    """JSON errors with a stable code for everything under /api/lifecycle."""
    if isinstance(err, AuthError):
        response = _error(err.status, "unauthorized" if err.status == 401 else "forbidden",
                          err.detail)
        if err.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="frontdesk"'
        return response
    if isinstance(err, NotFoundError):
        return _error(404, "not_found", err.detail)
    if isinstance(err, DomainError):
        code = "not_suspended" if isinstance(err, dormant.NotSuspendedError) else "invalid_input"
        return _error(400, code, err.detail)
    if isinstance(err, HTTPException):
        return _error(err.code or 500, "http_error", err.description or "error")
    current_app.logger.exception("unhandled error in /api/lifecycle")
    return _error(500, "internal", "internal error; see the server log")


register_renderer(bp, render_error)
