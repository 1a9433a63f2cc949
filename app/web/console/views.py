"""The admin console: server-rendered pages under ``/admin/`` (no JavaScript).

Who gets in: a signed-in SAML user in one of ``FRONTDESK_ADMIN_GROUPS`` (checked on every
request), or whoever opened a one-time link from ``frontdesk admin login-link``. Every POST
carries the session's CSRF token; every HTML page goes out with a strict Content-Security-Policy
(styles come from one static file, there are no scripts). Changes to users go through the service
layer with the admin as the audit actor; sign-ins, sign-outs and exports are audit events of
their own; reads use the repository and the audit query module.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app import services
from app.access import queries
from app.admins import AdminIdentity
from app.admins import current_admin
from app.admins import link_session
from app.admins import use_login_link
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.audit.query import COUNT_CAP
from app.audit.query import CSV_FIELDS
from app.audit.query import AuditFilter
from app.audit.query import count_events
from app.audit.query import csv_row
from app.audit.query import event_to_dict
from app.audit.query import filter_from_args
from app.audit.query import get_event
from app.audit.query import list_events
from app.audit.query import membership_events
from app.audit.query import stream_events
from app.db import utcnow
from app.errors import DomainError
from app.errors import InvalidInputError
from app.errors import NotFoundError
from app.lifecycle import dormant
from app.repository.accounts import GroupRepository
from app.repository.accounts import UserRepository
from app.repository.browse import UserListFilter
from app.repository.browse import browse_groups
from app.repository.browse import browse_user_members
from app.repository.browse import browse_users
from app.repository.browse import count_groups
from app.repository.browse import count_users
from app.repository.browse import group_members_of_group
from app.repository.browse import groups_of_user
from app.repository.browse import member_counts
from app.throttle import LOGIN_LINK
from app.uow import UnitOfWork
from app.web.callers import count_failure
from app.web.context import get_db
from app.web.context import get_settings
from app.web.errors import register_renderer
from app.web.pages import PageError
from app.web.pages import csrf_ok
from app.web.pages import csrf_token
from app.web.pages import when
from app.web.plumbing import request_info

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

PAGE_SIZE = 50
SOURCES = ("scim", "jit", "admin")
OUTCOMES = ("success", "denied")


class ConsoleError(PageError):
    """A console refusal: 401 (sign in), 403 (not an admin), 400 (CSRF)."""


def page(title: str, message: str, status: int = 200, *, sign_in: bool = False,
         back: str | None = None) -> Response:
    """Render a message page (refusals, errors, "signed out"), with a link ``back``."""
    body = render_template("admin/message.html", title=title, message=message,
                           sign_in=sign_in, back=back, request_id=g.get("request_id"))
    return make_response(body, status)


def _check_csrf() -> None:
    if not csrf_ok():
        raise ConsoleError(400, "Form expired",
                           "The form was not sent from this session (CSRF check failed). "
                           "Go back, reload the page and try again.")


def _identity() -> AdminIdentity | None:
    settings = get_settings(current_app)
    return current_admin(get_db(current_app), session, settings.admin_groups)


def admin() -> AdminIdentity:
    """Return the admin of this request (set by the before-request check)."""
    identity: AdminIdentity = g.admin
    return identity


@bp.before_request
def _require_admin() -> None:
    if request.endpoint == "admin.login":
        return
    identity = _identity()
    if identity is None:
        if session.get("uid"):
            raise ConsoleError(403, "Not an admin",
                               "You are signed in, but your account is not in an admin group.")
        raise ConsoleError(401, "Sign in to the admin console",
                           "Sign in with single sign-on as a member of an admin group, or "
                           "with a one-time sign-in link.", sign_in=True)
    g.admin = identity
    g.actor_label = identity.actor.label
    if request.method == "POST":
        _check_csrf()


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "admin_identity": g.get("admin"),
            "audit_link": audit_link}


bp.add_app_template_filter(when, "when")


@bp.app_template_filter("show")
def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


ADDRESS_PARTS = ("streetAddress", "locality", "region", "postalCode", "country")


def _item(value: Any) -> tuple[str, str]:
    """One value of a multi-valued attribute as (text, note): ``ada@example.com`` and
    ``work, primary``; an address reads as its lines; anything else as compact JSON."""
    if not isinstance(value, dict):
        return _show(value), ""
    notes = [str(value[k]) for k in ("type", "display") if isinstance(value.get(k), str)
             and value[k]]
    if value.get("primary") is True:
        notes.append("primary")
    if value.get("value") not in (None, ""):
        text = _show(value["value"])
    elif value.get("formatted"):
        text = _show(value["formatted"])
    elif any(value.get(k) for k in ADDRESS_PARTS):
        text = ", ".join(str(value[k]) for k in ADDRESS_PARTS if value.get(k))
    else:
        rest = {k: v for k, v in value.items() if k not in ("type", "display", "primary")}
        text = _show(rest) if rest else "—"
    return text, ", ".join(notes)


@bp.app_template_filter("items")
def _items(value: Any) -> list[tuple[str, str]]:
    """A value as the console lists it: one (text, note) per value of a list or object."""
    values = value if isinstance(value, list) else [value]
    return [_item(v) for v in values]


def audit_link(**filters: Any) -> str:
    """Return the audit page URL for these filters."""
    return url_for("admin.audit", **{k: v for k, v in filters.items() if v})


# --- sign-in and sign-out --------------------------------------------------------------------


@bp.get("/login/<secret>")
def login(secret: str) -> Response | BaseResponse:
    """Consume a one-time login link and start an admin session.

    A bad link counts against its source address (``app.throttle``), in a transaction of its
    own; until the address is throttled each one is also audited, after that only logged (a
    flood of guesses must not flood the audit chain). A valid link always works.
    """
    db = get_db(current_app)
    with UnitOfWork(db, request_info()) as uow:
        row = use_login_link(uow, secret)
        data = link_session(row) if row is not None else None
    if data is None:
        retry_after = count_failure(current_app, LOGIN_LINK)
        if retry_after is not None:
            response = page("Too many attempts",
                            "Too many sign-in links that did not work came from your address. "
                            f"Try again in {retry_after} seconds with a new link: frontdesk "
                            "admin login-link.", 429)
            response.headers["Retry-After"] = str(retry_after)
            return response
        with UnitOfWork(db, request_info()) as uow:
            uow.audit.record(AuditAction.ADMIN_LOGIN_DENIED,
                             actor=Actor("anonymous", None, request.remote_addr),
                             target_kind="admin", outcome="denied", reason="invalid_link")
            uow.commit()
        return page("Link not valid",
                    "This sign-in link is unknown, already used or expired. Ask for a new "
                    "one: frontdesk admin login-link.", 403)
    session.clear()  # no session fixation: a fresh session for the new identity
    session["admin_link"] = data
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True
    return redirect(url_for("admin.audit"), 303)


@bp.post("/logout")
def logout() -> Response:
    """End the admin session (and any SSO session of this browser)."""
    with UnitOfWork(get_db(current_app), request_info()) as uow:
        uow.audit.record(AuditAction.ADMIN_LOGOUT, actor=admin().actor, target_kind="admin",
                         target_id=admin().actor.id, target_label=admin().actor.label)
        uow.commit()
    session.clear()
    return page("Signed out", "You are signed out of the admin console.")


@bp.get("/")
def index() -> Response:
    """The console's first page: how many users, groups and events, and the newest events."""
    with get_db(current_app).read_session() as db_session:
        totals = {
            "users": count_users(db_session, UserListFilter()),
            "active": count_users(db_session, UserListFilter(active=True)),
            "groups": count_groups(db_session, None),
            "events": count_events(db_session, AuditFilter()),
        }
        recent = list_events(db_session, AuditFilter(), limit=10).events
        body = render_template("admin/dashboard.html", totals=totals, events=recent)
    return make_response(body)


