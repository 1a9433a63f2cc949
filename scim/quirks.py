"""What Okta, Entra ID and OneLogin send that RFC 7643/7644 do not: each quirk once, sourced.

The callers (``scim.schemas`` for POST/PUT bodies and the patched document, ``scim.patch`` for
PATCH operations, ``scim.filters`` for ``?filter=`` and PATCH path filters) accept each quirk
through the one function here, so a quirk reads the same wherever it arrives; each names the
IdP's published behaviour or the field report it comes from. Three quirks decide the PATCH
engine's control flow and are tagged where they act, in ``scim.patch``: Okta's rename with the
member list in one path-less replace (``split_member_operations``), Entra's path-less replace
whose keys are paths (``_apply_no_path``), and Entra's remove of the elements listed in the
value (``_remove``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.catalog import Attribute
from app.catalog import ResourceKind
from app.catalog import Schema
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Or
from app.query import Value
from scim.errors import InvalidFilter
from scim.errors import InvalidValue

# Okta: echoes these read-only keys in a path-less replace value (a group rename carries "id");
# they are not changes.
ECHOED_KEYS = frozenset({"id", "schemas", "meta"})


def patch_op(op: Any) -> str | None:
    """Return a PatchOp ``op`` in lower case, or None if it is not add, remove or replace."""
    # Entra: "Add", "Replace", "Remove" in capitals (its default PATCH dialect).
    folded = op.casefold() if isinstance(op, str) else None
    return folded if folded in ("add", "remove", "replace") else None


def string_boolean(value: Any) -> Any:
    """Return True or False for a boolean or its text in any case; any other value unchanged."""
    # Entra: booleans arrive as the strings "True"/"False" (AzureAD/SCIMReferenceCode #21): in
    # bodies ("active": "True"), PATCH values ("value": "False") and filter values.
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower(), value)
    return value


def json_value(value: Any, label: str) -> Any:
    """Read a string that holds a JSON object or array; any other value unchanged.

    A string that starts like JSON and is not JSON is refused (InvalidValue): it was meant as a
    complex value, and reading it as text would store a garbled one.
    """
    # Entra: complex values (roles, manager) sometimes arrive serialised as a JSON string (SCIM-SDK
    # MsAzurePatchComplexValueRebuilder, issue #516).
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidValue(f"{label}: value is not valid JSON") from None
    return value


def single_element(value: Any) -> Any:
    """Unwrap a one-element list sent for a single-valued complex attribute."""
    # Entra: tutorial Example 5 adds the manager as [{"$ref": ..., "value": ...}].
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def bare_id(value: Any, attr: Attribute) -> Any:
    """Read a bare string sent for a complex attribute with a ``value`` as ``{"value": ...}``."""
    # Entra: a bare id as the manager (SCIM-SDK MsAzurePatchComplexValueRebuilder).
    if isinstance(value, str) and attr.type == "complex" and attr.sub("value") is not None:
        return {"value": value}
    return value


# OneLogin: its "SCIM Provisioner with SAML (SCIM v2 Enterprise)" template names the manager's
# id "managerId" (https://doc.keepnetlabs.com/next-generation-product/platform/company/
# company-settings/scim-settings/onelogin-scim-integration); the catalogue calls it "value".
SUB_ATTRIBUTE_ALIASES: dict[tuple[str, str], str] = {("manager", "managerid"): "value"}


def sub_attribute_name(attr: Attribute, name: str) -> str:
    """The catalogue's name for a sub-attribute an IdP names its own way; others unchanged."""
    return SUB_ATTRIBUTE_ALIASES.get((attr.name.casefold(), name.casefold()), name)


def complex_value(attr: Attribute, value: Mapping[Any, Any], label: str) -> dict[Any, Any]:
    """A complex value's keys as the catalogue spells them, aliases mapped; a single-valued
    attribute's blank text is null (unassigned). Unknown keys are kept for the caller.

    An alias and its target that both hold a value and differ are refused (InvalidValue): which
    one the IdP meant is not clear.
    """
    # OneLogin: its template renders a parameter the user lacks as "" and the manager's name as
    # "{$user.manager_firstname} {$user.manager_lastname}", i.e. " ": a user without a manager
    # arrives as "manager": {"managerId": "", "displayName": " "} and means no manager.
    out: dict[Any, Any] = {}
    aliased: dict[str, tuple[str, Any]] = {}
    for key, item in value.items():
        if not attr.multi_valued and isinstance(item, str) and not item.strip():
            item = None
        if not isinstance(key, str):
            out[key] = item
            continue
        target = sub_attribute_name(attr, key)
        sub = attr.sub(target)
        name = sub.name if sub is not None else key
        if target != key:
            aliased[name] = (key, item)
        else:
            out[name] = item
    for name, (alias, item) in aliased.items():
        if out.get(name) is None:
            out[name] = item
        elif item is not None and item != out[name]:
            where = f"{label}: " if label else ""
            raise InvalidValue(f"{where}{alias!r} and {name!r} differ")
    return out


def unprefixed_extension(kind: ResourceKind, name: str) -> Schema | None:
    """The extension with a top-level attribute ``name``, for a name without a URN the core
    schema lacks (the core schema always wins); None if there is none."""
    # Entra: names "manager" without the enterprise URN, in PATCH paths (tutorial Example 5) and
    # in filters ("manager eq <id>", Example 4).
    if name.casefold().startswith("urn:") or kind.top(name) is not None:
        return None
    return next((ext for ext in kind.extensions if ext.attr(name) is not None), None)


def foreign_urn(kind: ResourceKind, key: str, *, paths: bool) -> bool:
    """Whether ``key`` is a URN outside ``kind``'s schemas.

    In a body a key is a schema: it is foreign unless it names one of ``kind``'s schemas. In a
    path-less PATCH value a key is a path (``paths``): it is also at home under one of them
    (``urn:...:enterprise:2.0:User:manager``).
    """
    # Entra: sends the extension schemas it was configured with, served or not, and [MS1]
    # Example 2's typo "urn:ietf:params:scim:schemas:extension:enterprise:2.0User". A body keeps
    # them as sent (scim.schemas); a PATCH ignores them (scim.patch).
    folded = key.casefold()
    if not folded.startswith("urn:"):
        return False
    ids = [schema.id.casefold() for schema in kind.schemas()]
    if folded in ids:
        return False
    return not (paths and any(folded.startswith(i + ":") for i in ids))


def created_element(where: Criteria) -> dict[str, Value] | None:
    """The element an add or replace through an unmatched filter creates, or None if the filter
    does not say what it is (only ``eq`` with a value, joined by ``and``, does)."""
    # Entra: adds emails[type eq "work"].value to a user without one and expects it created
    # (SCIM-SDK #416).
    if isinstance(where, Compare):
        return {where.path: where.value} if where.op == "eq" and where.value is not None else None
    if not isinstance(where, And):
        return None
    element: dict[str, Value] = {}
    for item in where.items:
        found = created_element(item)
        if found is None:
            return None
        element.update(found)
    return element


def member_ids(where: Criteria) -> list[str]:
    """The ids of ``members[value eq "a" or value eq "b"]``; any other member filter is refused."""
    # Okta: removes members with path members[value eq "id"], several joined by or (Group Push).
    items = where.items if isinstance(where, Or) else (where,)
    ids: list[str] = []
    for item in items:
        if not (isinstance(item, Compare) and item.path == "value" and item.op == "eq"
                and isinstance(item.value, str) and item.value):
            raise InvalidFilter('members filters must be value eq "id" joined by or')
        ids.append(item.value)
    return ids
