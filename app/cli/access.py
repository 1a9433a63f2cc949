"""``frontdesk access``: request, decide, revoke, extend and list access; run what is due.

The operator at the CLI files requests for a named user (``--user``) under the same policy as
everyone; approving or denying names the approver (``--as``), so self-approval and approver
groups hold here too. Revoking and extending act as an admin.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from typing import NoReturn

import click

from app.access import queries
from app.access import service
from app.access.errors import AccessError
from app.access.present import grant_to_dict
from app.access.present import request_to_dict
from app.access.principal import Principal
from app.access.sweep import sweep
from app.audit.events import Actor
from app.cli.common import cli_actor
from app.cli.common import echo
from app.cli.common import fail
from app.cli.common import open_app
from app.models import AccessRequest
from app.outbox import deliver_due
from app.repository.accounts import GroupRepository
from app.repository.accounts import UserRepository
from app.uow import UnitOfWork
from app.web.context import get_access_config
from app.web.context import get_db
from config.durations import DurationError
from config.durations import parse_duration


def _operator() -> Principal:
    return Principal(cli_actor(), "cli", admin=True)


def _as(uow: UnitOfWork, user_name: str) -> Principal:
    """The operator acting for the approver ``user_name`` (policy applies to them)."""
    user = uow.users.find_by_user_name(user_name)
    if user is None:
        fail(f"no user named '{user_name}'")
    operator = cli_actor()
    return Principal(Actor("cli", operator.id, f"{operator.label} as {user.user_name}"), "cli",
                     user.id, user.user_name)


def _duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError as err:
        fail(str(err))


def _refused(err: AccessError) -> NoReturn:
    fail(f"{err.code}: {err.detail}")


def _echo_request(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo(json.dumps(data))
        return
    grant = data.get("grant")
    echo(f"{data['id']}  {data['state']:9} {data['user']} → {data['group']}  "
               f"({data['policy']})")
    if grant:
        echo(f"  grant {grant['id']}  {grant['state']}  {grant['starts_at']} → "
                   f"{grant['ends_at']}")


@click.group()
def access() -> None:
    """Just-in-time access: requests, approvals, grants."""


@access.command("request")
@click.argument("group")
@click.option("--user", "user_name", required=True, help="Who the access is for (userName).")
@click.option("--duration", default=None, help="e.g. 2h, PT2H, 3600 (default: the policy's).")
@click.option("--reason", default=None)
@click.option("--ticket", default=None)
@click.option("--break-glass", is_flag=True, help="Emergency access, where policy allows it.")
@click.option("--dry-run", is_flag=True, help="Say what policy would decide; write nothing.")
@click.option("--json", "as_json", is_flag=True)
def access_request(group: str, user_name: str, duration: str | None, reason: str | None,
                   ticket: str | None, break_glass: bool, dry_run: bool, as_json: bool) -> None:
    """Ask for USER's membership of GROUP for a while."""
    ask = service.Ask(group=group, user=user_name, duration=_duration(duration), reason=reason,
                      ticket=ticket, break_glass=break_glass)
    with open_app() as app, UnitOfWork(get_db(app)) as uow:
        try:
            if dry_run:
                decision = service.dry_run(uow, get_access_config(app), _operator(), ask)
                body = decision.to_dict()
                echo(json.dumps(body) if as_json else
                           f"{body['decision']}: {body['rule']} "
                           f"({body['duration_seconds']} s, until {body['ends_at']})")
                return
            row, _ = service.request_access(uow, get_access_config(app), _operator(), ask)
        except AccessError as err:
            _refused(err)
        _echo_request(_load(app, row.id), as_json)


def _load(app: Any, request_id: str) -> dict[str, Any]:
    db = get_db(app)
    with db.read_session() as session:
        row = session.get(AccessRequest, request_id)
        if row is None:
            fail(f"no access request {request_id}")
        return request_to_dict(row, db.clock.now(),
                               reviews=queries.reviews_of(session, [row.id])[row.id],
                               grants=queries.grants_of_requests(session, [row.id])[row.id])


def _decide(verb: str, request_id: str, approver: str, reason: str | None,
            as_json: bool) -> None:
    with open_app() as app, UnitOfWork(get_db(app)) as uow:
        principal = _as(uow, approver)
        try:
            if verb == "approve":
                service.approve(uow, get_access_config(app), principal, request_id, reason)
            else:
                service.deny(uow, get_access_config(app), principal, request_id, reason)
        except AccessError as err:
            _refused(err)
        _echo_request(_load(app, request_id), as_json)