# --- audit log -------------------------------------------------------------------------------


def _filter_args() -> dict[str, str]:
    keys = ("actor", "actor_kind", "actor_id", "action", "target", "target_kind", "target_id",
            "outcome", "request_id", "q", "since", "until")
    return {k: request.args.get(k, "").strip() for k in keys if request.args.get(k, "").strip()}


@bp.get("/audit")
def audit() -> Response:
    """The audit log: filter form, newest-first table, older-page link, CSV/JSONL download."""
    args = _filter_args()
    error = None
    events: list[Any] = []
    next_cursor = None
    total = 0
    try:
        filters = filter_from_args(args)
        fmt = request.args.get("format")
        if fmt in ("csv", "jsonl"):
            return _download(filters, fmt)
        if fmt:
            raise InvalidInputError("'format' must be csv or jsonl")
        with get_db(current_app).read_session() as db_session:
            result = list_events(db_session, filters,
                                 cursor=request.args.get("cursor") or None, limit=PAGE_SIZE)
            events, next_cursor = result.events, result.next_cursor
            total = count_events(db_session, filters)
    except DomainError as err:
        error = err.detail
    body = render_template("admin/audit.html", args=args, events=events, error=error, total=total,
                           count_cap=COUNT_CAP,
                           next_cursor=next_cursor, paged=bool(request.args.get("cursor")),
                           actions=[a.value for a in AuditAction], outcomes=OUTCOMES)
    return make_response(body, 400 if error else 200)


