"""Reads of access: effective memberships (standing ∪ live grants), requests and grants.

A grant counts while ``starts_at <= now < ends_at``, tested in the SQL that reads memberships
with ``now`` bound from the clock: no reader ever sees an ended grant, whether or not the
sweeper has announced its end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import literal
from sqlalchemy import null
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import union_all
from sqlalchemy.orm import Session

from app.db import UTCDateTime
from app.models import AccessRequest
from app.models import AccessReview
from app.models import Grant
from app.models import Group
from app.models import Membership
from app.repository.common import fold

SOURCES = ("scim", "saml", "grant")


@dataclass(frozen=True)
class EffectiveMembership:
    """One reason a user is in a group: a standing membership (``scim``, ``saml``) or a grant."""

    group_id: str
    group: str
    source: str
    grant_id: str | None = None
    ends_at: datetime | None = None


def live_grant(now: datetime) -> Any:
    """The SQL condition of a grant that counts at ``now``."""
    return and_(Grant.starts_at <= now, Grant.ends_at > now)


def _effective_statement() -> Any:
    """Standing memberships ∪ live grants of ``:user_id`` at ``:now``, built once (building the
    UNION per call cost more than running it)."""
    user_id, now = bindparam("user_id", type_=String()), bindparam("now", type_=UTCDateTime())
    standing = (
        select(Group.id, Group.display_name, Group.display_name_key,
               case((Membership.idp_entity_id.is_not(None), literal("saml")),
                    else_=literal("scim")).label("source"),
               null().cast(String).label("grant_id"), null().label("ends_at"))
        .join(Membership, Membership.group_id == Group.id)
        .where(Membership.member_id == user_id)
    )
    granted = (
        select(Group.id, Group.display_name, Group.display_name_key, literal("grant"),
               Grant.id, Grant.ends_at)
        .join(Grant, Grant.group_id == Group.id)
        .where(Grant.user_id == user_id, Grant.starts_at <= now, Grant.ends_at > now)
    )
    both = union_all(standing, granted).subquery()
    return select(both).order_by(both.c.display_name_key, both.c.source, both.c.ends_at)


_EFFECTIVE = _effective_statement()


def effective_memberships(session: Session, user_id: str, now: datetime
                          ) -> list[EffectiveMembership]:
    """Return every reason ``user_id`` is in a group at ``now``, by group name, in one statement.

    SAML group claims are ``saml``; memberships an IdP pushed by SCIM are ``scim``.
    """
    rows = session.execute(_EFFECTIVE, {"user_id": user_id, "now": now})
    return [EffectiveMembership(r.id, r.display_name, r.source, r.grant_id,
                                _aware(r.ends_at)) for r in rows]


def _aware(value: Any) -> datetime | None:
    """Union columns lose the UTC type decorator on SQLite: put the zone back."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(when, datetime)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def member_of_any(session: Session, user_id: str, names: Iterable[str], now: datetime
                  ) -> str | None:
    """Return one of the groups ``names`` the user is effectively in at ``now``, or None."""
    keys = sorted({fold(n) for n in names})
    if not keys:
        return None
    standing = exists().where(Membership.group_id == Group.id, Membership.member_id == user_id)
    granted = exists().where(Grant.group_id == Group.id, Grant.user_id == user_id,
                             live_grant(now))
    found = session.execute(
        select(Group.display_name).where(Group.display_name_key.in_(keys),
                                         or_(standing, granted))
        .order_by(Group.display_name_key).limit(1)
    ).scalar_one_or_none()
    return found


def live_grants_of(session: Session, user_id: str, group_id: str, now: datetime) -> list[Grant]:
    """Return the user's grants of the group that count at ``now`` or start later."""
    return list(session.execute(
        select(Grant).where(Grant.user_id == user_id, Grant.group_id == group_id,
                            Grant.ends_at > now).order_by(Grant.starts_at)
    ).scalars())


