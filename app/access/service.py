"""Access requests and grants: every state change in one transaction with its audit events and
its outbox rows. The doors (JSON API, pages, CLI) call these and nothing else to change access.

A refused step writes nothing but its ``denied`` audit event and raises an ``AccessError``
with a stable code. Time comes from the unit of work's clock; a grant's duration starts when
it is approved (or at the requested window's start), never when it was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import NoReturn

from app.access import queries
from app.access import store
from app.access.errors import AccessConflictError
from app.access.errors import AccessError
from app.access.errors import AccessForbiddenError
from app.access.errors import AccessInvalidError
from app.access.errors import AccessNotFoundError
from app.access.policy import AccessConfig
from app.access.policy import AccessPolicy
from app.access.present import grant_to_dict
from app.access.present import request_to_dict
from app.access.principal import Principal
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.lifecycle import activity
from app.lifecycle.activity import ActivityKind
from app.models import AccessRequest
from app.models import AccessReview
from app.models import Grant
from app.models import Group
from app.models import User
from app.outbox import enqueue
from app.text import is_control
from app.uow import UnitOfWork

MAX_REASON = 1000
MAX_TICKET = 128
# How far ahead a requested window may start.
MAX_LEAD = timedelta(days=90)


@dataclass(frozen=True)
class Decision:
    """What policy says of a request, before anything is written (a dry run shows this)."""

    outcome: str  # auto_approved | break_glass | pending
    policy: str
    policy_digest: str
    rule: str  # which rule decided, in words a person can check against the config
    approvers: tuple[str, ...]
    approvals: int
    duration: timedelta
    starts_at: datetime
    ends_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.outcome, "policy": self.policy,
                "policy_digest": self.policy_digest, "rule": self.rule,
                "approvers": list(self.approvers), "approvals_needed": self.approvals,
                "duration_seconds": int(self.duration.total_seconds()),
                "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat()}


@dataclass(frozen=True)
class Ask:
    """What a requester asks for."""

    group: str  # displayName or id
    user: str | None = None  # userName; default: the requester
    duration: timedelta | None = None
    starts_at: datetime | None = None
    reason: str | None = None
    ticket: str | None = None
    break_glass: bool = False


@dataclass
class _Context:
    policy: AccessPolicy
    group: Group
    user: User
    extra: dict[str, Any] = field(default_factory=dict)


def _label(principal: Principal) -> str:
    return principal.actor.label or principal.actor.id or principal.actor.kind


def _auth(principal: Principal) -> dict[str, Any] | None:
    return principal.auth.to_dict() if principal.auth is not None else None


def _refuse(uow: UnitOfWork, err: AccessError, principal: Principal, action: AuditAction, *,
            target_kind: str, target_id: str | None, target_label: str | None,
            details: dict[str, Any] | None = None) -> NoReturn:
    """Throw away the step, record the refusal alone, and raise ``err``."""
    uow.rollback()
    changes = {"code": [None, err.code], **{k: [None, v] for k, v in (details or {}).items()}}
    uow.audit.record(action, actor=principal.actor, target_kind=target_kind, target_id=target_id,
                     target_label=target_label, outcome="denied", reason=err.detail[:512],
                     changes=changes)
    uow.commit()
    raise err


def _active(uow: UnitOfWork, principal: Principal, kind: ActivityKind) -> None:
    """The person who requests or approves is active (an admin link or the CLI is nobody)."""
    if principal.user_id is not None:
        activity.record(uow.session, principal.user_id, kind, uow.clock.now())


def _notify(uow: UnitOfWork, topic: str, payload: dict[str, Any]) -> None:
    enqueue(uow.session, uow.db.webhooks, topic, payload, uow.clock.now())


def _group(uow: UnitOfWork, ref: str) -> Group:
    group = uow.groups.find(ref) if len(ref) == 36 else None
    group = group or uow.groups.find_by_display_name(ref)
    if group is None:
        raise AccessNotFoundError("unknown_group", f"there is no group '{ref}'")
    return group


def _user(uow: UnitOfWork, principal: Principal, user_name: str | None) -> User:
    if user_name is None:
        if principal.user_id is None:
            raise AccessInvalidError("user_required", "say which user the access is for")
        user = uow.users.find(principal.user_id)
    else:
        user = uow.users.find_by_user_name(user_name)
    if user is None:
        raise AccessNotFoundError("unknown_user", f"there is no user '{user_name}'")
    return user


def _text(value: str | None, limit: int, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise AccessInvalidError(f"{name}_too_long", f"the {name} is longer than {limit} "
                                 "characters")
    if any(is_control(c) and c not in "\t\n" for c in value):  # a reason may have lines
        raise AccessInvalidError(f"invalid_{name}", f"the {name} has control characters")
    return value or None


def _check_session(config: AccessConfig, principal: Principal, need_mfa: bool,
                   max_age: timedelta | None, now: datetime, who: str) -> None:
    """Refuse unless the principal's SSO session is as strong and as recent as policy asks."""
    auth = principal.auth
    if need_mfa and (auth is None or not config.is_mfa(auth.idp, auth.contexts)):
        raise AccessForbiddenError(
            "mfa_required", f"policy requires the {who} to have signed in with multi-factor "
            "authentication; sign in again with MFA and retry")
    if max_age is not None and (auth is None or auth.authn_instant is None
                                or now - auth.authn_instant > max_age):
        raise AccessForbiddenError(
            "sign_in_too_old", f"policy requires the {who} to have signed in within the last "
            f"{int(max_age.total_seconds())} seconds; sign in again and retry")


