"""The ``frontdesk`` command: tokens, database migrations, the audit log.

Every write goes through the service layer with the CLI user as the audit actor.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

import config
from app import migrate
from app import services
from app.audit import Actor
from app.audit import guard_append_only
from app.audit import recent
from app.audit import verify_chain
from app.db import Database
from app.errors import DomainError
from app.tokens import SCOPES
from app.uow import UnitOfWork


def _actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor("cli", who, f"cli:{who}")


@contextmanager
def _database() -> Iterator[Database]:
    settings = config.load()
    db = Database(settings.resolved_database_url)
    guard_append_only(db.write_session)
    try:
        yield db
    finally:
        db.dispose()


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def main() -> None:
    """Frontdesk: SCIM 2.0 provisioning and SAML sign-up on one user store and audit log."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    settings = config.load()
    if not settings.database_url:
        from pathlib import Path

        Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    click.echo("database is up to date")


@main.group()
def tokens() -> None:
    """API bearer tokens (SCIM clients, audit readers)."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              default=("scim",), show_default=True, help="Repeat for several scopes.")
def tokens_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; the token is printed once, on the last line."""
    with _database() as database, UnitOfWork(database) as uow:
        try:
            row, plaintext = services.create_token(uow, name, scopes, actor=_actor())
        except DomainError as err:
            _fail(err.detail)
            return
    click.echo(f"created token '{row.name}' with scopes: {row.scopes}", err=True)
    click.echo("store it now; it cannot be shown again:", err=True)
    click.echo(plaintext)


@tokens.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""
    with _database() as database, UnitOfWork(database) as uow:
        rows = uow.tokens.list()
        click.echo(f"{'NAME':24} {'SCOPES':18} {'CREATED':20} {'LAST USED':20} STATUS")
        for row in rows:
            used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never"
            status = "revoked" if row.revoked_at else "active"
            click.echo(f"{row.name:24} {row.scopes:18} "
                       f"{row.created_at.strftime('%Y-%m-%d %H:%M'):20} {used:20} {status}")


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token by name; it stops working at once."""
    with _database() as database, UnitOfWork(database) as uow:
        try:
            services.revoke_token(uow, name, actor=_actor())
        except DomainError as err:
            _fail(err.detail)
    click.echo(f"revoked token '{name}'")


@main.group()
def audit() -> None:
    """The audit log."""


def _event_dict(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq, "id": row.id, "occurred_at": row.occurred_at.isoformat(),
        "actor": {"kind": row.actor_kind, "id": row.actor_id, "label": row.actor_label},
        "action": row.action,
        "target": {"kind": row.target_kind, "id": row.target_id, "label": row.target_label},
        "outcome": row.outcome, "reason": row.reason, "changes": row.changes,
        "request_id": row.request_id, "source_ip": row.source_ip,
    }


@audit.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def audit_tail(lines: int, as_json: bool) -> None:
    """Print the newest events, oldest of them first."""
    with _database() as database, database.read_session() as session:
        rows = list(recent(session, max(lines, 0)))[::-1]
        for row in rows:
            if as_json:
                click.echo(json.dumps(_event_dict(row), default=str))
            else:
                target = row.target_label or row.target_id or ""
                click.echo(f"{row.occurred_at:%Y-%m-%d %H:%M:%S} #{row.seq:<6} "
                           f"{row.action:22} {row.outcome:8} {row.actor_label or '':24} "
                           f"{row.target_kind or ''}:{target}")


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 naming the first bad event."""
    with _database() as database, database.read_session() as session:
        result = verify_chain(session)
    if result.ok:
        click.echo(f"ok: {result.checked} events, chain intact")
        return
    click.echo(f"FAILED at event #{result.bad_seq}: {result.problem} "
               f"({result.checked} events verified before it)", err=True)
    sys.exit(1)
