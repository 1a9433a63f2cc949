"""``frontdesk admin``: console access."""

from __future__ import annotations

import click

from app.admins import create_login_link
from app.cli.common import cli_actor
from app.cli.common import cli_settings
from app.cli.common import echo
from app.cli.common import open_database
from app.uow import UnitOfWork


@click.group()
def admin() -> None:
    """Admin console access."""


@admin.command("login-link")
@click.option("--label", default=None, help="Who the link is for (shown in the audit log).")
def admin_login_link(label: str | None) -> None:
    """Print a one-time admin sign-in URL, valid for 10 minutes."""
    settings = cli_settings()
    actor = cli_actor()
    with open_database() as database, UnitOfWork(database) as uow:
        row, secret = create_login_link(uow, label or actor.label or "cli", actor=actor)
    echo(f"one-time admin sign-in link for '{row.label}', valid until "
               f"{row.expires_at:%H:%M} UTC:", err=True)
    echo(f"{settings.base_url.rstrip('/')}/admin/login/{secret}")