def reviews_of(session: Session, request_ids: list[str]) -> dict[str, list[AccessReview]]:
    """Return each request's reviews, oldest first, in one statement."""
    result: dict[str, list[AccessReview]] = {rid: [] for rid in request_ids}
    if request_ids:
        for review in session.execute(
                select(AccessReview).where(AccessReview.request_id.in_(request_ids))
                .order_by(AccessReview.id)).scalars():
            result[review.request_id].append(review)
    return result


def grants_of_requests(session: Session, request_ids: list[str]) -> dict[str, list[Grant]]:
    """Return each request's grants (an extension adds one), oldest first, in one statement."""
    result: dict[str, list[Grant]] = {rid: [] for rid in request_ids}
    if request_ids:
        for grant in session.execute(
                select(Grant).where(Grant.request_id.in_(request_ids))
                .order_by(Grant.starts_at)).scalars():
            if grant.request_id is not None:
                result[grant.request_id].append(grant)
    return result


@dataclass(frozen=True)
class RequestFilter:
    """What a request list shows; every field is optional (AND)."""

    state: str | None = None
    user_id: str | None = None
    group_id: str | None = None
    needs_review: bool | None = None


def list_requests(session: Session, f: RequestFilter, *, limit: int = 100,
                  before: tuple[datetime, str] | None = None) -> list[AccessRequest]:
    """Return requests newest first (keyset on (created_at, id) below ``before``)."""
    stmt = select(AccessRequest)
    if f.state:
        stmt = stmt.where(AccessRequest.state == f.state)
    if f.user_id:
        stmt = stmt.where(AccessRequest.user_id == f.user_id)
    if f.group_id:
        stmt = stmt.where(AccessRequest.group_id == f.group_id)
    if f.needs_review is not None:
        stmt = stmt.where(AccessRequest.needs_review.is_(f.needs_review))
    if before is not None:
        stmt = stmt.where(or_(AccessRequest.created_at < before[0],
                              and_(AccessRequest.created_at == before[0],
                                   AccessRequest.id < before[1])))
    stmt = stmt.order_by(AccessRequest.created_at.desc(), AccessRequest.id.desc())
    return list(session.execute(stmt.limit(max(1, min(limit, 500)))).scalars())


@dataclass(frozen=True)
class GrantFilter:
    """What a grant list shows; ``live`` keeps grants that count at ``now`` or start later."""

    user_id: str | None = None
    group_id: str | None = None
    state: str | None = None


def list_grants(session: Session, f: GrantFilter, now: datetime, *, limit: int = 100
                ) -> list[Grant]:
    """Return grants, latest end first. ``state`` is the grant's state as of ``now``."""
    stmt = select(Grant)
    if f.user_id:
        stmt = stmt.where(Grant.user_id == f.user_id)
    if f.group_id:
        stmt = stmt.where(Grant.group_id == f.group_id)
    if f.state == "active":
        stmt = stmt.where(live_grant(now))
    elif f.state == "scheduled":
        stmt = stmt.where(Grant.starts_at > now)
    elif f.state in ("ended", "revoked", "extended"):
        stmt = stmt.where(Grant.ends_at <= now, Grant.state == f.state) \
            if f.state != "ended" else stmt.where(Grant.ends_at <= now,
                                                 Grant.state.in_(("ended", "active",
                                                                  "scheduled")))
    stmt = stmt.order_by(Grant.ends_at.desc(), Grant.id)
    return list(session.execute(stmt.limit(max(1, min(limit, 500)))).scalars())


def grant_state(grant: Grant, now: datetime) -> str:
    """Return the state a grant is in at ``now``, from its times (``state`` keeps only what
    the sweeper or a revocation has recorded)."""
    if grant.state in ("revoked", "extended") and grant.ends_at <= now:
        return grant.state
    if grant.state == "revoked":
        return "revoked"
    if now < grant.starts_at:
        return "scheduled"
    if now < grant.ends_at:
        return "active"
    return "ended"
