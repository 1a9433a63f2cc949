"""What every ``frontdesk`` command shares: the app (built by the same factory as gunicorn's),
its settings and database, the audit actor, and one-line failures."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from flask import Flask

import config
from app.audit.events import Actor
from app.db import Database
from app.text import printable
from app.web.context import get_db
from app.web.context import get_settings
from app.web.factory import create_app


def cli_actor() -> Actor:
    """Return the audit actor for whoever runs the command."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor("cli", who, f"cli:{who}")


def cli_app() -> Flask:
    """Build the app as gunicorn does, from the environment and the TOML file, and open its
    database once: a wrong URL or a database that is down fails here, in one line."""
    app = create_app()
    get_db(app).check_connection()
    return app


def cli_settings() -> config.Settings:
    """Return the settings the app is built with (its database checked, then closed)."""
    app = cli_app()
    get_db(app).dispose()
    return get_settings(app)


@contextmanager
def open_app() -> Iterator[Flask]:
    """Yield the app, built as gunicorn builds it; close its database afterwards."""
    app = cli_app()
    try:
        yield app
    finally:
        get_db(app).dispose()


@contextmanager
def open_database() -> Iterator[Database]:
    """Yield the app's database (audit guards and SIEM sink as under gunicorn), then close it."""
    db = get_db(cli_app())
    try:
        yield db
    finally:
        db.dispose()


def echo(message: str, *, err: bool = False) -> None:
    """Print a line that may hold stored text (a userName, a label, an audit reason), with what
    is not printable escaped (app.text.printable): an IdP's value must never drive the
    operator's terminal (ESC, CSI) or forge a line."""
    click.echo(printable(message), err=err)


def fail(message: str) -> NoReturn:
    """End the command with one line on stderr and exit status 1."""
    echo(f"error: {message}", err=True)
    sys.exit(1)