def _decide(uow: UnitOfWork, config: AccessConfig, principal: Principal, ask: Ask
            ) -> tuple[Decision, _Context, dict[str, Any]]:
    """Check an ask against policy; raise ``AccessError`` or return the decision (no writes)."""
    now = uow.clock.now()
    group = _group(uow, ask.group)
    user = _user(uow, principal, ask.user)
    policy = config.policy_for(group.display_name)
    if policy is None:
        raise AccessForbiddenError("not_requestable",
                                   f"no access policy makes '{group.display_name}' requestable")
    if not user.active:
        raise AccessForbiddenError("user_inactive", f"'{user.user_name}' is deactivated")
    if ask.user is not None and user.id != principal.user_id and not principal.admin \
            and principal.via != "cli":
        raise AccessForbiddenError("not_yourself", "you may only request access for yourself")
    if policy.requesters:
        via = queries.member_of_any(uow.session, user.id, policy.requesters, now)
        if via is None:
            raise AccessForbiddenError(
                "not_eligible", f"policy '{policy.name}' lets members of "
                f"{', '.join(policy.requesters)} request '{group.display_name}'")
    reason = _text(ask.reason, MAX_REASON, "reason")
    ticket = _text(ask.ticket, MAX_TICKET, "ticket")
    if policy.reason_required and not reason:
        raise AccessInvalidError("reason_required", f"policy '{policy.name}' requires a reason")
    if policy.ticket_pattern is not None and not ticket:
        raise AccessInvalidError("ticket_required",
                                 f"policy '{policy.name}' requires a ticket id")
    if not policy.ticket_ok(ticket):
        raise AccessInvalidError("ticket_invalid", f"the ticket must match "
                                 f"{policy.ticket_pattern}")
    duration = ask.duration if ask.duration is not None else policy.default_duration
    if duration <= timedelta(0):
        raise AccessInvalidError("invalid_duration", "the duration must be longer than 0s")
    if duration > policy.max_duration:
        raise AccessInvalidError(
            "duration_too_long", f"policy '{policy.name}' allows at most "
            f"{int(policy.max_duration.total_seconds())} seconds")
    starts_at = now
    if ask.starts_at is not None:
        if ask.starts_at > now + MAX_LEAD:
            raise AccessInvalidError("starts_too_late", "the window may start at most 90 days "
                                     "ahead")
        starts_at = max(ask.starts_at, now)
    if ask.break_glass and not policy.break_glass:
        raise AccessForbiddenError("break_glass_not_allowed",
                                   f"policy '{policy.name}' does not allow break-glass")
    _check_session(config, principal, policy.require_mfa, policy.max_sign_in_age, now,
                   "requester")
    if store.pending_request_of(uow.session, user.id, group.id) is not None:
        raise AccessConflictError("already_pending", f"'{user.user_name}' already has a "
                                  f"pending request for '{group.display_name}'")
    outcome, rule = "pending", f"policy '{policy.name}': {policy.approvals} approval(s) by " \
                               f"members of {', '.join(policy.approvers) or 'nobody'}"
    if ask.break_glass:
        outcome, rule = "break_glass", f"policy '{policy.name}': break_glass = true"
    elif principal.via == "token" and principal.token_name in policy.auto_approve_tokens:
        outcome = "auto_approved"
        rule = f"policy '{policy.name}': auto_approve_tokens includes '{principal.token_name}'"
    elif policy.auto_approve_if_member_of:
        via = queries.member_of_any(uow.session, user.id, policy.auto_approve_if_member_of, now)
        if via is not None:
            outcome = "auto_approved"
            rule = f"policy '{policy.name}': auto_approve_if_member_of includes '{via}'"
    decision = Decision(outcome, policy.name, policy.digest, rule, policy.approvers,
                        policy.approvals, duration, starts_at, starts_at + duration)
    return decision, _Context(policy, group, user), {"reason": reason, "ticket": ticket}