@access.command("approve")
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="The approver (userName).")
@click.option("--reason", default=None)
@click.option("--json", "as_json", is_flag=True)
def access_approve(request_id: str, approver: str, reason: str | None, as_json: bool) -> None:
    """Approve a pending request as an approver of its policy."""
    _decide("approve", request_id, approver, reason, as_json)


@access.command("deny")
@click.argument("request_id")
@click.option("--as", "approver", required=True, help="The approver (userName).")
@click.option("--reason", default=None)
@click.option("--json", "as_json", is_flag=True)
def access_deny(request_id: str, approver: str, reason: str | None, as_json: bool) -> None:
    """Deny a pending request as an approver of its policy."""
    _decide("deny", request_id, approver, reason, as_json)


@access.command("revoke")
@click.argument("grant_id")
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
def access_revoke(grant_id: str, reason: str) -> None:
    """End a grant now (and any extension of it)."""
    with open_app() as app, UnitOfWork(get_db(app)) as uow:
        try:
            grant = service.revoke(uow, get_access_config(app), _operator(), grant_id, reason)
        except AccessError as err:
            _refused(err)
        echo(f"revoked {grant.id}: {grant.user_name} no longer has {grant.group_name}")


@access.command("extend")
@click.argument("grant_id")
@click.option("--duration", required=True, help="How much longer: 1h, PT30M, 1800.")
@click.option("--reason", default=None)
def access_extend(grant_id: str, duration: str, reason: str | None) -> None:
    """Extend a grant with a linked grant that starts where it ends (no gap)."""
    delta = _duration(duration)
    assert delta is not None
    with open_app() as app, UnitOfWork(get_db(app)) as uow:
        try:
            grant = service.extend(uow, get_access_config(app), _operator(), grant_id, delta,
                                   reason)
        except AccessError as err:
            _refused(err)
        echo(f"extended: grant {grant.id} until {grant.ends_at.isoformat()}")


@access.command("list")
@click.option("--state", default=None, help="pending, approved, denied, withdrawn, expired")
@click.option("--user", "user_name", default=None)
@click.option("--group", default=None)
@click.option("--grants", "show_grants", is_flag=True, help="List grants instead of requests.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def access_list(state: str | None, user_name: str | None, group: str | None,
                show_grants: bool, as_json: bool) -> None:
    """List requests (or grants), newest first."""
    with open_app() as app:
        db = get_db(app)
        now = db.clock.now()
        with db.read_session() as session:
            user_id = group_id = None
            if user_name:
                user = UserRepository(session).find_by_user_name(user_name)
                if user is None:
                    fail(f"no user named '{user_name}'")
                user_id = user.id
            if group:
                g = GroupRepository(session).find_by_display_name(group)
                if g is None:
                    fail(f"no group named '{group}'")
                group_id = g.id
            if show_grants:
                for grant in queries.list_grants(session, queries.GrantFilter(
                        user_id=user_id, group_id=group_id, state=state), now, limit=500):
                    data = grant_to_dict(grant, now)
                    echo(json.dumps(data) if as_json else
                               f"{data['id']}  {data['state']:9} {data['user']} in "
                               f"{data['group']}  {data['starts_at']} → {data['ends_at']}")
                return
            rows = queries.list_requests(session, queries.RequestFilter(
                state=state, user_id=user_id, group_id=group_id), limit=500)
            grants = queries.grants_of_requests(session, [r.id for r in rows])
            for row in rows:
                _echo_request(request_to_dict(row, now, grants=grants[row.id]), as_json)


@access.command("show")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True)
def access_show(request_id: str, as_json: bool) -> None:
    """Show one request with its reviews and grant."""
    with open_app() as app:
        data = _load(app, request_id)
    if as_json:
        echo(json.dumps(data))
        return
    _echo_request(data, False)
    for review in data["reviews"]:
        echo(f"  {review['decision']:8} by {review['reviewer']} at {review['at']}: "
                   f"{review['reason'] or ''}")


@access.command("sweep")
def access_sweep() -> None:
    """Do now what is due (expire requests, start and end grants, send webhooks): what the
    built-in schedule does, for cron."""
    with open_app() as app:
        db = get_db(app)
        result = sweep(db)
        sent = deliver_due(db)
    echo(f"expired {result.expired} requests, started {result.started} grants, "
               f"ended {result.ended}, warned {result.ending_soon}; delivered {sent} webhooks")

