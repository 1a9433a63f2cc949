"""The write path of users, groups, memberships and tokens: every change to them happens here
(a SAML login's too, which ``app.provisioning`` hands over), inside a unit of work, with its
audit events, and commits once.

The core's other writes each belong to one module: admin login links (``app.admins``), a
login's identity link, last login and replay cache (``app.provisioning``, ``app.saml_store``), a
token's last use (``app.tokens``), pruning the audit log (``app.audit.prune``).

Documents are SCIM-shaped dicts with canonical attribute names (see ``app.catalog``); the
doors (SCIM, SAML, admin, CLI) validate their input and hand over documents. A write that
changes nothing writes nothing, not even an audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal

from app import catalog
from app.access.service import end_grants_of_group
from app.access.service import end_grants_of_user
from app.audit.events import Actor
from app.audit.events import AuditAction
from app.errors import InvalidInputError
from app.errors import PreconditionFailedError
from app.models import ApiToken
from app.models import Group
from app.models import User
from app.repository.common import fold
from app.text import has_control
from app.text import is_encodable
from app.uow import UnitOfWork

MAX_NAME = 256
Document = dict[str, Any]


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a document into ``{"name.givenName": ..., "emails": [...]}`` for diffs."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and (not prefix or key.startswith("urn:")):
            flat.update(flatten(value, f"{path}." if not key.startswith("urn:") else f"{path}:"))
        elif value is not None and value != [] and value != {}:
            flat[path] = value
    return flat


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Return ``{path: [old, new]}`` for every flattened path whose value differs."""
    a, b = flatten(old), flatten(new)
    return {k: [a.get(k), b.get(k)] for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def _check_version(current: int, expected: int | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailedError(
            f"the resource is at version {current}, not {expected}; fetch it again"
        )


def _text(doc: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    """A one-line name or identifier: at most MAX_NAME characters, no control characters
    (app.text: one rule for every door), and, for a unique name (``required``), a case-folded
    key that fits its column too (``ß`` folds to ``ss``, ``ﬃ`` to ``ffi``)."""
    value = doc.get(key)
    if value is None:
        if required:
            raise InvalidInputError(f"'{key}' is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInputError(f"'{key}' must be a non-empty string")
    if len(value) > MAX_NAME:
        raise InvalidInputError(f"'{key}' is longer than {MAX_NAME} characters")
    if has_control(value):
        raise InvalidInputError(f"'{key}' may not contain control characters")
    if not is_encodable(value):
        raise InvalidInputError(f"'{key}' holds a lone UTF-16 surrogate, which is not text")
    if required and len(fold(value)) > MAX_NAME:
        raise InvalidInputError(
            f"'{key}' is longer than {MAX_NAME} characters once case-folded "
            f"(as it is compared for uniqueness)")
    return value


# --- users -------------------------------------------------------------------------------


def _apply_user_doc(user: User, doc: Document) -> None:
    user_name = _text(doc, "userName", required=True)
    assert user_name is not None
    # Unassigned (a PATCH "remove active", RFC 7644 §3.5.2.2) is not active: a removal must
    # never re-activate anyone. A new user without "active" is active (create_user).
    active = doc.get("active", False)
    if not isinstance(active, bool):
        raise InvalidInputError("'active' must be a boolean")
    user.user_name = user_name
    user.user_name_key = fold(user_name)
    user.external_id = _text(doc, "externalId")
    user.display_name = _text(doc, "displayName")
    user.active = active
    user.doc = {k: v for k, v in doc.items() if v is not None}


def create_user(uow: UnitOfWork, doc: Document, *, actor: Actor, source: str = "scim",
                action: AuditAction = AuditAction.USER_CREATE, commit: bool = True) -> User:
    """Create a user; a taken userName raises ``ConflictError``.

    ``commit=False`` leaves the transaction open for a caller that does more (a JIT login).
    """
    doc = {"active": True, **doc}
    user = User(source=source, version=1)
    _apply_user_doc(user, doc)
    user.created_at = user.updated_at = uow.clock.now()
    uow.users.add(user)
    uow.users.index_values(user, replace=False)
    uow.audit.record(action, actor=actor, target_kind="user", target_id=user.id,
                     target_label=user.user_name, changes=diff({}, user.doc))
    if commit:
        uow.commit()
    return user


def _user_action(changes: Mapping[str, list[Any]]) -> AuditAction:
    if set(changes) == {"active"}:
        return AuditAction.USER_REACTIVATE if changes["active"][1] else AuditAction.USER_DEACTIVATE
    return AuditAction.USER_UPDATE


def update_user(
    uow: UnitOfWork,
    user_id: str,
    change: Callable[[Document], Document],
    *,
    actor: Actor,
    expected_version: int | None = None,
    action: AuditAction | None = None,
    reason: str | None = None,
) -> User:
    """Apply ``change`` to the user's current document under a row lock and save the result.

    ``change`` gets a copy of the stored document and returns the new one; PUT passes a function
    that ignores it, PATCH one that applies the operations. Raises ``NotFoundError``,
    ``PreconditionFailedError`` (stale ``expected_version``) or ``ConflictError``.
    """
    user = uow.users.get(user_id, lock=True)
    _check_version(user.version, expected_version)
    old = dict(user.doc)
    new = change(_deep_copy(old))
    changes = diff(old, new)
    if not changes:
        return user
    apply_user_change(uow, user, new, changes, actor=actor, action=action, reason=reason)
    return user


def apply_user_change(uow: UnitOfWork, user: User, new: Document,
                      changes: dict[str, list[Any]], *, actor: Actor,
                      action: AuditAction | None = None, commit: bool = True,
                      reason: str | None = None) -> None:
    """Store a user's new document (whose ``changes`` the caller computed) with its event."""
    _apply_user_doc(user, new)
    if changes.get("active", [None, None])[1] is True:
        user.reinstated_at = uow.clock.now()  # a re-activated user's dormant clock restarts
    user.version += 1
    user.updated_at = uow.clock.now()
    uow.users.save(user)
    if any(k.split(".")[0] in catalog.INDEXED_MULTI for k in changes):
        uow.users.index_values(user, replace=True)
    uow.audit.record(action or _user_action(changes), actor=actor, target_kind="user",
                     target_id=user.id, target_label=user.user_name, changes=changes,
                     reason=reason)
    if changes.get("active", [None, None])[1] is False:
        # A deactivated user keeps no time-bound access: grants end with the same event batch.
        end_grants_of_user(uow, user.id, "user_deactivated", actor)
    if commit:
        uow.commit()


def _deep_copy(doc: Document) -> Document:
    import copy

    return copy.deepcopy(doc)


MAX_REASON = 512


def set_user_active(uow: UnitOfWork, user_id: str, active: bool, *, actor: Actor,
                    reason: str | None = None) -> User:
    """Deactivate or re-activate a user; ``reason`` (why, in words) goes into the audit event.

    Setting the state the user is already in changes nothing and records nothing.
    """
    if reason is not None:
        reason = " ".join(reason.split())
        if not reason:
            raise InvalidInputError("the reason must not be empty")
        if len(reason) > MAX_REASON:
            raise InvalidInputError(f"the reason is longer than {MAX_REASON} characters")
    return update_user(uow, user_id, lambda doc: {**doc, "active": active}, actor=actor,
                       reason=reason)


def delete_user(uow: UnitOfWork, user_id: str, *, actor: Actor,
                expected_version: int | None = None) -> None:
    """Delete a user and every membership they held."""
    user = uow.users.get(user_id, lock=True)
    _check_version(user.version, expected_version)
    label = user.user_name
    end_grants_of_user(uow, user.id, "user_deleted", actor)
    left = uow.users.delete(user)
    changes: dict[str, Any] = {"userName": [label, None]}
    if left:
        changes["groups"] = [left, None]
    uow.audit.record(AuditAction.USER_DELETE, actor=actor, target_kind="user", target_id=user_id,
                     target_label=label, changes=changes)
    uow.commit()


# --- groups ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberDelta:
    """One membership change: add ids, remove ids (or all), or make the set exactly ``ids``.

    ``idp_entity_id`` marks the memberships it adds as made by that IdP's group claim (JIT), so
    that a later claim without the group may remove them; SCIM's are None. ``labels`` are member
    names the caller already knows (id, userName), so the audit events need not look them up.
    """

    action: Literal["add", "remove", "replace"]
    ids: tuple[str, ...] = ()
    remove_all: bool = False
    idp_entity_id: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


def _apply_group_doc(group: Group, doc: Document) -> None:
    name = _text(doc, "displayName", required=True)
    assert name is not None
    group.display_name = name
    group.display_name_key = fold(name)
    group.external_id = _text(doc, "externalId")
    group.doc = {k: v for k, v in doc.items() if v is not None and k != "members"}


def _resolve_members(uow: UnitOfWork, group: Group, ids: tuple[str, ...]) -> dict[str, str]:
    """Return id → type for ``ids``; unknown ids and cycles raise ``InvalidInputError``."""
    types = uow.groups.member_types(ids)
    missing = [i for i in ids if i not in types]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InvalidInputError(f"no user or group with id {shown}")
    nested = [i for i, t in types.items() if t == "Group"]
    if uow.groups.would_cycle(group.id, nested):
        raise InvalidInputError("a group cannot contain itself, directly or through other groups")
    return types


def _add_members(uow: UnitOfWork, group: Group, members: dict[str, str], granted_by: str | None,
                 idp_entity_id: str | None) -> list[str]:
    """Insert the memberships; the new members' rows stay locked against deletion until commit.

    A member deleted by another transaction between the check and the insert would otherwise
    leave a membership of nobody (the insert is invisible to that delete). Only new members are
    locked, after the group: a delete locks the member first and then the groups it was already
    in, so the two never wait for each other in a circle.
    """
    added = uow.groups.add_members(group.id, members, granted_by, idp_entity_id=idp_entity_id)
    if added:
        still_there = uow.groups.lock_members({i: members[i] for i in added})
        gone = [i for i in added if i not in still_there]
        if gone:
            raise InvalidInputError(f"no user or group with id {', '.join(gone[:5])}")
    return added


def _apply_members(uow: UnitOfWork, group: Group, deltas: list[MemberDelta], actor: Actor
                   ) -> bool:
    """Apply membership deltas in SQL; record one event per member added or removed, naming
    the member (its userName, or a group's displayName) with one lookup for them all."""
    granted_by = actor.label
    events: list[tuple[AuditAction, str]] = []
    known: tuple[tuple[str, str], ...] = ()
    for delta in deltas:
        added: list[str] = []
        removed: list[str] = []
        if delta.action == "add":
            added = _add_members(uow, group, _resolve_members(uow, group, delta.ids),
                                 granted_by, delta.idp_entity_id)
        elif delta.action == "remove":
            removed = (uow.groups.remove_all_members(group.id) if delta.remove_all
                       else uow.groups.remove_members(group.id, delta.ids))
        else:
            members = _resolve_members(uow, group, delta.ids)
            removed = uow.groups.remove_all_members(group.id, keep=list(members))
            added = _add_members(uow, group, members, granted_by, delta.idp_entity_id)
        events += [(AuditAction.GROUP_MEMBER_ADD, i) for i in added]
        events += [(AuditAction.GROUP_MEMBER_REMOVE, i) for i in removed]
        known += delta.labels
    names = _member_names(uow, [member_id for _, member_id in events], known)
    for action, member_id in events:
        name = names.get(member_id)
        adds = action is AuditAction.GROUP_MEMBER_ADD
        uow.audit.record(action, actor=actor, target_kind="group", target_id=group.id,
                         target_label=group.display_name,
                         changes={"member": [None, member_id] if adds else [member_id, None],
                                  "memberName": [None, name] if adds else [name, None]})
    return bool(events)


def _member_names(uow: UnitOfWork, ids: list[str], known: tuple[tuple[str, str], ...]
                  ) -> dict[str, str]:
    """userName (or a group's displayName) of each member, so an event says who: those the
    caller knows, the others in one query whatever their number."""
    names = dict(known)
    unknown = [i for i in ids if i not in names]
    if unknown:
        names.update(uow.groups.member_labels(unknown))
    return names


def create_group(uow: UnitOfWork, doc: Document, member_ids: tuple[str, ...], *,
                 actor: Actor, source: str = "scim", commit: bool = True) -> Group:
    """Create a group with its initial members; a taken displayName raises ``ConflictError``.

    ``commit=False`` leaves the transaction open for a caller that does more (a JIT login).
    """
    group = Group(source=source, version=1)
    _apply_group_doc(group, doc)
    group.created_at = group.updated_at = uow.clock.now()
    uow.groups.add(group)
    uow.audit.record(AuditAction.GROUP_CREATE, actor=actor, target_kind="group",
                     target_id=group.id, target_label=group.display_name,
                     changes=diff({}, group.doc))
    if member_ids:
        _apply_members(uow, group, [MemberDelta("add", member_ids)], actor)
    if commit:
        uow.commit()
    return group


def update_group(
    uow: UnitOfWork,
    group_id: str,
    change: Callable[[Document], Document] | None,
    deltas: list[MemberDelta],
    *,
    actor: Actor,
    expected_version: int | None = None,
    commit: bool = True,
) -> Group:
    """Change a group's attributes and/or members, in one transaction, under a row lock.

    Members are never read: deltas become INSERT/DELETE statements on ``memberships``.
    ``commit=False`` leaves the transaction open for a caller that does more (a JIT login).
    """
    group = uow.groups.get(group_id, lock=True)
    _check_version(group.version, expected_version)
    changed = False
    if change is not None:
        old = dict(group.doc)
        new = change(_deep_copy(old))
        changes = diff(old, new)
        if changes:
            _apply_group_doc(group, new)
            uow.groups.save(group)
            uow.audit.record(AuditAction.GROUP_UPDATE, actor=actor, target_kind="group",
                             target_id=group.id, target_label=group.display_name,
                             changes=changes)
            changed = True
    if deltas and _apply_members(uow, group, deltas, actor):
        changed = True
    if changed:
        group.version += 1
        group.updated_at = uow.clock.now()
        uow.groups.save(group)
        if commit:
            uow.commit()
    return group


def delete_group(uow: UnitOfWork, group_id: str, *, actor: Actor,
                 expected_version: int | None = None) -> None:
    """Delete a group and its memberships."""
    group = uow.groups.get(group_id, lock=True)
    _check_version(group.version, expected_version)
    label = group.display_name
    end_grants_of_group(uow, group.id, "group_deleted", actor)
    uow.groups.delete(group)
    uow.audit.record(AuditAction.GROUP_DELETE, actor=actor, target_kind="group",
                     target_id=group_id, target_label=label, changes={"displayName": [label, None]})
    uow.commit()


# --- tokens ------------------------------------------------------------------------------


def create_token(uow: UnitOfWork, name: str, scopes: tuple[str, ...], *, actor: Actor,
                 user_name: str | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is shown once and never stored.

    With ``user_name`` it is a personal token that acts as that user.
    """
    user_id = None
    if user_name is not None:
        user = uow.users.find_by_user_name(user_name)
        if user is None:
            raise InvalidInputError(f"there is no user '{user_name}'")
        user_id = user.id
    row, plaintext = uow.tokens.create(name, scopes, user_id)
    changes: dict[str, list[Any]] = {"scopes": [None, row.scopes]}
    if user_name is not None:
        changes["user"] = [None, user_name]
    uow.audit.record(AuditAction.TOKEN_CREATE, actor=actor, target_kind="token",
                     target_id=row.id, target_label=row.name, changes=changes)
    uow.commit()
    return row, plaintext


def revoke_token(uow: UnitOfWork, name: str, *, actor: Actor) -> ApiToken:
    """Revoke a token by name; revoking twice changes nothing."""
    row = uow.tokens.get_by_name(name)
    if row.revoked_at is None:
        row.revoked_at = uow.clock.now()
        uow.audit.record(AuditAction.TOKEN_REVOKE, actor=actor, target_kind="token",
                         target_id=row.id, target_label=row.name)
        uow.commit()
    return row
