"""``/api/access``: access requests, grants and effective memberships as JSON.

Callers: a signed-in person's browser session (POSTs carry ``X-CSRF-Token``), a personal token
(scope ``access``) acting as its user, and application tokens (scope ``access:read``) that read
anyone's memberships, requests and grants. Errors are ``{"error": "<code>", "detail": "..."}``
with a stable code; a refused step writes nothing but its denied audit event.
"""

from __future__ import annotations

from datetime import UTC
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from flask import session
from marshmallow import EXCLUDE
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from werkzeug.exceptions import HTTPException

from app.access import queries
from app.access import service
from app.access.errors import AccessError
from app.access.errors import AccessForbiddenError
from app.access.errors import AccessInvalidError
from app.access.errors import AccessNotFoundError
from app.access.present import grant_to_dict
from app.access.present import membership_to_dict
from app.access.present import request_to_dict
from app.access.principal import Principal
from app.errors import DomainError
from app.models import AccessRequest
from app.models import Grant
from app.repository.accounts import GroupRepository
from app.repository.accounts import UserRepository
from app.uow import UnitOfWork
from app.web.callers import AccessCaller
from app.web.callers import AuthError
from app.web.callers import access_caller
from app.web.callers import step_up_url
from app.web.context import get_access_config
from app.web.context import get_db
from app.web.context import get_settings
from app.web.errors import register_renderer
from app.web.plumbing import request_info
from config.durations import DurationError
from config.durations import parse_duration

bp = Blueprint("access_api", __name__, url_prefix="/api/access")
STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409}
REQUEST_STATES = ("pending", "approved", "denied", "withdrawn", "expired")
GRANT_STATES = ("scheduled", "active", "ended", "revoked", "extended")