def _download(filters: AuditFilter, fmt: str) -> Response:
    """Stream every matching event, oldest first; the export itself is audited first."""
    database = get_db(current_app)
    shown = {k: (v.isoformat() if isinstance(v, datetime) else v)
             for k, v in filters.active().items()}
    with UnitOfWork(database, request_info()) as uow:
        uow.audit.record(AuditAction.AUDIT_EXPORT, actor=admin().actor, target_kind="audit",
                         target_label=f"export {fmt}",
                         changes={"format": [None, fmt], "filters": [None, shown]})
        uow.commit()

    # The generator needs no request context: only the database handle and the filter.
    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if fmt == "csv":
            writer.writerow(CSV_FIELDS)
        with database.read_session() as db_session:
            for row in stream_events(db_session, filters):
                event = event_to_dict(row)
                if fmt == "csv":
                    writer.writerow(csv_row(event))
                else:
                    buffer.write(json.dumps(event) + "\n")
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = Response(generate(), mimetype=mimetype)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response


def _changes(changes: Any) -> list[tuple[str, Any, Any]]:
    """Return (field, old, new) rows from an event's changes."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for key, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            rows.append((key, value[0], value[1]))
        else:
            rows.append((key, None, value))
    return rows


@bp.get("/audit/<event_id>")
def audit_event(event_id: str) -> Response:
    """One event: every field, the changed fields old → new, links to actor and target."""
    with get_db(current_app).read_session() as db_session:
        row = get_event(db_session, event_id)
        if row is None:
            raise NotFoundError("There is no audit event with that id.")
        users = UserRepository(db_session)
        groups = GroupRepository(db_session)
        actor_user = (users.find(row.actor_id) if row.actor_id and row.actor_kind == "admin"
                      else None)
        target_exists = False
        if row.target_id and row.target_kind == "user":
            target_exists = users.find(row.target_id) is not None
        elif row.target_id and row.target_kind == "group":
            target_exists = groups.find(row.target_id) is not None
        body = render_template("admin/event.html", event=row, data=event_to_dict(row),
                               changes=_changes(row.changes),
                               actor_user_id=actor_user.id if actor_user else None,
                               target_exists=target_exists)
    return make_response(body)


# --- users -----------------------------------------------------------------------------------


def _user_filter() -> tuple[UserListFilter, dict[str, str]]:
    keys = ("q", "active", "source", "never", "idle_days")
    args = {k: request.args.get(k, "").strip() for k in keys if request.args.get(k, "").strip()}
    if len(args.get("q", "")) > 256:
        raise InvalidInputError("the search text is too long")
    active = {"yes": True, "no": False}.get(args.get("active", ""))
    if args.get("active") and active is None:
        raise InvalidInputError("'active' must be yes or no")
    source = args.get("source") or None
    if source is not None and source not in SOURCES:
        raise InvalidInputError(f"'source' must be one of {', '.join(SOURCES)}")
    idle_days = None
    if args.get("idle_days"):
        try:
            idle_days = int(args["idle_days"])
        except ValueError:
            raise InvalidInputError("'last login older than' must be a number of days") from None
        if not 0 <= idle_days <= 36500:
            raise InvalidInputError("'last login older than' must be 0 to 36500 days")
    return UserListFilter(text=args.get("q") or None, active=active, source=source,
                          never_logged_in=args.get("never") == "1", idle_days=idle_days), args


@bp.get("/users")
def users() -> Response:
    """Search and filter users, one keyset page at a time."""
    error = None
    rows: list[Any] = []
    next_after = None
    total = 0
    args: dict[str, str] = {}
    try:
        filters, args = _user_filter()
        with get_db(current_app).read_session() as db_session:
            result = browse_users(db_session, filters, after=request.args.get("after") or None,
                                  limit=PAGE_SIZE)
            rows, next_after = result.rows, result.next_after
            total = count_users(db_session, filters)
    except DomainError as err:
        error = err.detail
    body = render_template("admin/users.html", users=rows, args=args, error=error, total=total,
                           next_after=next_after, paged=bool(request.args.get("after")),
                           sources=SOURCES, email_of=_email_of)
    return make_response(body, 400 if error else 200)


def _email_of(doc: dict[str, Any]) -> str | None:
    emails = [e for e in doc.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    primary = [e for e in emails if e.get("primary") is True]
    chosen = primary or emails
    return str(chosen[0]["value"]) if chosen else None


def _render_user(user_id: str, *, error: str | None = None, status: int = 200,
                 reason: str = "") -> Response:
    with get_db(current_app).read_session() as db_session:
        repo = UserRepository(db_session)
        user = repo.find(user_id)
        if user is None:
            raise NotFoundError("There is no user with that id (it may have been deleted).")
        groups = groups_of_user(db_session, user.id)
        now = get_db(current_app).clock.now()
        grants = [grant for grant in queries.list_grants(
            db_session, queries.GrantFilter(user_id=user.id), now, limit=50)
            if queries.grant_state(grant, now) in ("active", "scheduled")]
        links = repo.links(user.id)
        trail = list_events(db_session, AuditFilter(target_id=user.id), limit=20)
        member_events = membership_events(db_session, user.id, limit=20)
        attributes = sorted(services.flatten({k: v for k, v in user.doc.items()
                                              if k != "schemas"}).items())
        body = render_template("admin/user.html", user=user, groups=groups, grants=grants,
                               now=now, grant_state=queries.grant_state, links=links,
                               events=trail.events, more_events=trail.next_cursor is not None,
                               member_events=member_events,
                               attributes=attributes, error=error, reason=reason,
                               state=dormant.state_of(user))
    return make_response(body, status)


@bp.get("/users/<user_id>")
def user(user_id: str) -> Response:
    """A user: attributes, groups, identity links, last login, audit trail, (de)activation."""
    return _render_user(user_id)


@bp.post("/users/<user_id>/active")
def set_active(user_id: str) -> Response | BaseResponse:
    """Deactivate or re-activate a user with a required reason; audited with the admin."""
    wanted = request.form.get("active")
    reason = request.form.get("reason", "")
    if wanted not in ("true", "false"):
        return _render_user(user_id, error="Choose to deactivate or re-activate.", status=400)
    active = wanted == "true"
    if not reason.strip():
        return _render_user(user_id, error="A reason is required; it goes into the audit log.",
                            status=400)
    if not active and admin().user_id == user_id:
        return _render_user(user_id, error="You cannot deactivate your own account here.",
                            status=400, reason=reason)
    try:
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            # Lock first: the service's own locked read then sees this same, current row.
            before = uow.users.get(user_id, lock=True).active
            services.set_user_active(uow, user_id, active, actor=admin().actor, reason=reason)
    except InvalidInputError as err:
        return _render_user(user_id, error=err.detail, status=400, reason=reason)
    if before == active:
        flash(f"Nothing changed: the user was already {'active' if active else 'inactive'}.")
    else:
        flash("User re-activated." if active else "User deactivated; their sessions end now.")
    return redirect(url_for("admin.user", user_id=user_id), 303)


@bp.post("/users/<user_id>/unsuspend")
def unsuspend(user_id: str) -> Response | BaseResponse:
    """Lift a dormant rule's suspension with a required reason; audited with the admin."""
    reason = request.form.get("reason", "")
    if not reason.strip():
        return _render_user(user_id, error="A reason is required; it goes into the audit log.",
                            status=400)
    try:
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            dormant.unsuspend(uow, user_id, actor=admin().actor, reason=reason)
    except InvalidInputError as err:
        return _render_user(user_id, error=err.detail, status=400, reason=reason)
    flash("Suspension lifted; the dormant clock starts again now.")
    return redirect(url_for("admin.user", user_id=user_id), 303)


