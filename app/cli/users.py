"""``frontdesk users``: look a user up, deactivate or re-activate them."""

from __future__ import annotations

from typing import Any

import click

from app import services
from app.cli.common import cli_actor
from app.cli.common import echo
from app.cli.common import fail
from app.cli.common import open_database
from app.errors import DomainError
from app.repository.accounts import UserRepository
from app.uow import UnitOfWork


@click.group()
def users() -> None:
    """Users: look one up, deactivate or re-activate (audited, with a reason)."""


def _user_by_name(users: UserRepository, user_name: str) -> Any:
    user = users.find_by_user_name(user_name)
    if user is None:
        fail(f"no user named '{user_name}'")
    return user


@users.command("show")
@click.argument("user_name")
def users_show(user_name: str) -> None:
    """Print a user's state, groups and identity links."""
    # A read session: reading must not take (or wait for) SQLite's write lock.
    with open_database() as database, database.read_session() as session:
        repository = UserRepository(session)
        user = _user_by_name(repository, user_name)
        groups = repository.groups_of([user.id])[user.id]
        links = repository.links(user.id)
        echo(f"id:          {user.id}")
        echo(f"userName:    {user.user_name}")
        echo(f"active:      {'yes' if user.active else 'no'}")
        echo(f"source:      {user.source}")
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never"
        echo(f"last login:  {last}")
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