class _Duration(fields.Field[timedelta]):
    """ISO 8601 (``"PT2H"``), suffixed (``"2h"``) or whole seconds."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> timedelta:
        try:
            return parse_duration(value)
        except DurationError as err:
            raise ValidationError(str(err)) from None


class _Text(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("expected a string")
        return value


class CreateRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    group = _Text(required=True)
    user = _Text(load_default=None, allow_none=True)
    duration = _Duration(load_default=None, allow_none=True)
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)
    reason = _Text(load_default=None, allow_none=True)
    ticket = _Text(load_default=None, allow_none=True)
    break_glass = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    dry_run = fields.Boolean(load_default=False, truthy={True}, falsy={False})


class ReasonSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = _Text(load_default=None, allow_none=True)


class ExtendSchema(Schema):
    class Meta:
        unknown = RAISE

    duration = _Duration(required=True)
    reason = _Text(load_default=None, allow_none=True)


class _Empty(Schema):
    class Meta:
        unknown = EXCLUDE


def _error(status: int, code: str, detail: str, **extra: str) -> Response:
    response = jsonify(error=code, detail=detail, **extra)
    response.status_code = status
    return response


def _body(schema: Schema) -> dict[str, Any]:
    data = request.get_json(silent=True) if request.content_length else {}
    if data is None:
        raise AccessInvalidError("invalid_json", "the body must be a JSON object")
    if not isinstance(data, dict):
        raise AccessInvalidError("invalid_json", "the body must be a JSON object")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as err:
        found = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        field, messages = next(iter(sorted(found.items())))
        text = messages[0] if isinstance(messages, list) and messages else str(messages)
        code = "unknown_field" if text == "Unknown field." else "invalid_field"
        raise AccessInvalidError(code, f"'{field}': {text}") from None
    return loaded


def caller() -> AccessCaller:
    found: AccessCaller = g.access_caller
    return found


def actor() -> Principal:
    """Return the person acting; a read-only caller may not change anything (403)."""
    principal = caller().principal
    if principal is None:
        raise AccessForbiddenError("read_only", "this token reads access; acting needs a personal "
                                   "token (scope 'access', --user) or a signed-in session")
    return principal


@bp.before_request
def _authenticate() -> None:
    settings = get_settings(current_app)
    found = access_caller(current_app, request.headers.get("Authorization"), session,
                          request.headers.get("X-CSRF-Token"), settings.admin_groups)
    if request.method == "POST" and not found.csrf_checked:
        raise AuthError(403, "send the session's CSRF token in X-CSRF-Token")
    g.access_caller = found
    if found.principal is not None:
        g.actor_label = found.principal.actor.label


def _approver_policies(principal: Principal | None) -> list[str]:
    """Return the names of the policies whose approvers include this person."""
    if principal is None or principal.user_id is None:
        return []
    config = get_access_config(current_app)
    now = get_db(current_app).clock.now()
    with get_db(current_app).read_session() as db_session:
        return [p.name for p in config.policies if p.approvers and queries.member_of_any(
            db_session, principal.user_id, p.approvers, now) is not None]


def _may_read_request(row: AccessRequest) -> bool:
    found = caller()
    if found.reads_all:
        return True
    principal = found.principal
    if principal is None:
        return False
    return row.user_id == principal.user_id or row.requested_by == principal.actor.label \
        or row.policy_name in _approver_policies(principal)


def _may_read_user(user_id: str) -> bool:
    found = caller()
    if found.reads_all or (found.principal and found.principal.user_id == user_id):
        return True
    policies = _approver_policies(found.principal)
    if not policies:
        return False
    with get_db(current_app).read_session() as db_session:
        return any(r.policy_name in policies for r in queries.list_requests(
            db_session, queries.RequestFilter(user_id=user_id), limit=500))


def _user_id(name: str | None) -> str | None:
    if not name:
        return None
    with get_db(current_app).read_session() as db_session:
        user = UserRepository(db_session).find_by_user_name(name)
    if user is None:
        raise AccessNotFoundError("unknown_user", f"there is no user '{name}'")
    return user.id


def _group_id(ref: str | None) -> str | None:
    if not ref:
        return None
    with get_db(current_app).read_session() as db_session:
        repo = GroupRepository(db_session)
        group = (repo.find(ref) if len(ref) == 36 else None) or repo.find_by_display_name(ref)
    if group is None:
        raise AccessNotFoundError("unknown_group", f"there is no group '{ref}'")
    return group.id


def _request_body(request_id: str) -> dict[str, Any]:
    db = get_db(current_app)
    with db.read_session() as db_session:
        row = db_session.get(AccessRequest, request_id)
        if row is None or not _may_read_request(row):
            raise AccessNotFoundError("unknown_request", f"there is no access request "
                                      f"{request_id}")
        reviews = queries.reviews_of(db_session, [row.id])[row.id]
        grants = queries.grants_of_requests(db_session, [row.id])[row.id]
        return request_to_dict(row, db.clock.now(), reviews=reviews, grants=grants)


@bp.post("/requests")
def create_request() -> tuple[Response, int]:
    """File a request (201), or ask what would happen (``dry_run``: 200, nothing written)."""
    data = _body(CreateRequestSchema())
    ask = service.Ask(group=data["group"], user=data["user"], duration=data["duration"],
                      starts_at=data["starts_at"], reason=data["reason"], ticket=data["ticket"],
                      break_glass=data["break_glass"])
    config = get_access_config(current_app)
    with UnitOfWork(get_db(current_app), request_info()) as uow:
        if data["dry_run"]:
            decision = service.dry_run(uow, config, actor(), ask)
            return jsonify(decision.to_dict()), 200
        row, _ = service.request_access(uow, config, actor(), ask)
    return jsonify(_request_body(row.id)), 201


@bp.get("/requests")
def list_requests() -> Response:
    """Requests newest first: ``state``, ``user``, ``group``, ``limit`` (1-500)."""
    state = request.args.get("state") or None
    if state is not None and state not in REQUEST_STATES:
        raise AccessInvalidError("invalid_state", f"state is one of {', '.join(REQUEST_STATES)}")
    f = queries.RequestFilter(state=state, user_id=_user_id(request.args.get("user")),
                              group_id=_group_id(request.args.get("group")))
    limit = _limit()
    db = get_db(current_app)
    with db.read_session() as db_session:
        rows = queries.list_requests(db_session, f, limit=limit)
        if not caller().reads_all:
            rows = [r for r in rows if _may_read_request(r)]
        ids = [r.id for r in rows]
        reviews = queries.reviews_of(db_session, ids)
        grants = queries.grants_of_requests(db_session, ids)
        now = db.clock.now()
        return jsonify(requests=[request_to_dict(r, now, reviews=reviews[r.id],
                                                 grants=grants[r.id]) for r in rows])


def _limit() -> int:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise AccessInvalidError("invalid_limit", "limit is a whole number from 1 to 500")
    return int(raw)


@bp.get("/requests/<request_id>")
def get_request(request_id: str) -> Response:
    return jsonify(_request_body(request_id))


@bp.post("/requests/<request_id>/<verb>")
def decide(request_id: str, verb: str) -> Response:
    """``approve``, ``deny``, ``withdraw`` or ``close-review`` a request, with a reason."""
    data = _body(ReasonSchema())
    config = get_access_config(current_app)
    with UnitOfWork(get_db(current_app), request_info()) as uow:
        if verb == "approve":
            service.approve(uow, config, actor(), request_id, data["reason"])
        elif verb == "deny":
            service.deny(uow, config, actor(), request_id, data["reason"])
        elif verb == "withdraw":
            service.withdraw(uow, actor(), request_id, data["reason"])
        elif verb == "close-review":
            service.close_review(uow, config, actor(), request_id, data["reason"])
        else:
            raise AccessNotFoundError("unknown_action", f"no action '{verb}' on a request")
    return jsonify(_request_body(request_id))


@bp.get("/grants")
def list_grants() -> Response:
    """Grants, latest end first: ``user``, ``group``, ``state`` (as of now), ``limit``."""
    state = request.args.get("state") or None
    if state is not None and state not in GRANT_STATES:
        raise AccessInvalidError("invalid_state", f"state is one of {', '.join(GRANT_STATES)}")
    user_id = _user_id(request.args.get("user"))
    found = caller()
    if not found.reads_all:
        own = found.principal.user_id if found.principal else None
        if user_id is None:
            user_id = own
        if user_id is None or not _may_read_user(user_id):
            raise AccessForbiddenError("not_allowed", "you may read your own grants and those "
                                       "of people whose requests you review")
    f = queries.GrantFilter(user_id=user_id, group_id=_group_id(request.args.get("group")),
                            state=state)
    db = get_db(current_app)
    now = db.clock.now()
    with db.read_session() as db_session:
        rows = queries.list_grants(db_session, f, now, limit=_limit())
        return jsonify(grants=[grant_to_dict(r, now) for r in rows])


def _grant_body(grant_id: str) -> dict[str, Any]:
    db = get_db(current_app)
    with db.read_session() as db_session:
        row = db_session.get(Grant, grant_id)
        if row is None or row.user_id is None and not caller().reads_all \
                or row.user_id is not None and not _may_read_user(row.user_id):
            raise AccessNotFoundError("unknown_grant", f"there is no grant {grant_id}")
        return grant_to_dict(row, db.clock.now())


@bp.get("/grants/<grant_id>")
def get_grant(grant_id: str) -> Response:
    return jsonify(_grant_body(grant_id))


@bp.post("/grants/<grant_id>/revoke")
def revoke_grant(grant_id: str) -> Response:
    data = _body(ReasonSchema())
    with UnitOfWork(get_db(current_app), request_info()) as uow:
        service.revoke(uow, get_access_config(current_app), actor(), grant_id, data["reason"])
    return jsonify(_grant_body(grant_id))


@bp.post("/grants/<grant_id>/extend")
def extend_grant(grant_id: str) -> Response:
    """Extend with a new linked grant from this one's end (200 with the new grant)."""
    data = _body(ExtendSchema())
    with UnitOfWork(get_db(current_app), request_info()) as uow:
        successor = service.extend(uow, get_access_config(current_app), actor(), grant_id,
                                   data["duration"], data["reason"])
    return jsonify(_grant_body(successor.id))


