"""Resources as SCIM JSON: ``meta``, ``schemas``, and the ``attributes`` projection.

The projection is decided before anything is loaded, so a group asked for with
``excludedAttributes=members`` never reads its members, and a user list without ``groups``
never reads memberships (RFC 7644 §3.9).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from app import catalog
from app.catalog import ResourceKind
from app.models import Group
from app.models import User
from app.repository.accounts import MemberInfo
from scim.schemas import etag
from scim.schemas import iso


@dataclass
class Projection:
    """Which attributes a response carries: top-level keys and, per key, sub-attributes."""

    kind: ResourceKind
    only: dict[str, set[str] | None] | None = None  # None: everything returned by default
    excluded: dict[str, set[str] | None] = field(default_factory=dict)

    def wants(self, key: str) -> bool:
        """Return whether top-level ``key`` (e.g. ``members``, ``groups``) is in the response."""
        if key in {"id", "schemas"}:
            return True
        if self.only is not None and key not in self.only:
            return False
        return not (key in self.excluded and self.excluded[key] is None)

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Cut a full resource down to the projection."""
        out: dict[str, Any] = {}
        for key, value in resource.items():
            if not self.wants(key):
                continue
            subs = self.only.get(key) if self.only is not None else None
            value = _keep(value, subs) if subs else value
            hidden = _on_request(self.kind, key)
            if hidden and not (self.only is not None and key in self.only and subs is None):
                # returned "request" (RFC 7643 §7): only when named, or its parent is.
                value = _drop(value, hidden - (subs or set()))
            dropped = self.excluded.get(key)
            if dropped:
                value = _drop(value, dropped)
            if value not in (None, {}, []):
                out[key] = value
        return out


def _on_request(kind: ResourceKind, key: str) -> frozenset[str]:
    """The sub-attributes of top-level ``key`` that are returned only on request."""
    return _ON_REQUEST[kind.name].get(key.casefold(), frozenset())


def _returned_on_request(kind: ResourceKind) -> dict[str, frozenset[str]]:
    """Per casefolded top-level attribute name, its sub-attributes returned only on request
    (worked out once: every resource of a list asks for every key)."""
    found: dict[str, frozenset[str]] = {}
    for attr in (*kind.core.attributes, *catalog.COMMON):
        hidden = frozenset(s.name for s in attr.sub_attributes if s.returned == "request")
        if hidden:
            found.setdefault(attr.name.casefold(), hidden)
    return found


_ON_REQUEST = {kind.name: _returned_on_request(kind)
               for kind in (catalog.USER_KIND, catalog.GROUP_KIND)}


def _keep(value: Any, subs: set[str]) -> Any:
    if isinstance(value, list):
        return [_keep(v, subs) for v in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in subs}
    return value


def _drop(value: Any, subs: set[str] | frozenset[str]) -> Any:
    if isinstance(value, list):
        return [_drop(v, subs) for v in value]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in subs}
    return value


def _split(kind: ResourceKind, names: Iterable[str]) -> dict[str, set[str] | None]:
    """Map requested paths to {top-level response key: sub-keys or None for the whole}."""
    result: dict[str, set[str] | None] = {}
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        ext = kind.extension(name) or next(
            (e for e in kind.read_only_extensions if e.id.casefold() == name.casefold()), None)
        if ext is not None:
            result[ext.id] = None
            continue
        path = catalog.resolve(kind, name)
        if path is None:
            continue  # unknown names select nothing (RFC 7644 §3.9 leaves this open)
        is_ext = path.schema not in (None, kind.core.id)
        top = path.schema if is_ext and path.schema else path.attribute.name
        inner = path.attribute.name if is_ext else (path.sub.name if path.sub else None)
        if top in result and result[top] is None:
            continue
        if inner is None:
            result[top] = None
        else:
            existing = result.get(top)
            result[top] = (existing or set()) | {inner}
    return result


def projection(kind: ResourceKind, attributes: Iterable[str] | None,
               excluded: Iterable[str] | None) -> Projection:
    """Build the projection from the ``attributes``/``excludedAttributes`` parameters."""
    only = _split(kind, attributes) if attributes else None
    drop = _split(kind, excluded) if excluded and not attributes else {}
    return Projection(kind, only, drop)


def _meta(kind: str, location: str, created: Any, modified: Any, version: int) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": iso(created),
        "lastModified": iso(modified),
        "location": location,
        "version": etag(version),
    }


def user_resource(user: User, base: str, groups: list[tuple[str, str]] | None
                  ) -> dict[str, Any]:
    """Render a user; ``groups`` is None when the response does not carry them."""
    doc = dict(user.doc)
    schemas = [catalog.USER_SCHEMA]
    schemas += [k for k in doc if k.startswith("urn:")]
    resource: dict[str, Any] = {"schemas": schemas, "id": user.id}
    if user.external_id is not None:
        resource["externalId"] = user.external_id
    resource["userName"] = user.user_name
    for key, value in doc.items():
        if key not in {"externalId", "userName", "active"}:
            resource[key] = value
    if "active" in doc:  # absent once removed (RFC 7644 §3.5.2.2: unassigned)
        resource["active"] = user.active
    if groups:
        resource["groups"] = [
            {"value": gid, "display": name, "type": "direct", "$ref": f"{base}/Groups/{gid}"}
            for gid, name in groups
        ]
    if user.last_activity_at is not None:  # never active: counted from meta.created
        schemas.append(catalog.LIFECYCLE_SCHEMA)
        resource[catalog.LIFECYCLE_SCHEMA] = {"lastActivityAt": iso(user.last_activity_at),
                                              "lastActivityKind": user.last_activity_kind}
    resource["meta"] = _meta("User", f"{base}/Users/{user.id}", user.created_at,
                             user.updated_at, user.version)
    return resource


def group_resource(group: Group, base: str, members: list[MemberInfo] | None
                   ) -> dict[str, Any]:
    """Render a group; ``members`` is None when the response does not carry them."""
    resource: dict[str, Any] = {"schemas": [catalog.GROUP_SCHEMA], "id": group.id}
    if group.external_id is not None:
        resource["externalId"] = group.external_id
    resource["displayName"] = group.display_name
    if members:
        resource["members"] = [
            {k: v for k, v in (
                ("value", m.id), ("type", m.type), ("display", m.display),
                ("$ref", f"{base}/{'Users' if m.type == 'User' else 'Groups'}/{m.id}"),
            ) if v is not None}
            for m in members
        ]
    resource["meta"] = _meta("Group", f"{base}/Groups/{group.id}", group.created_at,
                             group.updated_at, group.version)
    return resource
