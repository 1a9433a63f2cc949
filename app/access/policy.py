"""Access policy: who may request which group, who approves, for how long, on what conditions.

Read from the TOML file's ``[access.policies.<name>]`` tables and validated when the app starts,
so a typo stops the start with a message naming the key (``access.policies.db-read.max_duration``)
instead of surfacing on the first request::

    [access.policies.db-read]
    groups = ["prod-db-readers"]        # displayNames; "prod-*" patterns allowed
    requesters = ["engineering"]        # members of these groups may request ([] = anyone)
    approvers = ["sre-leads"]           # members of these groups may approve, never their own
    approvals = 1                       # distinct approvals needed
    max_duration = "8h"
    default_duration = "1h"
    pending_ttl = "1h"                  # a request nobody decides by then expires
    reason = "required"                 # required | optional
    ticket_pattern = "^INC-[0-9]+$"     # set: a ticket is required and must match
    auto_approve_if_member_of = []      # e.g. ["oncall"]
    auto_approve_tokens = []            # names of personal tokens (CI pipelines) approved at once
    break_glass = false                 # emergency requests: active at once, reviewed after
    require_mfa = false                 # the requester's SSO session carries an MFA context
    approver_require_mfa = false        # the approver's SSO session carries an MFA context
    max_sign_in_age = ""                # e.g. "1h": the SSO sign-in must be that recent

    [access.mfa]                        # which authentication contexts count as MFA, per IdP
    "https://sts.windows.net/<tenant>/" = ["http://schemas.microsoft.com/claims/multipleauthn"]
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from config.durations import DurationError
from config.durations import parse_duration

# AuthnContextClassRef values and Entra authentication-method claims that mean "more than one
# factor". Okta: MultiFactor when the sign-on policy asked for MFA. Entra: the
# authnmethodsreferences claim carries multipleauthn after MFA.
DEFAULT_MFA_CONTEXTS = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor",
    "http://schemas.microsoft.com/claims/multipleauthn",
)
_POLICY_KEYS = frozenset({
    "groups", "requesters", "approvers", "approvals", "max_duration", "default_duration",
    "pending_ttl", "reason", "ticket_pattern", "auto_approve_if_member_of",
    "auto_approve_tokens", "break_glass", "require_mfa", "approver_require_mfa",
    "max_sign_in_age",
})
_ACCESS_KEYS = frozenset({"policies", "mfa"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PolicyError(ValueError):
    """The access configuration is wrong; the message names the key at fault."""


@dataclass(frozen=True)
class AccessPolicy:
    """One ``[access.policies.<name>]`` table, validated."""

    name: str
    groups: tuple[str, ...]
    requesters: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    approvals: int = 1
    max_duration: timedelta = timedelta(hours=8)
    default_duration: timedelta = timedelta(hours=1)
    pending_ttl: timedelta = timedelta(hours=24)
    reason_required: bool = True
    ticket_pattern: str | None = None
    auto_approve_if_member_of: tuple[str, ...] = ()
    auto_approve_tokens: tuple[str, ...] = ()
    break_glass: bool = False
    require_mfa: bool = False
    approver_require_mfa: bool = False
    max_sign_in_age: timedelta | None = None
    digest: str = ""  # SHA-256 of the table as written: which text decided, for the audit log

    def covers(self, display_name: str) -> bool:
        """Return whether this policy makes the group requestable (names case-insensitive)."""
        key = display_name.casefold()
        return any(fnmatch.fnmatchcase(key, pattern.casefold()) for pattern in self.groups)

    def ticket_ok(self, ticket: str | None) -> bool:
        """Return whether ``ticket`` satisfies the policy (no pattern: anything, even none)."""
        if self.ticket_pattern is None:
            return True
        return ticket is not None and re.fullmatch(self.ticket_pattern, ticket) is not None


@dataclass(frozen=True)
class AccessConfig:
    """All access policies, in file order, and the MFA contexts per IdP."""

    policies: tuple[AccessPolicy, ...] = ()
    mfa_contexts: Mapping[str, tuple[str, ...]] | None = None

    def policy_for(self, display_name: str) -> AccessPolicy | None:
        """Return the first policy that covers the group, or None (not requestable)."""
        return next((p for p in self.policies if p.covers(display_name)), None)

    def mfa_contexts_of(self, idp_entity_id: str | None) -> tuple[str, ...]:
        """Return the authentication contexts that count as MFA for an IdP (a step-up asks
        the IdP for these)."""
        configured = self.mfa_contexts or {}
        return configured.get(idp_entity_id or "", configured.get("default",
                                                                  DEFAULT_MFA_CONTEXTS))

    def is_mfa(self, idp_entity_id: str | None, contexts: tuple[str, ...]) -> bool:
        """Return whether any of a session's authentication contexts counts as MFA for its IdP."""
        accepted = self.mfa_contexts_of(idp_entity_id)
        return any(context in accepted for context in contexts)


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PolicyError(f"{key}: expected a list of names, got {value!r}")
    return tuple(v.strip() for v in value)


