"""Database-level append-only guard for ``audit_events`` (SQLite and PostgreSQL triggers).

Code never updates or deletes an event (``audit.guard_append_only``); these triggers make the
database refuse it too, for any client. ``frontdesk audit prune`` is the one sanctioned delete:
on PostgreSQL it sets ``frontdesk.audit_prune`` for its own transaction, on SQLite it lifts the
delete trigger inside its own transaction. For a stronger guarantee on PostgreSQL, also run the
service as a role without UPDATE, DELETE and TRUNCATE on the table (see the README).
"""

from __future__ import annotations

from typing import Any

SQLITE_NO_UPDATE = (
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
)
SQLITE_NO_DELETE = (
    "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
)
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION frontdesk_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('frontdesk.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION frontdesk_audit_append_only()"
)


def install(execute: Any, dialect: str) -> None:
    """Create the guard with ``execute(sql)`` (an Alembic ``op.execute`` or a connection's)."""
    if dialect == "postgresql":
        execute(PG_FUNCTION)
        execute(PG_TRIGGER)
    else:
        execute(SQLITE_NO_UPDATE)
        execute(SQLITE_NO_DELETE)


def remove(execute: Any, dialect: str) -> None:
    """Drop the guard (migration downgrade)."""
    if dialect == "postgresql":
        execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        execute("DROP FUNCTION IF EXISTS frontdesk_audit_append_only()")
    else:
        execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def allow_delete(execute: Any, dialect: str) -> None:
    """Let the current transaction delete events (prune); undone by ``forbid_delete``/commit."""
    if dialect == "postgresql":
        execute("SET LOCAL frontdesk.audit_prune = 'on'")
    else:
        execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def forbid_delete(execute: Any, dialect: str) -> None:
    """Restore the delete guard inside the same transaction."""
    if dialect == "postgresql":
        execute("SET LOCAL frontdesk.audit_prune = 'off'")
    else:
        execute(SQLITE_NO_DELETE)