@bp.get("/memberships")
def memberships() -> Response:
    """A user's effective memberships now (``?user=<userName>``; default: yourself)."""
    name = request.args.get("user")
    found = caller()
    user_id = _user_id(name) if name else (found.principal.user_id if found.principal else None)
    if user_id is None:
        raise AccessInvalidError("user_required", "name the user: ?user=<userName>")
    if not _may_read_user(user_id):
        raise AccessForbiddenError("not_allowed", "you may read your own memberships and those "
                                   "of people whose requests you review")
    db = get_db(current_app)
    with db.read_session() as db_session:
        user = UserRepository(db_session).find(user_id)
        assert user is not None
        rows = queries.effective_memberships(db_session, user_id, db.clock.now())
        return jsonify(user=user.user_name, user_id=user.id, active=user.active,
                       memberships=[membership_to_dict(m) for m in rows])


def _step_up(code: str) -> dict[str, str]:
    """``{"step_up": url}`` when a browser session was refused for how or when it signed in:
    signing in again there (MFA, or afresh) brings the person back to the page they were on.
    A token carries no sign-in, so signing in again would not help it."""
    found: AccessCaller | None = g.get("access_caller")
    if found is None or found.principal is None or found.principal.via != "session":
        return {}
    back = None
    referer = urlsplit(request.headers.get("Referer", ""))
    ours = urlsplit(get_settings(current_app).base_url)
    if referer.path.startswith("/") and (referer.scheme, referer.netloc) == (ours.scheme,
                                                                           ours.netloc):
        back = referer.path + (f"?{referer.query}" if referer.query else "")
    url = step_up_url(code, back)
    return {"step_up": url} if url else {}


def render_error(err: Exception) -> Response:
    """JSON errors with a stable code for everything under /api/access."""
    if isinstance(err, AccessError):
        return _error(STATUS[err.kind], err.code, err.detail, **_step_up(err.code))
    if isinstance(err, AuthError):
        code = {401: "unauthorized", 429: "too_many_requests"}.get(err.status, "forbidden")
        response = _error(err.status, code, err.detail)
        if err.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="frontdesk"'
        return response
    if isinstance(err, DomainError):
        return _error(400, "invalid", err.detail)
    if isinstance(err, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large",
                503: "unavailable"}.get(
            err.code or 500, "http_error")
        return _error(err.code or 500, code, err.description or "error")
    current_app.logger.exception("unhandled error in /api/access")
    return _error(500, "internal", "internal error; see the server log")


register_renderer(bp, render_error)
