"""The audit log: events recorded in the caller's transaction, sealed in a hash chain.

Services call ``AuditLog.record`` while they work; nothing is written until the unit of work
commits, when ``flush`` locks the chain's head row, numbers and hashes the pending events, and
inserts them in the same transaction as the change they describe. A failed audit write therefore
aborts the change, and the head-row lock orders writers from every worker and instance so the
chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.audit.events import Actor
from app.audit.events import AuditAction
from app.audit.events import RequestInfo
from app.db import new_id
from app.db import utcnow
from app.models import AuditAnchor
from app.models import AuditEvent
from app.models import AuditHead


@dataclass
class PendingEvent:
    action: str
    actor: Actor
    target_kind: str | None
    target_id: str | None
    target_label: str | None
    changes: dict[str, Any] | None
    outcome: str
    reason: str | None
    occurred_at: datetime = field(default_factory=utcnow)


def canonical(event_row: AuditEvent) -> bytes:
    """Return the bytes a row's hash covers: every field but the hash, in a fixed form."""
    fields = {
        "seq": event_row.seq,
        "id": event_row.id,
        "occurred_at": event_row.occurred_at.isoformat(),
        "actor_kind": event_row.actor_kind,
        "actor_id": event_row.actor_id,
        "actor_label": event_row.actor_label,
        "action": event_row.action,
        "target_kind": event_row.target_kind,
        "target_id": event_row.target_id,
        "target_label": event_row.target_label,
        "outcome": event_row.outcome,
        "reason": event_row.reason,
        "changes": event_row.changes,
        "request_id": event_row.request_id,
        "source_ip": event_row.source_ip,
        "user_agent": event_row.user_agent,
        "prev_hash": event_row.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def seal(event_row: AuditEvent) -> str:
    """Return the hash of a row given its ``prev_hash``."""
    return hashlib.sha256(canonical(event_row)).hexdigest()


class AuditLog:
    """Collects a transaction's events and appends them to the chain at commit."""

    def __init__(self, session: Session, info: RequestInfo) -> None:
        self.session = session
        self.info = info
        self.pending: list[PendingEvent] = []

    def record(
        self,
        action: AuditAction | str,
        *,
        actor: Actor,
        target_kind: str | None = None,
        target_id: str | None = None,
        target_label: str | None = None,
        changes: dict[str, Any] | None = None,
        outcome: str = "success",
        reason: str | None = None,
    ) -> None:
        """Queue one event; it is written with the transaction or not at all."""
        self.pending.append(
            PendingEvent(
                str(action), actor, target_kind, target_id, target_label, changes, outcome, reason
            )
        )

    def flush(self) -> list[AuditEvent]:
        """Lock the head, chain and insert the pending events; call inside the transaction.

        Return the rows inserted, for sinks that copy them out after the commit.
        """
        if not self.pending:
            return []
        head = self.session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one()
        seq, prev = head.seq, head.hash
        rows = []
        for pending in self.pending:
            seq += 1
            row = AuditEvent(
                seq=seq,
                id=new_id(),
                occurred_at=pending.occurred_at,
                actor_kind=pending.actor.kind,
                actor_id=pending.actor.id,
                actor_label=pending.actor.label,
                action=pending.action,
                target_kind=pending.target_kind,
                target_id=pending.target_id,
                target_label=pending.target_label,
                outcome=pending.outcome,
                reason=pending.reason,
                changes=pending.changes,
                request_id=self.info.request_id,
                source_ip=self.info.source_ip,
                user_agent=(self.info.user_agent or "")[:512] or None,
                prev_hash=prev,
            )
            row.hash = prev = seal(row)
            rows.append(row)
        # A Core executemany, not session.add_all: a 100 000-member group push records
        # 100 000 events, and the ORM's unit-of-work bookkeeping would dominate its cost.
        columns = [c.key for c in AuditEvent.__table__.columns]
        self.session.execute(insert(AuditEvent), [
            {key: getattr(row, key) for key in columns} for row in rows
        ])
        self.session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev)
        )
        self.pending.clear()
        return rows


def head_seq(session: Session) -> int:
    """Return the sequence number of the newest audit event (0: none yet): one indexed row."""
    seq = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one_or_none()
    return seq or 0


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking the chain: ``ok``, how many rows, and the first bad one."""

    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str | None = None


def verify_chain(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order and report the first row that was edited, removed or moved.

    Run it in ``Database.snapshot_session()`` so that writers appending meanwhile are not
    mistaken for a chain that ends before its head.
    """
    anchor = session.execute(select(AuditAnchor).where(AuditAnchor.id == 1)).scalar_one()
    # After a prune the chain starts right after the last pruned event, whose hash is kept.
    expected_prev = anchor.hash
    expected_seq = anchor.seq + 1
    checked = 0
    last_id = anchor.seq
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last_id).order_by(AuditEvent.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq,
                                    f"event #{expected_seq} is missing (next is #{row.seq})")
            if row.prev_hash != expected_prev:
                return VerifyResult(False, checked, row.seq,
                                    f"event #{row.seq} does not follow event #{row.seq - 1}")
            if seal(row) != row.hash:
                return VerifyResult(False, checked, row.seq,
                                    f"event #{row.seq} was altered after it was written")
            expected_prev = row.hash
            expected_seq += 1
            checked += 1
            last_id = row.seq
        session.expunge_all()
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    last_seq = expected_seq - 1
    if head.seq != last_seq or head.hash != expected_prev:
        return VerifyResult(False, checked, head.seq,
                            f"the chain ends at event #{last_seq} but its head says #{head.seq}")
    return VerifyResult(True, checked)


def guard_append_only(session_factory: Any) -> None:
    """Refuse, in code, any flush that updates or deletes an audit event."""

    @event.listens_for(session_factory, "before_flush")
    def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        for obj in list(session.dirty) + list(session.deleted):
            if isinstance(obj, AuditEvent):
                raise PermissionError("audit events are append-only")
