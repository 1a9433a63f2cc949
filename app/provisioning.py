"""Just-in-time provisioning from a validated SAML assertion: part of the service layer.

One login is one transaction: the assertion ID is consumed (replay cache), the AuthnRequest is
consumed, the user is found or created, mapped attributes and IdP-managed groups are updated,
and every outcome is audited — or, on refusal, only the refusal is written. Users, groups and
memberships change through ``app.services``, as SCIM's changes do; the login itself writes only
what is its own: the identity link, the last login time and the login's audit event.

Identity is (IdP entity id, NameID). A first login links to an existing user with the same
userName only when that user has no link to another IdP (that is how SCIM-pushed users get their
first SSO); accounts are never linked by email across IdPs. JIT never re-activates anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from typing import Literal

from app import services
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.db import utcnow
from app.errors import DomainError
from app.lifecycle.activity import ActivityKind
from app.models import User
from app.repository.common import fold
from app.saml_store import RequestProblemError
from app.saml_store import consume_assertion
from app.saml_store import consume_request
from app.uow import UnitOfWork

GroupsMode = Literal["off", "add", "sync"]

log = logging.getLogger("frontdesk.jit")


class LoginDeniedError(DomainError):
    """The login is refused; ``reason`` is a stable code for the audit log and the page."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class JitPolicy:
    """What a login from one IdP may do."""

    create_users: bool = True
    groups_mode: GroupsMode = "sync"
    create_unknown_groups: bool = False
    default_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoginClaims:
    """What a validated assertion says about the person."""

    idp_entity_id: str
    name_id: str
    assertion_id: str
    assertion_expires_at: datetime
    in_response_to: str | None
    user_name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)  # SCIM document fragment
    groups: tuple[str, ...] | None = None  # None: the assertion carried no group claim


# Why a claimed group did not become a membership (``ignoredGroups`` in the login event).
GROUPS_MODE_OFF = "groups_mode_off"  # the IdP's groups_mode is "off": claims are not used
UNKNOWN_GROUP = "unknown_group"  # no such group, and create_unknown_groups is false


@dataclass(frozen=True)
class IgnoredGroup:
    """A claimed (or default) group the login left out, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class LoginResult:
    """A successful login: who, whether they were just created, where to go next."""

    user_id: str
    user_name: str
    created: bool
    next_path: str | None


def idp_actor(idp_entity_id: str) -> Actor:
    """Return the audit actor for an IdP."""
    return Actor("idp", idp_entity_id, idp_entity_id)


def record_denied(uow: UnitOfWork, idp_entity_id: str | None, reason: str, *,
                  user: User | None = None, name_id: str | None = None) -> None:
    """Write only a ``login:denied`` event, and commit it."""
    uow.rollback()
    actor = idp_actor(idp_entity_id) if idp_entity_id else Actor("anonymous", None, "anonymous")
    uow.audit.record(
        AuditAction.LOGIN_DENIED, actor=actor, outcome="denied", reason=reason,
        target_kind="user" if user is not None or name_id else None,
        target_id=user.id if user is not None else None,
        target_label=user.user_name if user is not None else name_id,
    )
    uow.commit()


def _merge(doc: dict[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay mapped attributes on a document; nested objects merge, lists replace."""
    out = dict(doc)
    for key, value in fragment.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _find_or_link(uow: UnitOfWork, claims: LoginClaims) -> User | None:
    """Return the linked user, or a same-userName user that no other IdP owns (to link)."""
    user = uow.users.find_linked(claims.idp_entity_id, claims.name_id)
    if user is not None:
        return user
    user = uow.users.find_by_user_name_for_update(claims.user_name)
    if user is None:
        return None
    if any(idp != claims.idp_entity_id for idp in uow.users.linked_idps(user.id)):
        raise LoginDeniedError(
            "account_conflict",
            "an account with this user name belongs to another identity provider",
        )
    return user


def _group_ids(uow: UnitOfWork, names: tuple[str, ...], policy: JitPolicy,
               actor: Actor) -> tuple[set[str], list[IgnoredGroup]]:
    """Return the ids of the claimed groups (creating unknown ones if allowed) and the names
    left out because no such group exists."""
    if not names:
        return set(), []
    found = {g.display_name_key: g.id for g in uow.groups.find_by_display_names(names)}
    ignored: list[IgnoredGroup] = []
    for key, name in {fold(n): n for n in names}.items():
        if key in found:
            continue
        if policy.create_unknown_groups:
            group = services.create_group(uow, {"displayName": name}, (), actor=actor,
                                          source="jit", commit=False)
            found[key] = group.id
        else:
            ignored.append(IgnoredGroup(name, UNKNOWN_GROUP))
    return set(found.values()), ignored


