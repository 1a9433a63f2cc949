"""What the doors take from the shell: the app's settings, its database, the request's reads.

The doors (``scim``, ``jit``, the console, the API) import these instead of the composition
root, so nothing below the factory depends on it.
"""

from __future__ import annotations

from flask import Flask
from flask import g
from sqlalchemy import Connection
from sqlalchemy.orm import Session

import config
from app.access.policy import AccessConfig
from app.db import Database

SETTINGS_KEY = "frontdesk.settings"
DB_KEY = "frontdesk.db"
ACCESS_KEY = "frontdesk.access"


def init_app(app: Flask, settings: config.Settings, db: Database, access: AccessConfig
             ) -> None:
    """Keep the settings, the database and the access policies on the app; close a request's
    reads at teardown."""
    app.extensions[SETTINGS_KEY] = settings
    app.extensions[DB_KEY] = db
    app.extensions[ACCESS_KEY] = access

    @app.teardown_appcontext
    def _close_request_reads(_exc: BaseException | None) -> None:
        session = g.pop("frontdesk_read_session", None)
        if session is not None:
            session.close()
        connection = g.pop("frontdesk_read_connection", None)
        if connection is not None:
            connection.close()


def get_settings(app: Flask) -> config.Settings:
    """Return the app's settings."""
    settings: config.Settings = app.extensions[SETTINGS_KEY]
    return settings


def get_access_config(app: Flask) -> AccessConfig:
    """Return the app's access policies (validated at start-up)."""
    access: AccessConfig = app.extensions[ACCESS_KEY]
    return access


def get_db(app: Flask) -> Database:
    """Return the app's database handle."""
    db: Database = app.extensions[DB_KEY]
    return db


def request_connection(app: Flask) -> Connection:
    """Return this request's read connection (closed at teardown).

    The token check and the searches run plain statements on it: an ORM session costs more
    than the indexed lookup itself on the hot path (``userName eq``). Writes never use it: they
    go through a ``UnitOfWork`` on the write session.
    """
    connection: Connection | None = g.get("frontdesk_read_connection")
    if connection is None:
        connection = g.frontdesk_read_connection = get_db(app).read_connection()
    return connection


def request_session(app: Flask) -> Session:
    """Return this request's ORM read session, on the request's read connection."""
    session: Session | None = g.get("frontdesk_read_session")
    if session is None:
        session = g.frontdesk_read_session = get_db(app).read_session(
            bind=request_connection(app))
    return session