def _duration(key: str, value: Any) -> timedelta:
    try:
        result = parse_duration(value)
    except DurationError as err:
        raise PolicyError(f"{key}: {err}") from None
    if result <= timedelta(0):
        raise PolicyError(f"{key}: must be longer than 0s")
    return result


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{key}: expected true or false, got {value!r}")
    return value


def _closest(name: str, known: frozenset[str]) -> str:
    import difflib

    match = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _policy(name: str, table: Any) -> AccessPolicy:
    where = f"access.policies.{name}"
    if not _NAME.match(name):
        raise PolicyError(f"{where}: a policy name is letters, digits, '.', '_' or '-'")
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where}: expected a table")
    for key in table:
        if key not in _POLICY_KEYS:
            raise PolicyError(f"{where}.{key}: unknown key{_closest(key, _POLICY_KEYS)}")
    if "groups" not in table:
        raise PolicyError(f"{where}.groups: required (the groups this policy makes requestable)")
    values: dict[str, Any] = {"name": name}
    values["groups"] = _strings(f"{where}.groups", table["groups"])
    if not values["groups"]:
        raise PolicyError(f"{where}.groups: name at least one group")
    for key in ("requesters", "approvers", "auto_approve_if_member_of", "auto_approve_tokens"):
        if key in table:
            values[key] = _strings(f"{where}.{key}", table[key])
    for key in ("max_duration", "default_duration", "pending_ttl", "max_sign_in_age"):
        if key in table and not (key == "max_sign_in_age" and table[key] == ""):
            values[key] = _duration(f"{where}.{key}", table[key])
    for key in ("break_glass", "require_mfa", "approver_require_mfa"):
        if key in table:
            values[key] = _bool(f"{where}.{key}", table[key])
    if "approvals" in table:
        approvals = table["approvals"]
        if isinstance(approvals, bool) or not isinstance(approvals, int) \
                or not 1 <= approvals <= 10:
            raise PolicyError(f"{where}.approvals: a whole number from 1 to 10, got {approvals!r}")
        values["approvals"] = approvals
    if "reason" in table:
        if table["reason"] not in ("required", "optional"):
            raise PolicyError(f"{where}.reason: 'required' or 'optional', got {table['reason']!r}")
        values["reason_required"] = table["reason"] == "required"
    if "ticket_pattern" in table:
        pattern = table["ticket_pattern"]
        if not isinstance(pattern, str) or not pattern:
            raise PolicyError(f"{where}.ticket_pattern: expected a regular expression")
        try:
            re.compile(pattern)
        except re.error as err:
            raise PolicyError(f"{where}.ticket_pattern: not a regular expression ({err})") from None
        values["ticket_pattern"] = pattern
    policy = AccessPolicy(**values)
    if policy.default_duration > policy.max_duration:
        raise PolicyError(f"{where}.default_duration: longer than max_duration")
    needs_approvers = not (policy.auto_approve_if_member_of or policy.auto_approve_tokens
                           or policy.break_glass)
    if not policy.approvers and needs_approvers:
        raise PolicyError(f"{where}.approvers: name the groups whose members approve")
    digest = hashlib.sha256(json.dumps(table, sort_keys=True, default=str).encode()).hexdigest()
    return AccessPolicy(**{**values, "digest": digest})


def load_access_config(extra: Mapping[str, Any]) -> AccessConfig:
    """Validate the TOML file's ``[access]`` section (``settings.extra["access"]``)."""
    section = extra.get("access", {})
    if not isinstance(section, Mapping):
        raise PolicyError("access: expected a table")
    for key in section:
        if key not in _ACCESS_KEYS:
            raise PolicyError(f"access.{key}: unknown key{_closest(key, _ACCESS_KEYS)}")
    tables = section.get("policies", {})
    if not isinstance(tables, Mapping):
        raise PolicyError("access.policies: expected tables [access.policies.<name>]")
    policies = tuple(_policy(name, table) for name, table in tables.items())
    mfa = section.get("mfa")
    contexts: dict[str, tuple[str, ...]] | None = None
    if mfa is not None:
        if not isinstance(mfa, Mapping):
            raise PolicyError("access.mfa: expected a table of IdP entity id = [contexts]")
        contexts = {str(idp): _strings(f"access.mfa.{idp}", values) for idp, values in mfa.items()}
    return AccessConfig(policies, contexts)