# --- groups ----------------------------------------------------------------------------------


@bp.get("/groups")
def groups() -> Response:
    """Search groups by displayName, with member counts, one keyset page at a time."""
    text = request.args.get("q", "").strip()
    if len(text) > 256:
        raise InvalidInputError("the search text is too long")
    with get_db(current_app).read_session() as db_session:
        result = browse_groups(db_session, text or None, after=request.args.get("after") or None,
                               limit=PAGE_SIZE)
        counts = member_counts(db_session, [grp.id for grp in result.rows])
        total = count_groups(db_session, text or None)
    body = render_template("admin/groups.html", groups=result.rows, counts=counts, q=text,
                           total=total,
                           next_after=result.next_after, paged=bool(request.args.get("after")))
    return make_response(body)


@bp.get("/groups/<group_id>")
def group(group_id: str) -> Response:
    """A group: attributes, nested groups, and its user members one keyset page at a time."""
    after = request.args.get("after") or None
    with get_db(current_app).read_session() as db_session:
        found = GroupRepository(db_session).find(group_id)
        if found is None:
            raise NotFoundError("There is no group with that id (it may have been deleted).")
        count = member_counts(db_session, [group_id])[group_id]
        members = browse_user_members(db_session, group_id, after=after, limit=PAGE_SIZE)
        nested = group_members_of_group(db_session, group_id) if after is None else []
        body = render_template("admin/group.html", group=found, count=count,
                               members=members.rows, next_after=members.next_after,
                               paged=after is not None, nested=nested)
    return make_response(body)


# --- responses: errors as pages --------------------------------------------


def render_error(err: Exception) -> Response:
    """HTML error pages for everything under /admin; never a stack trace."""
    if isinstance(err, ConsoleError):
        return page(err.title, err.message, err.status, sign_in=err.sign_in)
    if isinstance(err, NotFoundError):
        return page("Not found", err.detail, 404)
    if isinstance(err, DomainError):
        return page("Cannot do that", err.detail, 400)
    if isinstance(err, HTTPException):
        code = err.code or 500
        return page(err.name, err.description or "", code)
    current_app.logger.exception("unhandled error in /admin")
    return page("Something went wrong", "The error was logged; quote the request id.", 500)


register_renderer(bp, render_error)

# The access pages (/admin/access/...) are routes of this blueprint, kept in their own module.
from app.web.console import access as _access  # noqa: E402, F401, I001
