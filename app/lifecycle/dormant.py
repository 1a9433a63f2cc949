"""Dormant accounts: preview (writes nothing), and the run that warns, waits, then acts.

For each rule, in file order: users inactive for ``inactive_for - warn_before`` get a warning
webhook (``lifecycle.dormant.warning``); activity afterwards withdraws it (the warning stands
only while no activity followed it); users still inactive ``warn_before`` after their warning,
and ``inactive_for`` after their last activity, are acted on once: a local or JIT account is
deactivated exactly as ``active: false`` (sessions, grants and SSO end), an account the IdP
manages through SCIM is suspended locally (its next push does not undo it) and the admin is
told to remove the assignment at the IdP (``lifecycle.dormant.suspended``).

A user belongs to the first rule that warned them; a rule with ``warn_before = "0s"`` acts
without warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import services
from app.access.service import end_grants_of_user
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.db import Database
from app.errors import InvalidInputError
from app.errors import NotFoundError
from app.lifecycle import store
from app.lifecycle.rules import DormantRule
from app.lifecycle.rules import LifecycleConfig
from app.lifecycle.store import Candidate
from app.models import User
from app.outbox import enqueue
from app.uow import UnitOfWork

BATCH = 500
MAX_REASON = 512


class NotSuspendedError(InvalidInputError):
    """Lifting a suspension that does not stand (the doors answer with a stable code)."""


def rule_actor(rule: str) -> Actor:
    """The audit actor of a dormant rule: every event names the rule."""
    return Actor("system", "lifecycle", f"lifecycle:dormant:{rule}")


def state_of(user: User) -> str:
    """Return ``active``, ``suspended`` or ``deactivated`` (deactivation wins)."""
    if not user.active:
        return "deactivated"
    return "suspended" if user.suspended_at is not None else "active"


@dataclass(frozen=True)
class PreviewLine:
    """What a rule would do to one user now, and why."""

    rule: str
    outcome: str  # warn | pending (warned, in the grace period) | act
    action: str  # deactivate | suspend
    user_id: str
    user_name: str
    source: str
    last_activity_at: datetime | None
    last_activity_kind: str | None
    inactive_since: datetime
    warned_at: datetime | None
    acts_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The JSON (and CSV) shape of a line."""
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None
        return {"rule": self.rule, "outcome": self.outcome, "action": self.action,
                "userId": self.user_id, "userName": self.user_name, "source": self.source,
                "lastActivityAt": iso(self.last_activity_at),
                "lastActivityKind": self.last_activity_kind or "created",
                "inactiveSince": iso(self.inactive_since), "warnedAt": iso(self.warned_at),
                "actsAt": iso(self.acts_at)}


def _line(rule: DormantRule, found: Candidate, now: datetime) -> PreviewLine | None:
    since = found.inactive_since
    due = since + rule.inactive_for
    warned = found.dormant_warned_at if found.warned_by(rule.name) else None
    if rule.warn_before:
        if found.warning_stands and warned is None:
            return None  # another rule's warning stands: that rule owns the user
        if warned is None:
            outcome = "warn"
            acts_at = max(due, now + rule.warn_before)
        else:
            acts_at = max(due, warned + rule.warn_before)
            outcome = "act" if acts_at <= now else "pending"
    else:
        outcome, acts_at = "act", due
    return PreviewLine(rule.name, outcome, rule.action_for(found.source), found.id,
                       found.user_name, found.source, found.last_activity_at,
                       found.last_activity_kind, since, warned, acts_at)


def preview(db: Database, config: LifecycleConfig, admin_groups: tuple[str, ...]
            ) -> list[PreviewLine]:
    """Who every rule would warn or act on now, and why; reads only (one statement a rule)."""
    now = db.clock.now()
    lines: list[PreviewLine] = []
    seen: set[str] = set()
    with db.read_session() as session:
        for rule in config.dormant:
            for found in store.preview(session, rule, now, admin_groups):
                if found.id in seen:
                    continue
                line = _line(rule, found, now)
                if line is not None:
                    seen.add(found.id)
                    lines.append(line)
    return lines


@dataclass(frozen=True)
class RunResult:
    warned: int = 0
    deactivated: int = 0
    suspended: int = 0


def _payload(rule: DormantRule, found: Candidate, summary: str, **extra: Any) -> dict[str, Any]:
    return {"rule": rule.name, "userId": found.id, "userName": found.user_name,
            "source": found.source, "lastActivityKind": found.last_activity_kind or "created",
            "inactiveSince": found.inactive_since.isoformat(), "summary": summary, **extra}


