"""The access records a state change reads under lock, and the counts it decides on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import AccessRequest
from app.models import AccessReview
from app.models import Grant


def lock_request(session: Session, request_id: str) -> AccessRequest | None:
    """Return the request, locked until the transaction ends (one decision at a time)."""
    return session.execute(
        select(AccessRequest).where(AccessRequest.id == request_id).with_for_update()
    ).scalar_one_or_none()


def lock_grant(session: Session, grant_id: str) -> Grant | None:
    """Return the grant, locked until the transaction ends."""
    return session.execute(
        select(Grant).where(Grant.id == grant_id).with_for_update()
    ).scalar_one_or_none()


def add_review(session: Session, review: AccessReview) -> bool:
    """Insert a review; False when this reviewer has already decided on this request."""
    try:
        with session.begin_nested():
            session.add(review)
            session.flush()
    except IntegrityError:
        if review in session:
            session.expunge(review)  # else the next autoflush tries it again
        return False
    return True


def approvals(session: Session, request_id: str) -> int:
    """Return how many distinct reviewers approved the request."""
    count = session.execute(
        select(func.count()).select_from(AccessReview)
        .where(AccessReview.request_id == request_id, AccessReview.decision == "approve")
    ).scalar_one()
    return int(count)


def pending_request_of(session: Session, user_id: str, group_id: str) -> str | None:
    """Return the id of the user's pending request for the group, if there is one."""
    return session.execute(
        select(AccessRequest.id).where(AccessRequest.user_id == user_id,
                                       AccessRequest.group_id == group_id,
                                       AccessRequest.state == "pending").limit(1)
    ).scalar_one_or_none()


def live_grants_for_user(session: Session, user_id: str, now: datetime) -> list[Grant]:
    """Return the user's grants that count now or start later, locked."""
    return list(session.execute(
        select(Grant).where(Grant.user_id == user_id, Grant.ends_at > now)
        .order_by(Grant.id).with_for_update()
    ).scalars())


def live_grants_for_group(session: Session, group_id: str, now: datetime) -> list[Grant]:
    """Return the group's grants that count now or start later, locked."""
    return list(session.execute(
        select(Grant).where(Grant.group_id == group_id, Grant.ends_at > now)
        .order_by(Grant.id).with_for_update()
    ).scalars())


def transition(session: Session, model: type[AccessRequest] | type[Grant], row_id: str,
               old_state: str, **values: object) -> bool:
    """Move one row from ``old_state`` (compare-and-set); False when someone else did first."""
    # No session sync: evaluating the condition against every object of a 500-row batch made
    # each UPDATE cost O(batch); callers refresh the one row they moved.
    done = session.execute(
        update(model).where(model.id == row_id, model.state == old_state).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(done == 1)


def due_requests(session: Session, now: datetime, limit: int, skip_locked: bool
                 ) -> list[AccessRequest]:
    """Pending requests past their deadline, locked (others' locked rows skipped on PostgreSQL)."""
    stmt = (select(AccessRequest)
            .where(AccessRequest.state == "pending", AccessRequest.pending_until <= now)
            .order_by(AccessRequest.pending_until).limit(limit))
    return list(session.execute(stmt.with_for_update(skip_locked=skip_locked)).scalars())


def due_starts(session: Session, now: datetime, limit: int, skip_locked: bool) -> list[Grant]:
    """Scheduled grants whose start has come, locked."""
    stmt = (select(Grant).where(Grant.state == "scheduled", Grant.starts_at <= now)
            .order_by(Grant.starts_at).limit(limit))
    return list(session.execute(stmt.with_for_update(skip_locked=skip_locked)).scalars())


def due_ends(session: Session, now: datetime, limit: int, skip_locked: bool) -> list[Grant]:
    """Grants whose end has come but whose end was not announced yet, locked."""
    stmt = (select(Grant).where(Grant.state.in_(("active", "scheduled")), Grant.ends_at <= now)
            .order_by(Grant.ends_at).limit(limit))
    return list(session.execute(stmt.with_for_update(skip_locked=skip_locked)).scalars())


def due_ending_soon(session: Session, now: datetime, horizon: datetime, limit: int,
                    skip_locked: bool) -> list[Grant]:
    """Active grants ending before ``horizon`` whose warning was not sent yet, locked."""
    stmt = (select(Grant).where(Grant.state == "active", Grant.ending_soon_sent.is_(False),
                                Grant.ends_at > now, Grant.ends_at <= horizon)
            .order_by(Grant.ends_at).limit(limit))
    return list(session.execute(stmt.with_for_update(skip_locked=skip_locked)).scalars())
