"""The audit log in tests: read it, seed it with events, verify its hash chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy import text

from app.audit import triggers
from app.audit.chain import VerifyResult
from app.audit.chain import seal
from app.audit.chain import verify_chain
from app.audit.events import Actor
from app.cli.main import main as frontdesk
from app.db import Database
from app.models import AuditEvent
from app.uow import UnitOfWork

COLUMNS = ("seq", "actor_kind", "actor_id", "actor_label", "action", "target_kind", "target_id",
           "target_label", "outcome", "changes", "request_id", "source_ip", "user_agent")
SEEDER = Actor("test", "seeder", "seeder")


def events(db: Database, action: str | None = None) -> list[AuditEvent]:
    """The events (of one exact ``action``), oldest first."""
    with db.read_session() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.seq)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        return list(session.execute(stmt).scalars())


def event_rows(db: Database, after: int = 0) -> list[dict[str, Any]]:
    """The stored columns of every event after ``seq`` ``after``, read with plain SQL."""
    with db.engine.connect() as conn:
        result = conn.exec_driver_sql(
            f"SELECT {', '.join(COLUMNS)} FROM audit_events WHERE seq > {int(after)} "  # noqa: S608
            "ORDER BY seq"
        ).all()
    rows = []
    for row in result:
        event = dict(zip(COLUMNS, row, strict=True))
        if isinstance(event["changes"], str):
            event["changes"] = json.loads(event["changes"])
        rows.append(event)
    return rows


def seed(db: Database, count: int, *, prefix: str = "t", when: datetime | None = None,
         one_by_one: bool = False) -> None:
    """Append ``count`` test events on ``thing <prefix><i>``: in one transaction, or in one
    each as real requests would (``one_by_one``); dated ``when`` if given."""
    def record(uow: UnitOfWork, i: int) -> None:
        uow.audit.record("test:event", actor=SEEDER, target_kind="thing",
                         target_id=f"{prefix}{i}", target_label=f"thing {prefix}{i}",
                         changes={"n": [None, i]})

    batches = [[i] for i in range(count)] if one_by_one else [list(range(count))]
    for batch in batches:
        with UnitOfWork(db) as uow:
            for i in batch:
                record(uow, i)
            if when is not None:
                for pending in uow.audit.pending:
                    pending.occurred_at = when
            uow.commit()


def verify(runner: CliRunner) -> tuple[int, str]:
    """Run ``frontdesk audit verify``; return its exit code and output."""
    result = runner.invoke(frontdesk, ["audit", "verify"])
    return result.exit_code, result.output


def check_chain(db: Database) -> VerifyResult:
    """Verify the hash chain in this process, on one consistent snapshot."""
    with db.snapshot_session() as session:
        return verify_chain(session)


@contextmanager
def tampering(db: Database) -> Iterator[Connection]:
    """A transaction with the append-only guard lifted, restored before it commits: what
    someone with write access to the database can do."""
    with db.write_engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        yield conn
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        else:
            triggers.install(lambda sql: conn.execute(text(sql)), "sqlite")


def row(conn: Connection, seq: int) -> dict[str, Any]:
    """Every stored column of event ``seq``."""
    return dict(conn.execute(select(AuditEvent.__table__).where(AuditEvent.seq == seq))
                .mappings().one())


def rewrite_consistently(db: Database, seq: int, **changes: Any) -> None:
    """Edit event ``seq``, then re-chain it and every later event and move the head: a rewrite
    the hash chain alone cannot see."""
    with tampering(db) as conn:
        conn.execute(AuditEvent.__table__.update().where(AuditEvent.seq == seq).values(**changes))
        prev = row(conn, seq)["prev_hash"]
        last = int(conn.execute(text("SELECT max(seq) FROM audit_events")).scalar_one())
        for current in range(seq, last + 1):
            forged = AuditEvent(**{**row(conn, current), "prev_hash": prev})
            prev = seal(forged)
            conn.execute(AuditEvent.__table__.update().where(AuditEvent.seq == current)
                         .values(prev_hash=forged.prev_hash, hash=prev))
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": last, "h": prev})


def truncate_consistently(db: Database, keep_through: int) -> None:
    """Delete every event after ``keep_through`` and move the head back to it."""
    with tampering(db) as conn:
        kept = row(conn, keep_through)["hash"]
        conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": keep_through})
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"),
                     {"s": keep_through, "h": kept})
