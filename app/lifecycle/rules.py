"""Dormant-account rules: who counts as dormant after how long, and what happens to them.

Read from the TOML file's ``[lifecycle.dormant.<name>]`` tables and validated when the app
starts, so a typo stops the start with the key at fault::

    [lifecycle.dormant.default]
    inactive_for = "90d"            # no activity (app.lifecycle.activity) for this long
    warn_before = "7d"              # a warning webhook this long before acting; "0s": none
    new_account_grace = "7d"        # accounts younger than this are never dormant
    exclude_groups = ["service-accounts"]
    scope_groups = []               # empty: everyone
    exclude_service_accounts = true # users whose SCIM userType is "service"
    exclude_admins = true           # members of FRONTDESK_ADMIN_GROUPS
    action = "auto"                 # deactivate | suspend | auto (SCIM-managed: suspend)

Several rules may exist; every warning, action and preview line names its rule.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from config.durations import DurationError
from config.durations import parse_duration

_RULE_KEYS = frozenset({
    "inactive_for", "warn_before", "new_account_grace", "exclude_groups", "scope_groups",
    "exclude_service_accounts", "exclude_admins", "action",
})
_LIFECYCLE_KEYS = frozenset({"dormant"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ACTIONS = ("deactivate", "suspend", "auto")
# userType values (casefolded) that mark a service account.
SERVICE_USER_TYPES = ("service",)


class RuleError(ValueError):
    """The lifecycle configuration is wrong; the message names the key at fault."""


@dataclass(frozen=True)
class DormantRule:
    """One ``[lifecycle.dormant.<name>]`` table, validated."""

    name: str
    inactive_for: timedelta
    warn_before: timedelta = timedelta(0)
    new_account_grace: timedelta = timedelta(days=7)
    exclude_groups: tuple[str, ...] = ()
    scope_groups: tuple[str, ...] = ()
    exclude_service_accounts: bool = True
    exclude_admins: bool = True
    action: str = "auto"

    def action_for(self, source: str) -> str:
        """Return what this rule does to a user from ``source``: an account the IdP manages
        through SCIM is suspended under ``auto`` (deactivating it would be undone by its next
        push); a local or JIT account is deactivated."""
        if self.action != "auto":
            return self.action
        return "suspend" if source == "scim" else "deactivate"


@dataclass(frozen=True)
class LifecycleConfig:
    """All dormant rules, in file order."""

    dormant: tuple[DormantRule, ...] = ()


def _closest(name: str, known: frozenset[str]) -> str:
    match = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _duration(key: str, value: Any, *, zero_ok: bool) -> timedelta:
    try:
        result = parse_duration(value)
    except DurationError as err:
        raise RuleError(f"{key}: {err}") from None
    if not zero_ok and result <= timedelta(0):
        raise RuleError(f"{key}: must be longer than 0s")
    return result


def _names(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RuleError(f"{key}: expected a list of group names, got {value!r}")
    return tuple(v.strip() for v in value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RuleError(f"{key}: expected true or false, got {value!r}")
    return value


def _rule(name: str, table: Any) -> DormantRule:
    where = f"lifecycle.dormant.{name}"
    if not _NAME.match(name):
        raise RuleError(f"{where}: a rule name is letters, digits, '.', '_' or '-'")
    if not isinstance(table, Mapping):
        raise RuleError(f"{where}: expected a table")
    for key in table:
        if key not in _RULE_KEYS:
            raise RuleError(f"{where}.{key}: unknown key{_closest(key, _RULE_KEYS)}")
    if "inactive_for" not in table:
        raise RuleError(f"{where}.inactive_for: required (how long without activity is dormant)")
    values: dict[str, Any] = {"name": name}
    values["inactive_for"] = _duration(f"{where}.inactive_for", table["inactive_for"],
                                       zero_ok=False)
    for key in ("warn_before", "new_account_grace"):
        if key in table:
            values[key] = _duration(f"{where}.{key}", table[key], zero_ok=True)
    for key in ("exclude_groups", "scope_groups"):
        if key in table:
            values[key] = _names(f"{where}.{key}", table[key])
    for key in ("exclude_service_accounts", "exclude_admins"):
        if key in table:
            values[key] = _bool(f"{where}.{key}", table[key])
    if "action" in table:
        if table["action"] not in ACTIONS:
            raise RuleError(f"{where}.action: one of {', '.join(ACTIONS)}; got {table['action']!r}")
        values["action"] = table["action"]
    rule = DormantRule(**values)
    if rule.warn_before >= rule.inactive_for:
        raise RuleError(f"{where}.warn_before: must be shorter than inactive_for")
    return rule


def load_lifecycle_config(extra: Mapping[str, Any]) -> LifecycleConfig:
    """Validate the TOML file's ``[lifecycle]`` section (``settings.extra["lifecycle"]``)."""
    section = extra.get("lifecycle", {})
    if not isinstance(section, Mapping):
        raise RuleError("lifecycle: expected a table")
    for key in section:
        if key not in _LIFECYCLE_KEYS:
            raise RuleError(f"lifecycle.{key}: unknown key{_closest(key, _LIFECYCLE_KEYS)}")
    tables = section.get("dormant", {})
    if not isinstance(tables, Mapping):
        raise RuleError("lifecycle.dormant: expected tables [lifecycle.dormant.<name>]")
    return LifecycleConfig(tuple(_rule(name, table) for name, table in tables.items()))