def dry_run(uow: UnitOfWork, config: AccessConfig, principal: Principal, ask: Ask) -> Decision:
    """Return what a request would get, writing nothing (a refusal raises, unrecorded)."""
    decision, _, _ = _decide(uow, config, principal, ask)
    return decision


def _payload(uow: UnitOfWork, request: AccessRequest, grant: Grant | None = None,
             summary: str = "") -> dict[str, Any]:
    now = uow.clock.now()
    body = request_to_dict(request, now, grants=[grant] if grant is not None else [])
    body["summary"] = summary
    return body


def _start_grant(uow: UnitOfWork, request: AccessRequest, by: str, *, starts_at: datetime,
                 duration: timedelta, actor: Actor) -> Grant:
    """Create the grant of an approved request, audited and announced."""
    now = uow.clock.now()
    begin = max(starts_at, now)
    grant = Grant(request_id=request.id, user_id=request.user_id, user_name=request.user_name,
                  group_id=request.group_id, group_name=request.group_name,
                  state="active" if begin <= now else "scheduled", starts_at=begin,
                  ends_at=begin + duration, created_at=now, ending_soon_sent=False)
    uow.session.add(grant)
    uow.session.flush()
    uow.audit.record(AuditAction.ACCESS_GRANT_CREATE, actor=actor, target_kind="grant",
                     target_id=grant.id, target_label=f"{grant.user_name} in {grant.group_name}",
                     changes={"state": [None, grant.state],
                              "startsAt": [None, grant.starts_at.isoformat()],
                              "endsAt": [None, grant.ends_at.isoformat()],
                              "request": [None, request.id], "by": [None, by]})
    topic = "access.grant.started" if grant.state == "active" else "access.grant.scheduled"
    _notify(uow, topic, {**grant_to_dict(grant, now),
                         "summary": f"{grant.user_name} has {grant.group_name} until "
                                    f"{grant.ends_at:%Y-%m-%d %H:%M} UTC"})
    return grant


def request_access(uow: UnitOfWork, config: AccessConfig, principal: Principal, ask: Ask
                   ) -> tuple[AccessRequest, Decision]:
    """File a request; auto-approved and break-glass requests get their grant at once."""
    now = uow.clock.now()
    try:
        decision, ctx, texts = _decide(uow, config, principal, ask)
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_REQUEST_CREATE, target_kind="group",
                target_id=None, target_label=ask.group[:256],
                details={"user": ask.user or principal.user_name})
    policy, group, user = ctx.policy, ctx.group, ctx.user
    request = AccessRequest(
        user_id=user.id, user_name=user.user_name, group_id=group.id,
        group_name=group.display_name, requested_by=_label(principal),
        requested_via=principal.via, policy_name=policy.name, policy_digest=policy.digest,
        state="pending", duration_seconds=int(decision.duration.total_seconds()),
        window_start=ask.starts_at, reason=texts["reason"], ticket=texts["ticket"],
        approvals_needed=policy.approvals, break_glass=decision.outcome == "break_glass",
        needs_review=decision.outcome == "break_glass", auth_context=_auth(principal),
        created_at=now, pending_until=now + policy.pending_ttl)
    uow.session.add(request)
    uow.session.flush()
    uow.audit.record(AuditAction.ACCESS_REQUEST_CREATE, actor=principal.actor,
                     target_kind="access_request", target_id=request.id,
                     target_label=f"{user.user_name} → {group.display_name}",
                     reason=(texts["reason"] or "")[:512] or None,
                     changes={"group": [None, group.display_name], "user": [None, user.user_name],
                              "durationSeconds": [None, request.duration_seconds],
                              "ticket": [None, request.ticket],
                              "decision": [None, decision.outcome], "rule": [None, decision.rule],
                              "policy": [None, policy.name], "policyDigest": [None, policy.digest],
                              "authContext": [None, request.auth_context]})
    grant = None
    if decision.outcome in ("auto_approved", "break_glass"):
        request.state = "approved"
        request.decided_at = now
        request.decided_by = decision.rule
        uow.audit.record(AuditAction.ACCESS_REQUEST_APPROVE, actor=principal.actor,
                         target_kind="access_request", target_id=request.id,
                         target_label=f"{user.user_name} → {group.display_name}",
                         changes={"state": ["pending", "approved"],
                                  "rule": [None, decision.rule],
                                  "policy": [None, policy.name],
                                  "policyDigest": [None, policy.digest]})
        grant = _start_grant(uow, request, decision.rule, starts_at=decision.starts_at,
                             duration=decision.duration, actor=principal.actor)
    _active(uow, principal, ActivityKind.ACCESS_REQUEST)
    topic = {"pending": "access.request.created", "auto_approved": "access.request.approved",
             "break_glass": "access.break_glass"}[decision.outcome]
    verb = {"pending": "asks for", "auto_approved": "was auto-approved for",
            "break_glass": "BROKE GLASS for"}[decision.outcome]
    _notify(uow, topic, _payload(uow, request, grant, f"{user.user_name} {verb} "
                                 f"{group.display_name}: {request.reason or '(no reason)'}"))
    uow.commit()
    return request, decision


