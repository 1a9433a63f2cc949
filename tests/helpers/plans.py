"""What the database plans for the statements an action runs: query shape, not stopwatch time."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from app.db import Database

# SQLite's EXPLAIN QUERY PLAN says "SCAN users" for a walk of the whole table, "SCAN users USING
# INDEX ..." for a walk of an index, and "SEARCH ..." for a lookup.
_SQLITE_TABLE_SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?$")


def statements_during(db: Database, action: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The (SQL, parameters) of every statement ``action`` runs on ``db``'s engine."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    return seen


def sqlite_table_scans(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """The tables SQLite would read whole for these SELECTs (its planner is deterministic, unlike
    PostgreSQL's, which rightly picks a sequential scan when statistics say most rows match)."""
    assert db.dialect == "sqlite"
    scanned: list[str] = []
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters):
                match = _SQLITE_TABLE_SCAN.match(row[-1])
                if match:
                    scanned.append(match.group(1))
    return scanned
