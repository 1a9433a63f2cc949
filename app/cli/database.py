"""``frontdesk db``: the schema."""

from __future__ import annotations

import click

from app import migrate
from app.cli.common import cli_settings
from app.db import display_url


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    settings = cli_settings()
    if not settings.database_url:
        from pathlib import Path

        Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    click.echo(f"database: {display_url(url)}")
    result = migrate.upgrade(url)
    if not result.changed:
        click.echo(f"already at {result.after} (the newest schema): database is up to date")
    elif result.before is None:
        click.echo(f"created the schema at {result.after}: database is up to date")
    else:
        click.echo(f"upgraded from {result.before} to {result.after}: database is up to date")