def _pending(uow: UnitOfWork, request_id: str) -> AccessRequest:
    request = store.lock_request(uow.session, request_id)
    if request is None:
        raise AccessNotFoundError("unknown_request", f"there is no access request {request_id}")
    if request.state != "pending":
        raise AccessConflictError("not_pending", f"the request is {request.state}, not pending")
    if uow.clock.now() >= request.pending_until:
        raise AccessConflictError("not_pending", "the request expired: nobody decided in time")
    return request


def _check_approver(uow: UnitOfWork, config: AccessConfig, principal: Principal,
                    request: AccessRequest) -> AccessPolicy:
    """Return the policy that governs the request, if the principal may decide on it."""
    now = uow.clock.now()
    policy = config.policy_for(request.group_name)
    if policy is None or request.group_id is None:
        raise AccessConflictError("not_requestable", f"'{request.group_name}' is no longer "
                                  "requestable")
    if principal.user_id is not None and principal.user_id == request.user_id:
        raise AccessForbiddenError("self_approval", "nobody may decide on their own request")
    if principal.user_id is None or queries.member_of_any(
            uow.session, principal.user_id, policy.approvers, now) is None:
        raise AccessForbiddenError(
            "not_approver", f"policy '{policy.name}' lets members of "
            f"{', '.join(policy.approvers) or 'nobody'} approve")
    _check_session(config, principal, policy.approver_require_mfa, None, now, "approver")
    return policy


def _decided(uow: UnitOfWork, request: AccessRequest, state: str, principal: Principal,
             reason: str | None) -> None:
    request.state = state
    request.decided_at = uow.clock.now()
    request.decided_by = _label(principal)
    request.decision_reason = reason


def _review(uow: UnitOfWork, config: AccessConfig, principal: Principal, request_id: str,
            decision: str, reason: str | None
            ) -> tuple[AccessRequest, AccessPolicy, AccessReview, str | None]:
    """Record one reviewer's decision on a pending request (raises ``AccessError``)."""
    request = _pending(uow, request_id)
    policy = _check_approver(uow, config, principal, request)
    reason = _text(reason, MAX_REASON, "reason")
    review = AccessReview(request_id=request.id, reviewer_key=principal.key,
                          reviewer_label=_label(principal), decision=decision, reason=reason,
                          auth_context=_auth(principal), created_at=uow.clock.now())
    if not store.add_review(uow.session, review):
        raise AccessConflictError("already_reviewed", "you have already decided on this request")
    return request, policy, review, reason


def _request_label(uow: UnitOfWork, request_id: str) -> str | None:
    """Name a request for a refusal's audit event (who → what), if it exists."""
    request = uow.session.get(AccessRequest, request_id)
    return f"{request.user_name} → {request.group_name}" if request is not None else None


