"""The test databases: SQLite always, PostgreSQL when ``FRONTDESK_TEST_DATABASE_URL`` is set.

Each pytest-xdist worker gets its own: a SQLite file in its own temporary folder, and a
PostgreSQL database named after the configured one plus the worker (``test_gw0``), created on
first use. The schema is migrated once per session with Alembic; between tests every table is
emptied with plain DELETEs in one transaction (TRUNCATE costs a few hundred milliseconds a test
on PostgreSQL; DELETE of a few rows, a few).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy import text

import app.models  # noqa: F401 - fills Base.metadata with every table
from app import migrate
from app.audit import triggers
from app.db import Base
from app.db import Database

PG_URL = os.environ.get("FRONTDESK_TEST_DATABASE_URL", "")
DIALECTS = ["sqlite"] + (["postgresql"] if PG_URL else [])
GENESIS = "0" * 64
SINGLETONS = ("audit_head", "audit_anchor")  # one row each: reset to the genesis, never deleted
# Children before parents, so no foreign key is ever in the way.
TABLES = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in SINGLETONS]
SERIAL_TABLES = [t.name for t in Base.metadata.sorted_tables
                 if t.name not in SINGLETONS and t.autoincrement_column is not None]


def xdist_worker() -> str:
    """``gw0``, ``gw1``... under pytest-xdist; ``""`` in a plain run."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_url(url: str, worker: str) -> str:
    """The PostgreSQL database of one xdist worker: the configured name plus ``_<worker>``."""
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


def prepare_postgresql(url: str) -> str:
    """Create the database if it is missing, replace its schema by a freshly migrated one."""
    parsed = make_url(url)
    server = Database(parsed.set(database="postgres").render_as_string(hide_password=False),
                      isolation_level="AUTOCOMMIT")
    try:
        with server.engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": parsed.database}).first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    finally:
        server.dispose()
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            # Start from nothing: a previous run's schema may be older than ours.
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        db.dispose()
    migrate.upgrade(url)
    return url


def prepare_sqlite(folder: Path) -> str:
    url = f"sqlite:///{folder / 'frontdesk.db'}"
    migrate.upgrade(url)
    return url


def _emptying_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        guard_off = ["SET LOCAL frontdesk.audit_prune = 'on'"]
        guard_on: list[str] = []
        restart = [f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), 1, false)"
                   for t in SERIAL_TABLES]
    else:
        guard_off = ["DROP TRIGGER IF EXISTS audit_events_no_delete"]
        guard_on = [triggers.SQLITE_NO_DELETE]
        restart = []  # rowids start again from the largest left, and none is left
    return [
        *guard_off,
        *(f"DELETE FROM {table}" for table in TABLES),  # noqa: S608 - the metadata's names
        *guard_on,
        *restart,
        *(f"UPDATE {table} SET seq = 0, hash = '{GENESIS}'" for table in SINGLETONS),  # noqa: S608
    ]


def empty_database(db: Database) -> None:
    """Delete every row and reset the audit chain to its genesis, in one transaction."""
    statements = _emptying_statements(db.dialect)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql(";\n".join(statements))  # one round trip
    else:
        with db.write_engine.begin() as conn:  # BEGIN IMMEDIATE: one transaction, not twelve
            for statement in statements:
                conn.exec_driver_sql(statement)
