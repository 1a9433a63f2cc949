"""Time-driven access work: expire undecided requests, start scheduled grants, announce ends.

Reads never wait for this (a grant stops counting at ``ends_at`` in SQL); the sweeper records
the transitions in the audit log and the outbox. Several instances may sweep at once: each
batch locks its rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite) and
moves each row with a compare-and-set on its state, so every transition happens once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.access import store
from app.access.present import grant_to_dict
from app.access.present import request_to_dict
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.db import Database
from app.models import AccessRequest
from app.models import Grant
from app.outbox import enqueue
from app.uow import UnitOfWork

SWEEPER = Actor("system", "sweeper", "system:sweeper")
# "ending soon" is sent this long before a grant ends (grants shorter than twice this get none).
ENDING_SOON = timedelta(minutes=15)
BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    expired: int = 0
    started: int = 0
    ended: int = 0
    ending_soon: int = 0

    @property
    def total(self) -> int:
        return self.expired + self.started + self.ended + self.ending_soon


def _grant_label(grant: Grant) -> str:
    return f"{grant.user_name} in {grant.group_name}"


def _expire(uow: UnitOfWork, skip: bool) -> int:
    now = uow.clock.now()
    done = 0
    for request in store.due_requests(uow.session, now, BATCH, skip):
        if not store.transition(uow.session, AccessRequest, request.id, "pending",
                                state="expired", decided_at=now, decided_by=SWEEPER.label):
            continue
        uow.session.refresh(request)
        uow.audit.record(AuditAction.ACCESS_REQUEST_EXPIRE, actor=SWEEPER,
                         target_kind="access_request", target_id=request.id,
                         target_label=f"{request.user_name} → {request.group_name}",
                         reason="nobody decided before the pending deadline",
                         changes={"state": ["pending", "expired"]})
        enqueue(uow.session, uow.db.webhooks, "access.request.expired",
                {**request_to_dict(request, now),
                 "summary": f"{request.user_name}'s request for {request.group_name} expired"},
                now)
        done += 1
    return done


def _start(uow: UnitOfWork, skip: bool) -> int:
    now = uow.clock.now()
    done = 0
    for grant in store.due_starts(uow.session, now, BATCH, skip):
        if grant.ends_at <= now:
            continue  # over before anyone looked: _finish announces its end
        if not store.transition(uow.session, Grant, grant.id, "scheduled", state="active"):
            continue
        uow.session.refresh(grant)
        uow.audit.record(AuditAction.ACCESS_GRANT_START, actor=SWEEPER, target_kind="grant",
                         target_id=grant.id, target_label=_grant_label(grant),
                         changes={"state": ["scheduled", "active"]})
        enqueue(uow.session, uow.db.webhooks, "access.grant.started",
                {**grant_to_dict(grant, now), "summary": f"{grant.user_name} now has "
                 f"{grant.group_name} until {grant.ends_at:%Y-%m-%d %H:%M} UTC"}, now)
        done += 1
    return done


def _finish(uow: UnitOfWork, skip: bool) -> int:
    now = uow.clock.now()
    done = 0
    for grant in store.due_ends(uow.session, now, BATCH, skip):
        old = grant.state
        if not store.transition(uow.session, Grant, grant.id, old, state="ended",
                                end_reason="expired", ended_by=SWEEPER.label):
            continue
        uow.session.refresh(grant)
        uow.audit.record(AuditAction.ACCESS_GRANT_END, actor=SWEEPER, target_kind="grant",
                         target_id=grant.id, target_label=_grant_label(grant),
                         reason="its time ran out",
                         changes={"state": [old, "ended"], "endsAt": [None,
                                                                     grant.ends_at.isoformat()]})
        enqueue(uow.session, uow.db.webhooks, "access.grant.ended",
                {**grant_to_dict(grant, now),
                 "summary": f"{grant.user_name}'s access to {grant.group_name} ended"}, now)
        done += 1
    return done


def _warn(uow: UnitOfWork, skip: bool) -> int:
    now = uow.clock.now()
    done = 0
    for grant in store.due_ending_soon(uow.session, now, now + ENDING_SOON, BATCH, skip):
        grant.ending_soon_sent = True
        if grant.ends_at - grant.starts_at < 2 * ENDING_SOON:
            continue  # a short grant's "ending soon" would arrive with its "started"
        enqueue(uow.session, uow.db.webhooks, "access.grant.ending_soon",
                {**grant_to_dict(grant, now), "summary": f"{grant.user_name}'s access to "
                 f"{grant.group_name} ends at {grant.ends_at:%H:%M} UTC"}, now)
        done += 1
    return done


def sweep(db: Database) -> SweepResult:
    """Do whatever access work is due, in batches; return what was done."""
    skip = db.dialect == "postgresql"
    totals = {"expired": 0, "started": 0, "ended": 0, "ending_soon": 0}
    for key, step in (("expired", _expire), ("started", _start), ("ended", _finish),
                      ("ending_soon", _warn)):
        while True:
            with UnitOfWork(db) as uow:
                done = step(uow, skip)
                uow.commit()
            totals[key] += done
            if done < BATCH:
                break
    return SweepResult(**totals)
