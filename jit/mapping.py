"""IdP attribute names → Frontdesk's user document. Pure functions, no I/O.

Okta sends whatever names the admin configured (commonly ``email``, ``firstName``, ``lastName``,
``groups``); Entra ID sends claim URIs; LDAP-minded IdPs send ``mail``, ``givenName``, ``sn``.
The default map understands all three at once, so neither Okta nor Entra needs configuration.
Names are matched case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.text import has_control

# Target fields: "email", "givenName", "familyName", "displayName", "externalId",
# "groups", plus the enterprise attributes "department", "employeeNumber", "title".
_XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
_MS = "http://schemas.microsoft.com/identity/claims/"

OKTA: dict[str, str] = {
    "email": "email",
    "firstName": "givenName",
    "lastName": "familyName",
    "displayName": "displayName",
    "groups": "groups",
    "title": "title",
    "department": "department",
    "employeeNumber": "employeeNumber",
}

ENTRA: dict[str, str] = {
    _XMLSOAP + "emailaddress": "email",
    _XMLSOAP + "givenname": "givenName",
    _XMLSOAP + "surname": "familyName",
    _MS + "displayname": "displayName",
    _MS + "objectidentifier": "externalId",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": "groups",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": "roles",
}

LDAP: dict[str, str] = {
    "mail": "email",
    "email": "email",
    "givenName": "givenName",
    "sn": "familyName",
    "cn": "displayName",
    "displayName": "displayName",
    "groups": "groups",
    "memberOf": "groups",
    "title": "title",
    "departmentNumber": "department",
    "employeeNumber": "employeeNumber",
}

PRESETS: dict[str, dict[str, str]] = {
    "okta": OKTA,
    "entra": ENTRA,
    "ldap": LDAP,
    "default": {**LDAP, **OKTA, **ENTRA},
}

MAX_VALUE = 256
MAX_GROUPS = 500


@dataclass(frozen=True)
class Mapped:
    """What the assertion says, in Frontdesk's terms."""

    document: dict[str, Any]  # SCIM document fragment: name, displayName, emails, ...
    groups: tuple[str, ...] | None  # None: no group attribute at all
    unmapped: tuple[str, ...]  # attribute names we did not recognise (names only, for logs)


def resolve_map(preset: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return a case-folded attribute map: a preset plus per-IdP overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown attribute map '{preset}'; choose {', '.join(PRESETS)}")
    merged = {**PRESETS[preset], **(overrides or {})}
    return {k.casefold(): v for k, v in merged.items()}


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text: str = value.strip()
    if not text or len(text) > MAX_VALUE or has_control(text):
        return None
    return text


def first_value(attributes: Mapping[str, Sequence[Any]], name: str) -> str | None:
    """Return the first clean value of attribute ``name`` (case-insensitively), or None."""
    folded = name.casefold()
    for key, values in attributes.items():
        if key.casefold() == folded:
            for value in values or []:
                cleaned = _clean(value)
                if cleaned is not None:
                    return cleaned
    return None


def map_attributes(attributes: Mapping[str, Sequence[Any]], attribute_map: Mapping[str, str]
                   ) -> Mapped:
    """Translate assertion attributes into a user document fragment and group names."""
    fields: dict[str, list[str]] = {}
    unmapped: list[str] = []
    for name, values in attributes.items():
        target = attribute_map.get(name.casefold())
        if target is None:
            unmapped.append(name)
            continue
        cleaned = [v for v in (_clean(x) for x in (values or [])) if v is not None]
        fields.setdefault(target, []).extend(cleaned)

    def first(key: str) -> str | None:
        values = fields.get(key)
        return values[0] if values else None

    doc: dict[str, Any] = {}
    parts = {k: v for k, v in (("givenName", first("givenName")),
                               ("familyName", first("familyName"))) if v}
    if parts:
        doc["name"] = parts
    if first("displayName"):
        doc["displayName"] = first("displayName")
    if first("email"):
        doc["emails"] = [{"value": first("email"), "type": "work", "primary": True}]
    if first("externalId"):
        doc["externalId"] = first("externalId")
    if first("title"):
        doc["title"] = first("title")
    enterprise = {k: first(k) for k in ("department", "employeeNumber") if first(k)}
    if enterprise:
        doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = enterprise
    groups: tuple[str, ...] | None = None
    if "groups" in fields:
        groups = tuple(dict.fromkeys(fields["groups"]))[:MAX_GROUPS]
    return Mapped(doc, groups, tuple(unmapped))
