"""The dormant rules' SQL: who a rule reaches, set-based, and the compare-and-sets that claim a
warning or a suspension once, whichever instance runs the rule.

A rule is one statement over ``users`` with EXISTS sub-queries on memberships and live grants
(scope, exclusions): no loop over users in Python. The run locks the rows it claims
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock serialises writers) and moves
each with a conditional UPDATE, so two instances never warn or act twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.access.queries import live_grant
from app.lifecycle.rules import SERVICE_USER_TYPES
from app.lifecycle.rules import DormantRule
from app.models import Grant
from app.models import Group
from app.models import Membership
from app.models import User
from app.repository.common import fold


@dataclass(frozen=True)
class Candidate:
    """A user a rule reaches: enough to decide and to report why."""

    id: str
    user_name: str
    source: str
    created_at: datetime
    last_activity_at: datetime | None
    last_activity_kind: str | None
    reinstated_at: datetime | None
    dormant_warned_at: datetime | None
    dormant_rule: str | None

    @property
    def inactive_since(self) -> datetime:
        """The moment the dormant clock counts from: the last activity, else creation, unless
        an admin reinstated the user later."""
        since = self.last_activity_at or self.created_at
        if self.reinstated_at is not None and self.reinstated_at > since:
            return self.reinstated_at
        return since

    def warned_by(self, rule: str) -> bool:
        """Return whether ``rule``'s warning stands (no activity since it went out)."""
        return (self.dormant_warned_at is not None and self.dormant_rule == rule
                and self.dormant_warned_at >= self.inactive_since)

    @property
    def warning_stands(self) -> bool:
        """Return whether any rule's warning stands."""
        return self.dormant_warned_at is not None and \
            self.dormant_warned_at >= self.inactive_since


def inactive_since() -> Any:
    """SQL for ``Candidate.inactive_since``."""
    since = func.coalesce(User.last_activity_at, User.created_at)
    return case((and_(User.reinstated_at.is_not(None), User.reinstated_at > since),
                 User.reinstated_at), else_=since)


def idle_since_before(threshold: datetime) -> Any:
    """SQL: inactive since ``threshold`` or earlier. The first half says the same in a form
    the index on ``last_activity_at`` serves (the clock can only count from a later moment), so
    a run with little due reads the few idle rows, not every user."""
    return and_(or_(User.last_activity_at.is_(None), User.last_activity_at <= threshold),
                inactive_since() <= threshold)


def _in_groups(names: Iterable[str], now: datetime) -> Any:
    """SQL: the user is effectively in one of the groups ``names`` (standing or a live grant)."""
    keys = sorted({fold(n) for n in names})
    standing = exists().where(Membership.member_id == User.id,
                              Membership.group_id == Group.id,
                              Group.display_name_key.in_(keys))
    granted = exists().where(Grant.user_id == User.id, Grant.group_id == Group.id,
                             Group.display_name_key.in_(keys), live_grant(now))
    return or_(standing, granted)


def _warning_stands() -> Any:
    return and_(User.dormant_warned_at.is_not(None), User.dormant_warned_at >= inactive_since())


def reach(rule: DormantRule, now: datetime, admin_groups: tuple[str, ...]) -> list[Any]:
    """The conditions of the users ``rule`` covers and does not exclude (active, unsuspended,
    old enough, in scope), whatever their activity."""
    conditions: list[Any] = [User.active.is_(True), User.suspended_at.is_(None),
                             User.created_at <= now - rule.new_account_grace]
    if rule.scope_groups:
        conditions.append(_in_groups(rule.scope_groups, now))
    if rule.exclude_groups:
        conditions.append(not_(_in_groups(rule.exclude_groups, now)))
    if rule.exclude_admins and admin_groups:
        conditions.append(not_(_in_groups(admin_groups, now)))
    if rule.exclude_service_accounts:
        user_type = func.lower(User.doc["userType"].as_string())
        conditions.append(or_(user_type.is_(None), user_type.not_in(SERVICE_USER_TYPES)))
    return conditions


def due_for_warning(rule: DormantRule, now: datetime, admin_groups: tuple[str, ...]) -> list[Any]:
    """Conditions: inactive long enough to be warned, and no warning stands."""
    return [*reach(rule, now, admin_groups),
            idle_since_before(now - (rule.inactive_for - rule.warn_before)),
            not_(_warning_stands())]


def due_for_action(rule: DormantRule, now: datetime, admin_groups: tuple[str, ...]) -> list[Any]:
    """Conditions: inactive for ``inactive_for`` and, when the rule warns, warned by this rule
    at least ``warn_before`` ago with no activity since."""
    conditions = [*reach(rule, now, admin_groups), idle_since_before(now - rule.inactive_for)]
    if rule.warn_before:
        conditions += [_warning_stands(), User.dormant_rule == rule.name,
                       User.dormant_warned_at <= now - rule.warn_before]
    return conditions


_COLUMNS = (User.id, User.user_name, User.source, User.created_at, User.last_activity_at,
            User.last_activity_kind, User.reinstated_at, User.dormant_warned_at,
            User.dormant_rule)


def preview(session: Session, rule: DormantRule, now: datetime, admin_groups: tuple[str, ...]
            ) -> list[Candidate]:
    """Every user the rule would warn now, has warned, or would act on: one statement."""
    threshold = now - (rule.inactive_for - rule.warn_before)
    rows = session.execute(
        select(*_COLUMNS).where(*reach(rule, now, admin_groups), idle_since_before(threshold))
        .order_by(User.user_name_key)
    ).all()
    return [Candidate(*row) for row in rows]


def claim(session: Session, conditions: list[Any], limit: int, skip_locked: bool
          ) -> list[Candidate]:
    """Lock and return up to ``limit`` users meeting ``conditions`` (skipping rows another
    instance holds, on PostgreSQL)."""
    # No ORDER BY: the planner may start from the index on last_activity_at; any 500 will do.
    statement = select(*_COLUMNS).where(*conditions).limit(limit)
    if skip_locked:
        statement = statement.with_for_update(of=User, skip_locked=True)
    return [Candidate(*row) for row in session.execute(statement).all()]


def _set(session: Session, user_id: str, conditions: list[Any], **values: Any) -> bool:
    result = session.execute(update(User).where(User.id == user_id, *conditions).values(**values)
                             .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def mark_warned(session: Session, user_id: str, conditions: list[Any], rule: str,
                now: datetime) -> bool:
    """Record ``rule``'s warning if the user still meets ``conditions``; return whether."""
    return _set(session, user_id, conditions, dormant_warned_at=now, dormant_rule=rule)


def mark_suspended(session: Session, user_id: str, conditions: list[Any], reason: str,
                   rule: str, now: datetime) -> bool:
    """Suspend the user if they still meet ``conditions``; return whether."""
    return _set(session, user_id, conditions, suspended_at=now, suspended_reason=reason,
                dormant_rule=rule)


def lift_suspension(session: Session, user_id: str, now: datetime) -> bool:
    """Lift a standing suspension and restart the dormant clock; return whether one stood."""
    return _set(session, user_id, [User.suspended_at.is_not(None)], suspended_at=None,
                suspended_reason=None, dormant_warned_at=None, dormant_rule=None,
                reinstated_at=now)