def approve(uow: UnitOfWork, config: AccessConfig, principal: Principal, request_id: str,
            reason: str | None = None) -> AccessRequest:
    """Record an approval; the last one needed approves the request and starts its grant."""
    try:
        request, policy, review, reason = _review(uow, config, principal, request_id, "approve",
                                                  reason)
        if request.user_id is None or not (user := uow.users.find(request.user_id)) \
                or not user.active:
            raise AccessConflictError("user_inactive", f"'{request.user_name}' is deactivated "
                                      "or gone")
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_REQUEST_APPROVE,
                target_kind="access_request", target_id=request_id,
                target_label=_request_label(uow, request_id))
    _active(uow, principal, ActivityKind.ACCESS_APPROVAL)
    label = f"{request.user_name} → {request.group_name}"
    count = store.approvals(uow.session, request.id)
    uow.audit.record(AuditAction.ACCESS_REQUEST_APPROVE, actor=principal.actor,
                     target_kind="access_request", target_id=request.id, target_label=label,
                     reason=(reason or "")[:512] or None,
                     changes={"approvals": [count - 1, count],
                              "needed": [None, request.approvals_needed],
                              "policy": [None, policy.name],
                              "policyDigest": [None, policy.digest],
                              "authContext": [None, review.auth_context]})
    if count >= request.approvals_needed:
        _decided(uow, request, "approved", principal, reason)
        grant = _start_grant(uow, request, _label(principal),
                             starts_at=request.window_start or uow.clock.now(),
                             duration=timedelta(seconds=request.duration_seconds),
                             actor=principal.actor)
        _notify(uow, "access.request.approved", _payload(
            uow, request, grant, f"{_label(principal)} approved {request.user_name}'s access to "
                                 f"{request.group_name}"))
    uow.commit()
    return request


def deny(uow: UnitOfWork, config: AccessConfig, principal: Principal, request_id: str,
         reason: str | None = None) -> AccessRequest:
    """Deny a pending request: one approver's no is enough."""
    try:
        request, policy, review, reason = _review(uow, config, principal, request_id, "deny",
                                                  reason)
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_REQUEST_DENY,
                target_kind="access_request", target_id=request_id,
                target_label=_request_label(uow, request_id))
    label = f"{request.user_name} → {request.group_name}"
    _decided(uow, request, "denied", principal, reason)
    uow.audit.record(AuditAction.ACCESS_REQUEST_DENY, actor=principal.actor,
                     target_kind="access_request", target_id=request.id, target_label=label,
                     reason=(reason or "")[:512] or None,
                     changes={"state": ["pending", "denied"], "policy": [None, policy.name],
                              "policyDigest": [None, policy.digest],
                              "authContext": [None, review.auth_context]})
    _notify(uow, "access.request.denied", _payload(
        uow, request, None, f"{_label(principal)} denied {request.user_name}'s access to "
                            f"{request.group_name}"))
    uow.commit()
    return request


def withdraw(uow: UnitOfWork, principal: Principal, request_id: str,
             reason: str | None = None) -> AccessRequest:
    """Withdraw a pending request: its user, whoever filed it, or an admin."""
    label = None
    try:
        request = _pending(uow, request_id)
        label = f"{request.user_name} → {request.group_name}"
        own = principal.user_id is not None and principal.user_id == request.user_id
        if not (own or principal.admin or principal.via == "cli"
                or request.requested_by == _label(principal)):
            raise AccessForbiddenError("not_yours", "only the requester or an admin may "
                                       "withdraw a request")
        reason = _text(reason, MAX_REASON, "reason")
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_REQUEST_WITHDRAW,
                target_kind="access_request", target_id=request_id, target_label=label)
    _decided(uow, request, "withdrawn", principal, reason)
    uow.audit.record(AuditAction.ACCESS_REQUEST_WITHDRAW, actor=principal.actor,
                     target_kind="access_request", target_id=request.id, target_label=label,
                     reason=(reason or "")[:512] or None,
                     changes={"state": ["pending", "withdrawn"]})
    _notify(uow, "access.request.withdrawn", _payload(
        uow, request, None, f"{request.user_name} withdrew the request for {request.group_name}"))
    uow.commit()
    return request


