"""``frontdesk db``: the schema."""

from __future__ import annotations

import click

from app import migrate
from app.cli.common import cli_settings


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
    migrate.upgrade(settings.resolved_database_url)
    click.echo("database is up to date")
