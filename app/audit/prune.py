"""Retention: the one way events leave the audit log, leaving a chain that still verifies.

Pruning deletes the oldest events up to a date, records the last pruned event's seq and hash
as the chain's new anchor, and appends an ``audit:prune`` event saying what went. ``verify``
then starts from the anchor, so an edited, deleted or reordered survivor is still caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from app.audit import triggers
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.models import AuditAnchor
from app.models import AuditEvent
from app.models import AuditHead
from app.uow import UnitOfWork


@dataclass(frozen=True)
class PruneResult:
    """How many events went, and the new anchor."""

    deleted: int
    first_seq: int | None
    last_seq: int | None
    anchor_hash: str | None


def prune_before(uow: UnitOfWork, before: datetime, *, actor: Actor) -> PruneResult:
    """Delete events that occurred before ``before`` and re-anchor the chain."""
    session = uow.session
    # Hold the head lock: writers queue behind the prune instead of interleaving with it.
    session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    # Only a prefix of the chain can go (the anchor is one seq and hash), and nothing that
    # occurred at or after the cutoff may: stop before the first event that is not older.
    # Concurrent writers can commit clock times a little out of seq order, so "the newest
    # old event" is not the same place.
    first_kept = session.execute(
        select(func.min(AuditEvent.seq)).where(AuditEvent.occurred_at >= before)
    ).scalar_one_or_none()
    if first_kept is None:
        last_seq = session.execute(select(func.max(AuditEvent.seq))).scalar_one_or_none()
    else:
        last_seq = first_kept - 1
    anchor = session.execute(select(AuditAnchor).where(AuditAnchor.id == 1)).scalar_one()
    if last_seq is None or last_seq <= anchor.seq:
        return PruneResult(0, None, None, None)
    first_seq, old_anchor_hash = anchor.seq + 1, anchor.hash
    last_hash = session.execute(
        select(AuditEvent.hash).where(AuditEvent.seq == last_seq)
    ).scalar_one()
    dialect = session.get_bind().dialect.name

    def execute(sql: str) -> None:
        session.execute(text(sql))

    triggers.allow_delete(execute, dialect)
    deleted = session.execute(delete(AuditEvent).where(AuditEvent.seq <= last_seq)).rowcount  # type: ignore[attr-defined]
    triggers.forbid_delete(execute, dialect)
    session.execute(update(AuditAnchor).where(AuditAnchor.id == 1)
                    .values(seq=last_seq, hash=last_hash))
    uow.audit.record(AuditAction.AUDIT_PRUNE, actor=actor, target_kind="audit",
                     target_label=f"events #{first_seq}-#{last_seq}",
                     changes={"pruned": [first_seq, last_seq], "before": [None, before.isoformat()],
                              "anchor": [old_anchor_hash, last_hash], "count": [None, deleted]})
    uow.commit()
    return PruneResult(int(deleted), first_seq, last_seq, last_hash)