def _sync_groups(uow: UnitOfWork, user: User, claims: LoginClaims, policy: JitPolicy,
                 actor: Actor, extra: tuple[str, ...] = ()) -> list[IgnoredGroup]:
    """Add claimed groups; in ``sync`` mode also drop this IdP's memberships not claimed.

    Return the claimed (or default) groups left out, with why, for the login's audit event:
    a group claim that changes nothing must say so, or a new install looks broken.

    Only the groups whose membership changes are touched, through ``services.update_group`` as
    SCIM's changes are: each group's row is locked, its version bumped and one event recorded
    per member added or removed. The groups are taken in the order of their ids, so that two
    logins never wait for each other in a circle; a login that changes nothing locks no group.
    """
    claimed = claims.groups or ()
    ignored = ([IgnoredGroup(name, GROUPS_MODE_OFF) for name in dict.fromkeys(claimed)]
               if policy.groups_mode == "off" else [])
    if policy.groups_mode == "off" and not extra:
        return ignored
    names = tuple(dict.fromkeys((claimed if policy.groups_mode != "off" else ()) + extra))
    wanted, unknown = _group_ids(uow, names, policy, actor)
    ignored += unknown
    joined = {group_id for group_id, _ in uow.users.groups_of([user.id])[user.id]}
    to_add = wanted - joined
    to_remove: set[str] = set()
    # A missing group claim is not "member of nothing": sync only acts on a claim that is there.
    if policy.groups_mode == "sync" and claims.groups is not None:
        managed = uow.groups.managed_by_idp(user.id, claims.idp_entity_id)
        to_remove = {group_id for group_id, _ in managed} - wanted
    known = ((user.id, user.user_name),)
    add = services.MemberDelta("add", (user.id,), idp_entity_id=claims.idp_entity_id,
                               labels=known)
    remove = services.MemberDelta("remove", (user.id,), labels=known)
    for group_id in sorted(to_add | to_remove):
        services.update_group(uow, group_id, None, [add if group_id in to_add else remove],
                              actor=actor, commit=False)
    return ignored


def provision_login(uow: UnitOfWork, claims: LoginClaims, policy: JitPolicy, *,
                    browser_binding: str | None, allow_unsolicited: bool) -> LoginResult:
    """Turn a validated assertion into a signed-in user, or raise ``LoginDeniedError``.

    ``ConflictError`` means a concurrent first login of the same person won the race to
    create or link the account: roll back and call again.

    Refusals are audited by the caller with ``record_denied`` (after this transaction is
    rolled back), so a refused login changes nothing but the log.
    """
    actor = idp_actor(claims.idp_entity_id)
    if not consume_assertion(uow.session, claims.assertion_id, claims.idp_entity_id,
                             claims.assertion_expires_at, uow.clock.now()):
        raise LoginDeniedError("replay", "this sign-in response was already used")
    next_path: str | None = None
    if claims.in_response_to:
        try:
            request = consume_request(uow.session, claims.in_response_to, browser_binding,
                                      claims.idp_entity_id, uow.clock.now())
        except RequestProblemError as problem:
            raise LoginDeniedError(
                "in_response_to", f"the sign-in answers a request that is {problem.reason}"
            ) from None
        next_path = request.next_path
    elif not allow_unsolicited:
        raise LoginDeniedError("unsolicited",
                               "sign-in must start here; IdP-initiated sign-in is turned off")

    user = _find_or_link(uow, claims)
    created = False
    if user is not None:
        if not user.active:
            raise LoginDeniedError("inactive", "this account is deactivated")
        if user.suspended_at is not None:
            raise LoginDeniedError("dormant", "this account is suspended after a long time "
                                   "without use; an admin can lift the suspension")
        if claims.idp_entity_id not in uow.users.linked_idps(user.id):
            uow.users.link(user.id, claims.idp_entity_id, claims.name_id)
        if claims.attributes:
            # The identity key (userName) is never rewritten from an assertion.
            fragment = {k: v for k, v in claims.attributes.items() if k != "userName"}
            old = dict(user.doc)
            new = _merge(old, fragment)
            changes = services.diff(old, new)
            if changes:
                services.apply_user_change(uow, user, new, changes, actor=actor,
                                           action=AuditAction.JIT_USER_UPDATE, commit=False)
        ignored = _sync_groups(uow, user, claims, policy, actor)
    else:
        if not policy.create_users:
            raise LoginDeniedError("not_provisioned", "no account exists for you here yet")
        doc = {**claims.attributes, "userName": claims.user_name, "active": True}
        # No user had this userName a moment ago (the lookup above), so a ConflictError here
        # means a concurrent login created it: it propagates, and the caller retries once,
        # finding that user (linked, or refused as another IdP's).
        user = services.create_user(uow, doc, actor=actor, source="jit",
                                    action=AuditAction.JIT_USER_CREATE, commit=False)
        uow.users.link(user.id, claims.idp_entity_id, claims.name_id)
        created = True
        ignored = _sync_groups(uow, user, claims, policy, actor, extra=policy.default_groups)

    user.last_login_at = utcnow()
    user.last_activity_at = uow.clock.now()
    user.last_activity_kind = ActivityKind.SIGN_IN.value
    details = None
    if ignored:
        shown = [{"group": item.name, "reason": item.reason} for item in ignored]
        details = {"ignoredGroups": [None, shown]}
        log.info("sign-in of %s: group claims ignored: %s", user.user_name,
                 ", ".join(f"{item.name} ({item.reason})" for item in ignored))
    uow.audit.record(AuditAction.LOGIN_SUCCESS, actor=actor, target_kind="user",
                     target_id=user.id, target_label=user.user_name, changes=details)
    uow.commit()
    return LoginResult(user.id, user.user_name, created, next_path)
