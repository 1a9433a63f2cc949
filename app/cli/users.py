"""``frontdesk users``: look a user up, deactivate or re-activate them, preview the dormant
rules, lift a suspension."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import Any

import click

from app import services
from app.cli.common import cli_actor
from app.cli.common import echo
from app.cli.common import fail
from app.cli.common import open_app
from app.cli.common import open_database
from app.errors import DomainError
from app.lifecycle import dormant
from app.repository.accounts import UserRepository
from app.uow import UnitOfWork
from app.web.context import get_db
from app.web.context import get_settings


@click.group()
def users() -> None:
    """Users: look one up, deactivate or re-activate (audited, with a reason)."""


def _user_by_name(users: UserRepository, user_name: str) -> Any:
    user = users.find_by_user_name(user_name)
    if user is None:
        fail(f"no user named '{user_name}'")
    return user


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


@users.command("show")
@click.argument("user_name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def users_show(user_name: str, as_json: bool) -> None:
    """Print a user's state, last activity, groups and identity links."""
    # A read session: reading must not take (or wait for) SQLite's write lock.
    with open_database() as database, database.read_session() as session:
        repository = UserRepository(session)
        user = _user_by_name(repository, user_name)
        groups = repository.groups_of([user.id])[user.id]
        links = repository.links(user.id)
        if as_json:
            click.echo(json.dumps({
                "id": user.id, "userName": user.user_name, "active": user.active,
                "state": dormant.state_of(user), "source": user.source,
                "created_at": _iso(user.created_at), "last_login_at": _iso(user.last_login_at),
                "last_activity_at": _iso(user.last_activity_at),
                "last_activity_kind": user.last_activity_kind,
                "suspended_at": _iso(user.suspended_at),
                "suspended_reason": user.suspended_reason,
                "groups": [name for _, name in groups],
                "links": [{"idp": link.idp_entity_id, "nameId": link.name_id}
                          for link in links]}, indent=2))
            return
        echo(f"id:          {user.id}")
        echo(f"userName:    {user.user_name}")
        echo(f"active:      {'yes' if user.active else 'no'}")
        echo(f"state:       {dormant.state_of(user)}")
        if user.suspended_at is not None:
            echo(f"suspended:   {_when(user.suspended_at)} ({user.suspended_reason})")
        echo(f"source:      {user.source}")
        echo(f"last login:  {_when(user.last_login_at)}")
        activity = (f"{_when(user.last_activity_at)} ({user.last_activity_kind})"
                    if user.last_activity_at else f"never (created {_when(user.created_at)})")
        echo(f"activity:    {activity}")
        echo(f"groups:      {', '.join(name for _, name in groups) or '-'}")
        for link in links:
            echo(f"linked:      {link.idp_entity_id} as {link.name_id}")


def _set_active(user_name: str, active: bool, reason: str) -> None:
    with open_database() as database, UnitOfWork(database) as uow:
        user = _user_by_name(uow.users, user_name)
        try:
            services.set_user_active(uow, user.id, active, actor=cli_actor(), reason=reason)
        except DomainError as err:
            fail(err.detail)
    echo(f"{user_name} is {'active' if active else 'deactivated'}")


@users.command("deactivate")
@click.argument("user_name")
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
def users_deactivate(user_name: str, reason: str) -> None:
    """Deactivate a user: SSO refuses them and their sessions end at the next request."""
    _set_active(user_name, False, reason)


@users.command("activate")
@click.argument("user_name")
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
def users_activate(user_name: str, reason: str) -> None:
    """Re-activate a user."""
    _set_active(user_name, True, reason)


@users.command("unsuspend")
@click.argument("user_name")
@click.option("--reason", required=True, help="Why; recorded in the audit log.")
def users_unsuspend(user_name: str, reason: str) -> None:
    """Lift a dormant rule's suspension (the dormant clock restarts now)."""
    with open_database() as database, UnitOfWork(database) as uow:
        user = _user_by_name(uow.users, user_name)
        try:
            dormant.unsuspend(uow, user.id, actor=cli_actor(), reason=reason)
        except DomainError as err:
            fail(err.detail)
    click.echo(f"{user_name}'s suspension is lifted")


PREVIEW_FIELDS = ("rule", "outcome", "action", "userName", "source", "lastActivityAt",
                  "lastActivityKind", "inactiveSince", "warnedAt", "actsAt", "userId")


@users.command("dormant")
@click.option("--preview", is_flag=True, help="Accepted for clarity: this command only previews.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line instead of a table.")
def users_dormant(preview: bool, as_json: bool, as_csv: bool) -> None:
    """Preview the dormant rules, writing nothing: who would be warned (warn), who was warned
    and is in the grace period (pending), who would be acted on (act), and why."""
    if as_json and as_csv:
        fail("choose one of --json and --csv")
    with open_app() as app:
        lines = dormant.preview(get_db(app), get_db(app).lifecycle,
                                get_settings(app).admin_groups)
    rows = [line.to_dict() for line in lines]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=PREVIEW_FIELDS, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    if not rows:
        click.echo("no dormant users")
        return
    click.echo(f"{'RULE':12} {'OUTCOME':8} {'ACTION':10} {'USER':24} {'LAST ACTIVITY':26} "
               "ACTS AT")
    for line in lines:
        last = (f"{_when(line.last_activity_at)} {line.last_activity_kind}"
                if line.last_activity_at else f"created {_when(line.inactive_since)}")
        click.echo(f"{line.rule:12} {line.outcome:8} {line.action:10} {line.user_name:24} "
                   f"{last:26} {_when(line.acts_at)}")
