"""The admin console's lists: search, filters, keyset pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Group
from app.models import Membership
from app.models import User
from app.models import UserValue
from app.repository.common import contains_text
from app.repository.common import fold
from app.repository.common import keyset_page
from app.repository.common import like_escape


@dataclass(frozen=True)
class UserListFilter:
    """What the admin console's user list shows; every field is optional (AND)."""

    text: str | None = None  # part of userName, display or given/family name, or an email
    active: bool | None = None
    source: str | None = None  # scim, jit or admin
    never_logged_in: bool = False
    idle_days: int | None = None  # last login longer ago than this many days


@dataclass(frozen=True)
class KeysetPage:
    """Rows of one page and the key to pass as ``after`` for the next, or None at the end."""

    rows: list[Any]
    next_after: str | None


def _contains(expr: Any, text: str) -> ColumnElement[bool]:
    """``expr`` (a casefolded key) contains ``text``, case-insensitively."""
    pattern = "%" + like_escape(fold(text)) + "%"
    condition: ColumnElement[bool] = expr.like(pattern, escape="\\")
    return condition


def _keyset(session: Session, stmt: Any, key: Any, after: str | None, limit: int,
            key_of: Any) -> KeysetPage:
    return KeysetPage(*keyset_page(session, stmt, key, after, limit, key_of))


def browse_users(session: Session, f: UserListFilter, *, after: str | None = None,
                 limit: int = 50) -> KeysetPage:
    """Return one page of users (``User`` rows) ordered by userName, after the key ``after``.

    Each page is one statement with LIMIT; no count, so it costs the same on any table size
    (``count_users`` is the total, asked for separately).
    """
    page = _keyset(session, select(User).where(*_user_conditions(f)), User.user_name_key, after,
                   max(1, min(limit, 200)), lambda row: row[0].user_name_key)
    return KeysetPage([row[0] for row in page.rows], page.next_after)


def count_users(session: Session, f: UserListFilter) -> int:
    """Return how many users match ``f`` (the total a list page shows above its first page)."""
    total = session.execute(select(func.count()).select_from(User)
                            .where(*_user_conditions(f))).scalar_one()
    return int(total)


def _user_conditions(f: UserListFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.text:
        email = exists().where(UserValue.user_id == User.id, UserValue.attr == "emails",
                               _contains(UserValue.value_key, f.text))
        conds.append(or_(
            _contains(User.user_name_key, f.text),
            contains_text(User.display_name, f.text),
            contains_text(User.doc["name"]["givenName"].as_string(), f.text),
            contains_text(User.doc["name"]["familyName"].as_string(), f.text),
            contains_text(User.doc["name"]["formatted"].as_string(), f.text),
            email,
        ))
    if f.active is not None:
        conds.append(User.active.is_(f.active))
    if f.source:
        conds.append(User.source == f.source)
    if f.never_logged_in:
        conds.append(User.last_login_at.is_(None))
    if f.idle_days is not None:
        cutoff = utcnow() - timedelta(days=f.idle_days)
        conds.append(and_(User.last_login_at.is_not(None), User.last_login_at < cutoff))
    return conds


def browse_groups(session: Session, text: str | None, *, after: str | None = None,
                  limit: int = 50) -> KeysetPage:
    """Return one page of ``Group`` rows ordered by displayName, after the key ``after``."""
    conds = [_contains(Group.display_name_key, text)] if text else []
    page = _keyset(session, select(Group).where(*conds), Group.display_name_key, after,
                   max(1, min(limit, 200)), lambda row: row[0].display_name_key)
    return KeysetPage([row[0] for row in page.rows], page.next_after)


def count_groups(session: Session, text: str | None) -> int:
    """Return how many groups ``browse_groups`` walks through for ``text``."""
    conds = [_contains(Group.display_name_key, text)] if text else []
    total = session.execute(select(func.count()).select_from(Group).where(*conds)).scalar_one()
    return int(total)


def member_counts(session: Session, group_ids: Sequence[str]) -> dict[str, int]:
    """Return each group's direct member count, in one GROUP BY statement."""
    counts = dict.fromkeys(group_ids, 0)
    if group_ids:
        rows = session.execute(
            select(Membership.group_id, func.count())
            .where(Membership.group_id.in_(list(group_ids)))
            .group_by(Membership.group_id)
        )
        counts.update({group_id: int(n) for group_id, n in rows})
    return counts


@dataclass(frozen=True)
class MemberRow:
    """A member as the console lists it."""

    id: str
    type: str
    name: str
    display: str | None
    active: bool | None
    since: datetime


@dataclass(frozen=True)
class UserGroupRow:
    """A group a user is a direct member of, as the user's console page lists it."""

    id: str
    name: str
    since: datetime
    granted_by: str | None  # the actor that added the membership (token, IdP, admin)
    idp_entity_id: str | None  # set when an IdP's group claim made it
    expires_at: datetime | None  # set for a time-bound grant


def groups_of_user(session: Session, user_id: str, limit: int = 500) -> list[UserGroupRow]:
    """Return the user's direct groups by displayName, with since when and who added them."""
    rows = session.execute(
        select(Group.id, Group.display_name, Membership.created_at, Membership.granted_by,
               Membership.idp_entity_id, Membership.expires_at)
        .join(Membership, Membership.group_id == Group.id)
        .where(Membership.member_id == user_id)
        .order_by(Group.display_name_key).limit(limit))
    return [UserGroupRow(*row) for row in rows]


def browse_user_members(session: Session, group_id: str, *, after: str | None = None,
                        limit: int = 50) -> KeysetPage:
    """Return one page of a group's user members (``MemberRow``) ordered by userName.

    Keyset on the unique ``user_name_key``: page 2 000 of a 100 000-member group costs what
    page 1 does.
    """
    stmt = (select(User.id, User.user_name, User.display_name, User.active,
                   Membership.created_at, User.user_name_key)
            .join(Membership, and_(Membership.member_id == User.id,
                                   Membership.group_id == group_id)))
    page = _keyset(session, stmt, User.user_name_key, after, max(1, min(limit, 200)),
                   lambda row: row[5])
    return KeysetPage([MemberRow(r[0], "User", r[1], r[2], r[3], r[4]) for r in page.rows],
                      page.next_after)


def group_members_of_group(session: Session, group_id: str, limit: int = 200
                           ) -> list[MemberRow]:
    """Return the groups nested in a group (at most ``limit``), by displayName."""
    rows = session.execute(
        select(Group.id, Group.display_name, Membership.created_at)
        .join(Membership, and_(Membership.member_id == Group.id,
                               Membership.group_id == group_id))
        .order_by(Group.display_name_key).limit(limit)
    )
    return [MemberRow(r[0], "Group", r[1], None, None, r[2]) for r in rows]