def close_review(uow: UnitOfWork, config: AccessConfig, principal: Principal, request_id: str,
                 reason: str | None) -> AccessRequest:
    """An approver looks at a break-glass request after the fact and closes its review."""
    label = None
    try:
        request = store.lock_request(uow.session, request_id)
        if request is None:
            raise AccessNotFoundError("unknown_request", f"there is no access request "
                                      f"{request_id}")
        label = f"{request.user_name} → {request.group_name}"
        if not request.needs_review:
            raise AccessConflictError("no_review_needed", "the request is not waiting for a "
                                      "review")
        _check_approver(uow, config, principal, request)
        reason = _text(reason, MAX_REASON, "reason")
        if not reason:
            raise AccessInvalidError("reason_required", "say what the review found")
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_REQUEST_CLOSE_REVIEW,
                target_kind="access_request", target_id=request_id, target_label=label)
    request.needs_review = False
    uow.audit.record(AuditAction.ACCESS_REQUEST_CLOSE_REVIEW, actor=principal.actor,
                     target_kind="access_request", target_id=request.id, target_label=label,
                     reason=reason[:512], changes={"needsReview": [True, False]})
    uow.commit()
    return request


def _chain(uow: UnitOfWork, grant: Grant) -> list[Grant]:
    """Return the grant and the extensions that follow it (oldest first), locked."""
    chain = [grant]
    assert grant.user_id is not None or grant.group_id is not None
    later = [g for g in store.live_grants_for_user(uow.session, grant.user_id or "",
                                                   uow.clock.now())
             if g.group_id == grant.group_id] if grant.user_id else []
    by_parent = {g.extended_from: g for g in later if g.extended_from}
    while chain[-1].id in by_parent:
        chain.append(by_parent[chain[-1].id])
    return chain


def _may_end(uow: UnitOfWork, config: AccessConfig, principal: Principal, grant: Grant) -> None:
    if principal.admin or principal.via == "cli":
        return
    if principal.user_id is not None and principal.user_id == grant.user_id:
        return  # "I am done": anyone may drop their own access
    policy = config.policy_for(grant.group_name)
    if policy is not None and principal.user_id is not None and queries.member_of_any(
            uow.session, principal.user_id, policy.approvers, uow.clock.now()) is not None:
        return
    raise AccessForbiddenError("not_allowed", "only the grant's user, an approver or an admin "
                               "may do that")


def revoke(uow: UnitOfWork, config: AccessConfig, principal: Principal, grant_id: str,
           reason: str | None = None) -> Grant:
    """End a grant now (and its extensions): access is gone at the next read."""
    label = None
    now = uow.clock.now()
    try:
        grant = store.lock_grant(uow.session, grant_id)
        if grant is None:
            raise AccessNotFoundError("unknown_grant", f"there is no grant {grant_id}")
        label = f"{grant.user_name} in {grant.group_name}"
        if grant.ends_at <= now or grant.state == "revoked":
            raise AccessConflictError("grant_ended", "the grant has already ended")
        _may_end(uow, config, principal, grant)
        reason = _text(reason, MAX_REASON, "reason")
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_GRANT_REVOKE, target_kind="grant",
                target_id=grant_id, target_label=label)
    for item in _chain(uow, grant):
        _end(uow, item, "revoked", _label(principal), reason or "revoked", principal.actor,
             AuditAction.ACCESS_GRANT_REVOKE)
    uow.commit()
    return grant


def _end(uow: UnitOfWork, grant: Grant, state: str, by: str, reason: str, actor: Actor,
         action: AuditAction) -> None:
    """End one grant now (revoked, or ended because its user or group went away)."""
    now = uow.clock.now()
    old_state, old_end = grant.state, grant.ends_at
    grant.state = state
    grant.ends_at = max(min(grant.ends_at, now), grant.starts_at)
    grant.ended_by = by
    grant.end_reason = reason[:1000]
    uow.audit.record(action, actor=actor, target_kind="grant", target_id=grant.id,
                     target_label=f"{grant.user_name} in {grant.group_name}",
                     reason=reason[:512],
                     changes={"state": [old_state, state],
                              "endsAt": [old_end.isoformat(), grant.ends_at.isoformat()]})
    _notify(uow, "access.grant.revoked" if state == "revoked" else "access.grant.ended",
            {**grant_to_dict(grant, now),
             "summary": f"{grant.user_name} no longer has {grant.group_name} ({reason})"})


