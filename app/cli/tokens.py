"""``frontdesk tokens``: API bearer tokens."""

from __future__ import annotations

import click

from app import services
from app.cli.common import cli_actor
from app.cli.common import echo
from app.cli.common import fail
from app.cli.common import open_database
from app.errors import DomainError
from app.tokens import SCOPES
from app.tokens import TokenRepository
from app.uow import UnitOfWork


@click.group()
def tokens() -> None:
    """API bearer tokens (SCIM clients, audit readers, access apps, personal tokens)."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              default=("scim",), show_default=True, help="Repeat for several scopes.")
@click.option("--user", "user_name", default=None, metavar="USERNAME",
              help="A personal token that acts as this user (needed for --scope access).")
def tokens_create(name: str, scopes: tuple[str, ...], user_name: str | None) -> None:
    """Create a token; the token is printed once, on the last line."""
    with open_database() as database, UnitOfWork(database) as uow:
        try:
            row, plaintext = services.create_token(uow, name, scopes, actor=cli_actor(),
                                                   user_name=user_name)
        except DomainError as err:
            fail(err.detail)
            return
    echo(f"created token '{row.name}' with scopes: {row.scopes}", err=True)
    echo("store it now; it cannot be shown again:", err=True)
    echo(plaintext)


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    # A read session: reading must not take (or wait for) SQLite's write lock.
    with open_database() as database, database.read_session() as session:
        rows = TokenRepository(session).list()
        echo(f"{'NAME':24} {'SCOPES':18} {'CREATED':20} {'LAST USED':20} STATUS")
        for row in rows:
            used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never"
            status = "revoked" if row.revoked_at else "active"
            echo(f"{row.name:24} {row.scopes:18} "
                       f"{row.created_at.strftime('%Y-%m-%d %H:%M'):20} {used:20} {status}")


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token by name; it stops working at once."""
    with open_database() as database, UnitOfWork(database) as uow:
        try:
            services.revoke_token(uow, name, actor=cli_actor())
        except DomainError as err:
            fail(err.detail)
    echo(f"revoked token '{name}'")
