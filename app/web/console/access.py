"""The console's access pages (``/admin/access/...``): every request and grant, with filters;
a request with its reviews, grants and audit events; revoking a grant with a reason.

Routes of the console's blueprint, so the console's sign-in, CSRF check and error pages apply.
Revoking goes through ``app.access.service`` as the admin, with the request's audit context.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.wrappers import Response
from werkzeug.wrappers import Response as BaseResponse

from app.access import queries
from app.access import service
from app.access.errors import AccessError
from app.access.principal import Principal
from app.audit.query import AuditFilter
from app.audit.query import list_events
from app.errors import InvalidInputError
from app.errors import NotFoundError
from app.models import AccessRequest
from app.models import Grant
from app.repository.accounts import GroupRepository
from app.repository.accounts import UserRepository
from app.uow import UnitOfWork
from app.web.callers import session_principal
from app.web.console.views import ConsoleError
from app.web.console.views import bp
from app.web.console.views import page
from app.web.context import get_access_config
from app.web.context import get_db
from app.web.context import get_settings
from app.web.pages import REFUSAL_STATUS
from app.web.pages import duration
from app.web.pages import request_items
from app.web.plumbing import request_info

REQUEST_STATES = ("pending", "approved", "denied", "withdrawn", "expired")
GRANT_STATES = ("active", "scheduled", "ended", "revoked", "extended")
PAGE_SIZE = 100
_BACK = re.compile(r"/admin/[A-Za-z0-9/_-]*")

bp.add_app_template_filter(duration, "duration")


def _filters(states: tuple[str, ...]) -> tuple[dict[str, str], str | None, str | None]:
    """Read ``state``, ``user`` (userName) and ``group`` (displayName) from the query string;
    return them with the user's and group's ids, or raise ``InvalidInputError``."""
    args = {k: request.args.get(k, "").strip()[:256] for k in ("state", "user", "group", "review")}
    args = {k: v for k, v in args.items() if v}
    if args.get("state") and args["state"] not in states:
        raise InvalidInputError(f"'state' must be one of {', '.join(states)}")
    user_id = group_id = None
    with get_db(current_app).read_session() as db_session:
        if args.get("user"):
            user = UserRepository(db_session).find_by_user_name(args["user"])
            if user is None:
                raise InvalidInputError(f"there is no user '{args['user']}'")
            user_id = user.id
        if args.get("group"):
            group = GroupRepository(db_session).find_by_display_name(args["group"])
            if group is None:
                raise InvalidInputError(f"there is no group '{args['group']}'")
            group_id = group.id
    return args, user_id, group_id


@bp.get("/access/requests")
def access_requests() -> Response:
    """Every access request, newest first, filtered by state, user, group, open review."""
    db = get_db(current_app)
    now = db.clock.now()
    items: list[Any] = []
    error = None
    args: dict[str, str] = {}
    try:
        args, user_id, group_id = _filters(REQUEST_STATES)
        f = queries.RequestFilter(state=args.get("state"), user_id=user_id, group_id=group_id,
                                  needs_review=True if args.get("review") == "1" else None)
        with db.read_session() as db_session:
            rows = queries.list_requests(db_session, f, limit=PAGE_SIZE)
            ids = [r.id for r in rows]
            items = request_items(rows, queries.grants_of_requests(db_session, ids),
                                  queries.reviews_of(db_session, ids), now)
    except InvalidInputError as err:
        error = err.detail
    body = render_template("admin/access_requests.html", items=items, args=args, error=error,
                           states=REQUEST_STATES, now=now, limit=PAGE_SIZE)
    return make_response(body, 400 if error else 200)


@bp.get("/access/requests/<request_id>")
def access_request(request_id: str) -> Response:
    """One request: what was asked, under which policy, its reviews, grants and audit events."""
    db = get_db(current_app)
    now = db.clock.now()
    with db.read_session() as db_session:
        row = db_session.get(AccessRequest, request_id)
        if row is None:
            raise NotFoundError("There is no access request with that id.")
        grants = queries.grants_of_requests(db_session, [row.id])[row.id]
        item = request_items([row], {row.id: grants},
                             queries.reviews_of(db_session, [row.id]), now)[0]
        events = [event for target in [row.id, *(grant.id for grant in grants)]
                  for event in list_events(db_session, AuditFilter(target_id=target),
                                           limit=50).events]
        events.sort(key=lambda e: e.seq)
        body = render_template("admin/access_request.html", item=item, grants=grants,
                               events=events, now=now, grant_state=queries.grant_state)
    return make_response(body)


@bp.get("/access/grants")
def access_grants() -> Response:
    """Grants, latest end first, filtered by state (as of now), user and group."""
    db = get_db(current_app)
    now = db.clock.now()
    grants: list[Grant] = []
    error = None
    args: dict[str, str] = {}
    try:
        args, user_id, group_id = _filters(GRANT_STATES)
        f = queries.GrantFilter(user_id=user_id, group_id=group_id, state=args.get("state"))
        with db.read_session() as db_session:
            grants = queries.list_grants(db_session, f, now, limit=PAGE_SIZE)
    except InvalidInputError as err:
        error = err.detail
    body = render_template("admin/access_grants.html", grants=grants, args=args, error=error,
                           states=GRANT_STATES, now=now, grant_state=queries.grant_state,
                           limit=PAGE_SIZE)
    return make_response(body, 400 if error else 200)


def _principal() -> Principal:
    principal = session_principal(current_app, session,
                                  admin_groups=get_settings(current_app).admin_groups)
    if principal is None or not principal.admin:
        raise ConsoleError(403, "Not an admin", "Your session no longer has admin rights.")
    return principal


@bp.post("/access/grants/<grant_id>/revoke")
def access_revoke(grant_id: str) -> Response | BaseResponse:
    """End a grant now (and its extensions), with a required reason; back where it was asked."""
    back = request.form.get("back", "")
    if not _BACK.fullmatch(back):
        back = url_for("admin.access_grants")
    reason = request.form.get("reason", "").strip()
    if not reason:
        return page("Reason required", "Say why the access ends; the reason goes into the "
                    "audit log.", 400, back=back)
    try:
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            grant = service.revoke(uow, get_access_config(current_app), _principal(), grant_id,
                                   reason)
    except AccessError as err:
        return page("Cannot revoke", f"{err.detail} (code {err.code}).", REFUSAL_STATUS[err.kind],
                    back=back)
    flash(f"Revoked: {grant.user_name} no longer has {grant.group_name}.")
    return redirect(back, 303)