def extend(uow: UnitOfWork, config: AccessConfig, principal: Principal, grant_id: str,
           duration: timedelta, reason: str | None = None) -> Grant:
    """Extend a live grant with a new linked grant that starts where it ends: no gap.

    Approvers and admins may extend; the grant's user only where policy auto-approves them.
    """
    label = None
    now = uow.clock.now()
    try:
        grant = store.lock_grant(uow.session, grant_id)
        if grant is None:
            raise AccessNotFoundError("unknown_grant", f"there is no grant {grant_id}")
        label = f"{grant.user_name} in {grant.group_name}"
        if grant.ends_at <= now or grant.state == "revoked":
            raise AccessConflictError("grant_ended", "the grant has ended; request access "
                                      "again")
        chain = _chain(uow, grant)
        if len(chain) > 1:
            raise AccessConflictError("already_extended", f"grant {grant.id} was extended by "
                                      f"{chain[1].id}; extend that one")
        policy = config.policy_for(grant.group_name)
        if policy is None or grant.group_id is None:
            raise AccessConflictError("not_requestable", f"'{grant.group_name}' is no longer "
                                      "requestable")
        own = principal.user_id is not None and principal.user_id == grant.user_id
        if own and not principal.admin:
            auto = (principal.via == "token"
                    and principal.token_name in policy.auto_approve_tokens) or (
                policy.auto_approve_if_member_of and queries.member_of_any(
                    uow.session, grant.user_id or "", policy.auto_approve_if_member_of, now))
            if not auto:
                raise AccessForbiddenError("approval_required", "an extension of your own "
                                           "grant needs an approver: file a new request")
            _check_session(config, principal, policy.require_mfa, policy.max_sign_in_age, now,
                           "requester")
        else:
            _may_end(uow, config, principal, grant)
        if duration <= timedelta(0) or duration > policy.max_duration:
            raise AccessInvalidError(
                "duration_too_long" if duration > timedelta(0) else "invalid_duration",
                f"an extension is longer than 0s and at most "
                f"{int(policy.max_duration.total_seconds())} seconds")
        reason = _text(reason, MAX_REASON, "reason")
        if policy.reason_required and not reason:
            raise AccessInvalidError("reason_required", f"policy '{policy.name}' requires a "
                                     "reason")
    except AccessError as err:
        _refuse(uow, err, principal, AuditAction.ACCESS_GRANT_EXTEND, target_kind="grant",
                target_id=grant_id, target_label=label)
    successor = Grant(request_id=grant.request_id, user_id=grant.user_id,
                      user_name=grant.user_name, group_id=grant.group_id,
                      group_name=grant.group_name,
                      state="active" if grant.ends_at <= now else "scheduled",
                      starts_at=grant.ends_at, ends_at=grant.ends_at + duration,
                      extended_from=grant.id, created_at=now, ending_soon_sent=False)
    uow.session.add(successor)
    grant.state = "extended"
    uow.session.flush()
    uow.audit.record(AuditAction.ACCESS_GRANT_EXTEND, actor=principal.actor, target_kind="grant",
                     target_id=grant.id, target_label=label, reason=(reason or "")[:512] or None,
                     changes={"extendedBy": [None, successor.id],
                              "endsAt": [grant.ends_at.isoformat(),
                                         successor.ends_at.isoformat()],
                              "policy": [None, policy.name],
                              "policyDigest": [None, policy.digest]})
    _notify(uow, "access.grant.extended", {
        **grant_to_dict(successor, now),
        "summary": f"{grant.user_name} keeps {grant.group_name} until "
                   f"{successor.ends_at:%Y-%m-%d %H:%M} UTC"})
    uow.commit()
    return successor


def end_grants_of_user(uow: UnitOfWork, user_id: str, reason: str, actor: Actor) -> int:
    """End every live or scheduled grant of a user (deactivated, deleted); no commit."""
    grants = store.live_grants_for_user(uow.session, user_id, uow.clock.now())
    for grant in grants:
        _end(uow, grant, "ended", actor.label or actor.kind, reason, actor,
             AuditAction.ACCESS_GRANT_END)
    return len(grants)


def end_grants_of_group(uow: UnitOfWork, group_id: str, reason: str, actor: Actor) -> int:
    """End every live or scheduled grant of a group (deleted); no commit."""
    grants = store.live_grants_for_group(uow.session, group_id, uow.clock.now())
    for grant in grants:
        _end(uow, grant, "ended", actor.label or actor.kind, reason, actor,
             AuditAction.ACCESS_GRANT_END)
    return len(grants)
