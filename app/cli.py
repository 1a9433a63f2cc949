"""The ``frontdesk`` command: tokens, database migrations, the audit log.

Every write goes through the service layer with the CLI user as the audit actor.
"""

from __future__ import annotations

import csv
import getpass
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

import config
from app import migrate
from app import services
from app.admin_auth import create_login_link
from app.api import filter_from_args
from app.api import parse_time
from app.audit import Actor
from app.audit import guard_append_only
from app.audit import verify_chain
from app.audit_prune import prune_before
from app.audit_query import CSV_FIELDS
from app.audit_query import AuditFilter
from app.audit_query import csv_row
from app.audit_query import event_to_dict
from app.audit_query import list_events
from app.audit_query import stream_events
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
    db.audit_log_file = settings.audit_log_file
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


def _line(row: Any) -> str:
    target = row.target_label or row.target_id or ""
    reason = f" ({row.reason})" if row.reason else ""
    kind = row.target_kind or ""
    return (f"{row.occurred_at:%Y-%m-%d %H:%M:%S} #{row.seq:<7} {row.action:24} "
            f"{row.outcome + reason:20} {row.actor_label or '':28} {kind}:{target}")


def _filter_options(func: Any) -> Any:
    for name, help_text in reversed((
        ("--action", "exact action, or a prefix ending in ':' (user:)"),
        ("--actor", "actor id, or KIND:ID"),
        ("--target", "target id or label (userName, displayName)"),
        ("--outcome", "success or denied"),
    )):
        func = click.option(name, default=None, help=help_text)(func)
    return func


def _build_filter(action: str | None, actor: str | None, target: str | None,
                  outcome: str | None, since: str | None = None) -> AuditFilter:
    args = {"action": action, "actor": actor, "target": target, "outcome": outcome,
            "since": since}
    try:
        return filter_from_args({k: v for k, v in args.items() if v})
    except DomainError as err:
        _fail(err.detail)
        raise


@audit.command("tail")
@click.option("-n", "--lines", default=20, show_default=True, help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@_filter_options
def audit_tail(lines: int, as_json: bool, follow: bool, action: str | None, actor: str | None,
               target: str | None, outcome: str | None) -> None:
    """Print the newest events (oldest of them first); --follow waits for more."""
    filters = _build_filter(action, actor, target, outcome)

    def show(row: Any) -> None:
        click.echo(json.dumps(event_to_dict(row)) if as_json else _line(row))

    with _database() as database:
        with database.read_session() as session:
            page = list_events(session, filters, limit=max(1, min(lines, 500)))
            rows = page.events[::-1]
            for row in rows:
                show(row)
            last = rows[-1].seq if rows else _latest_seq(session)
        while follow:
            time.sleep(1.0)
            with database.read_session() as session:
                for row in stream_events(session, filters, after_seq=last):
                    show(row)
                    last = row.seq


def _latest_seq(session: Any) -> int:
    page = list_events(session, AuditFilter(), limit=1)
    return page.events[0].seq if page.events else 0


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--since", default=None, help="Only events at or after this ISO 8601 time.")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default stdout).")
@_filter_options
def audit_export(fmt: str, since: str | None, output: Any, action: str | None,
                 actor: str | None, target: str | None, outcome: str | None) -> None:
    """Stream events, oldest first, as JSON lines or CSV (constant memory)."""
    filters = _build_filter(action, actor, target, outcome, since)
    writer = csv.writer(output) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_FIELDS)
    count = 0
    started = time.monotonic()
    progress = sys.stderr.isatty()
    with _database() as database, database.read_session() as session:
        for row in stream_events(session, filters):
            event = event_to_dict(row)
            if writer is not None:
                writer.writerow(csv_row(event))
            else:
                output.write(json.dumps(event) + "\n")
            count += 1
            if progress and count % 10000 == 0:
                rate = count / max(time.monotonic() - started, 1e-6)
                click.echo(f"\r{count:,} events ({rate:,.0f}/s)", err=True, nl=False)
    if progress:
        click.echo("", err=True)
    click.echo(f"exported {count:,} events", err=True)


@audit.command("prune")
@click.option("--before", required=True, help="Delete events that occurred before this date.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def audit_prune(before: str, yes: bool) -> None:
    """Delete old events; the chain is re-anchored and still verifies."""
    try:
        cutoff = parse_time("before", before)
    except DomainError as err:
        _fail(err.detail)
        return
    assert cutoff is not None
    if not yes:
        click.confirm(f"Delete every audit event before {cutoff.isoformat()}?", abort=True)
    with _database() as database, UnitOfWork(database) as uow:
        result = prune_before(uow, cutoff, actor=_actor())
    if not result.deleted:
        click.echo("nothing to prune")
        return
    click.echo(f"pruned {result.deleted:,} events (#{result.first_seq}-#{result.last_seq}); "
               f"the chain now starts after #{result.last_seq}")


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 naming the first bad event."""
    with _database() as database, database.snapshot_session() as session:
        result = verify_chain(session)
    if result.ok:
        click.echo(f"ok: {result.checked} events, chain intact")
        return
    click.echo(f"FAILED at event #{result.bad_seq}: {result.problem} "
               f"({result.checked} events verified before it)", err=True)
    sys.exit(1)


@main.group()
def admin() -> None:
    """Admin console access."""


@admin.command("login-link")
@click.option("--label", default=None, help="Who the link is for (shown in the audit log).")
def admin_login_link(label: str | None) -> None:
    """Print a one-time admin sign-in URL, valid for 10 minutes."""
    settings = config.load()
    actor = _actor()
    with _database() as database, UnitOfWork(database) as uow:
        row, secret = create_login_link(uow, label or actor.label or "cli", actor=actor)
    click.echo(f"one-time admin sign-in link for '{row.label}', valid until "
               f"{row.expires_at:%H:%M} UTC:", err=True)
    click.echo(f"{settings.base_url.rstrip('/')}/admin/login/{secret}")


@main.group()
def users() -> None:
    """Users: look one up, deactivate or re-activate (audited, with a reason)."""


def _user_by_name(uow: UnitOfWork, user_name: str) -> Any:
    user = uow.users.find_by_user_name(user_name)
    if user is None:
        _fail(f"no user named '{user_name}'")
    return user


@users.command("show")
@click.argument("user_name")
def users_show(user_name: str) -> None:
    """Print a user's state, groups and identity links."""
    with _database() as database, UnitOfWork(database) as uow:
        user = _user_by_name(uow, user_name)
        groups = uow.users.groups_of([user.id])[user.id]
        links = uow.users.links(user.id)
        click.echo(f"id:          {user.id}")
        click.echo(f"userName:    {user.user_name}")
        click.echo(f"active:      {'yes' if user.active else 'no'}")
        click.echo(f"source:      {user.source}")
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never"
        click.echo(f"last login:  {last}")
        click.echo(f"groups:      {', '.join(name for _, name in groups) or '-'}")
        for link in links:
            click.echo(f"linked:      {link.idp_entity_id} as {link.name_id}")


def _set_active(user_name: str, active: bool, reason: str) -> None:
    with _database() as database, UnitOfWork(database) as uow:
        user = _user_by_name(uow, user_name)
        try:
            services.set_user_active(uow, user.id, active, actor=_actor(), reason=reason)
        except DomainError as err:
            _fail(err.detail)
    click.echo(f"{user_name} is {'active' if active else 'deactivated'}")


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