def _warn(uow: UnitOfWork, rule: DormantRule, admin_groups: tuple[str, ...], skip: bool) -> int:
    now = uow.clock.now()
    conditions = store.due_for_warning(rule, now, admin_groups)
    done = 0
    for found in store.claim(uow.session, conditions, BATCH, skip):
        if not store.mark_warned(uow.session, found.id, conditions, rule.name, now):
            continue
        action = rule.action_for(found.source)
        acts_at = max(found.inactive_since + rule.inactive_for, now + rule.warn_before)
        uow.audit.record(AuditAction.LIFECYCLE_DORMANT_WARN, actor=rule_actor(rule.name),
                         target_kind="user", target_id=found.id, target_label=found.user_name,
                         reason=f"dormant rule '{rule.name}': no activity since "
                                f"{found.inactive_since:%Y-%m-%d %H:%M} UTC",
                         changes={"rule": [None, rule.name], "action": [None, action],
                                  "actsAt": [None, acts_at.isoformat()]})
        enqueue(uow.session, uow.db.webhooks, "lifecycle.dormant.warning", _payload(
            rule, found, f"{found.user_name} has not used Frontdesk since "
            f"{found.inactive_since:%Y-%m-%d}; signing in before {acts_at:%Y-%m-%d %H:%M} UTC "
            f"keeps the account ({action} otherwise)", action=action,
            actsAt=acts_at.isoformat()), now)
        done += 1
    return done


def _act(uow: UnitOfWork, rule: DormantRule, admin_groups: tuple[str, ...], skip: bool
         ) -> tuple[int, int]:
    now = uow.clock.now()
    conditions = store.due_for_action(rule, now, admin_groups)
    actor = rule_actor(rule.name)
    deactivated = suspended = 0
    for found in store.claim(uow.session, conditions, BATCH, skip):
        reason = (f"dormant rule '{rule.name}': no activity since "
                  f"{found.inactive_since:%Y-%m-%d %H:%M} UTC")
        if rule.action_for(found.source) == "suspend":
            if not store.mark_suspended(uow.session, found.id, conditions, reason, rule.name,
                                        now):
                continue
            uow.audit.record(AuditAction.USER_SUSPEND, actor=actor, target_kind="user",
                             target_id=found.id, target_label=found.user_name, reason=reason,
                             changes={"state": ["active", "suspended"],
                                      "rule": [None, rule.name]})
            end_grants_of_user(uow, found.id, "user_suspended", actor)
            enqueue(uow.session, uow.db.webhooks, "lifecycle.dormant.suspended", _payload(
                rule, found, f"{found.user_name} is suspended here as dormant; remove their "
                "assignment to Frontdesk in the IdP (Okta, Entra), which manages the account",
                action="suspend"), now)
            suspended += 1
            continue
        user = uow.users.get(found.id, lock=True)
        if not user.active:
            continue
        old = dict(user.doc)
        new = {**old, "active": False}
        services.apply_user_change(uow, user, new, services.diff(old, new), actor=actor,
                                   commit=False, reason=reason)
        enqueue(uow.session, uow.db.webhooks, "lifecycle.dormant.deactivated", _payload(
            rule, found, f"{found.user_name} was deactivated as dormant", action="deactivate"),
            now)
        deactivated += 1
    return deactivated, suspended


def run(db: Database, config: LifecycleConfig, admin_groups: tuple[str, ...]) -> RunResult:
    """Do now whatever the rules say is due (warnings, then actions), in batches."""
    skip = db.dialect == "postgresql"
    warned = deactivated = suspended = 0
    for rule in config.dormant:
        if rule.warn_before:
            while True:
                with UnitOfWork(db) as uow:
                    done = _warn(uow, rule, admin_groups, skip)
                    uow.commit()
                warned += done
                if done < BATCH:
                    break
        while True:
            with UnitOfWork(db) as uow:
                off, held = _act(uow, rule, admin_groups, skip)
                uow.commit()
            deactivated, suspended = deactivated + off, suspended + held
            if off + held < BATCH:
                break
    return RunResult(warned, deactivated, suspended)


def unsuspend(uow: UnitOfWork, user_id: str, *, actor: Actor, reason: str) -> User:
    """Lift a user's suspension (an admin's decision, with a reason); the dormant clock restarts.

    Raises ``NotFoundError`` (no such user) or ``InvalidInputError`` (no reason, not suspended).
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInputError("a reason is required to lift a suspension")
    if len(reason) > MAX_REASON:
        raise InvalidInputError(f"the reason is longer than {MAX_REASON} characters")
    user = uow.users.find(user_id, lock=True)
    if user is None:
        raise NotFoundError("no such user")
    was = user.suspended_reason
    if not store.lift_suspension(uow.session, user.id, uow.clock.now()):
        raise NotSuspendedError(f"'{user.user_name}' is not suspended")
    uow.audit.record(AuditAction.USER_UNSUSPEND, actor=actor, target_kind="user",
                     target_id=user.id, target_label=user.user_name, reason=reason,
                     changes={"state": ["suspended", "active" if user.active else "deactivated"],
                              "suspendedReason": [was, None]})
    uow.commit()
    uow.session.refresh(user)
    return user
