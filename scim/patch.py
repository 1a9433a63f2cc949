"""The PATCH engine (RFC 7644 §3.5.2): parse a PatchOp body, apply it to a stored document.

Pure functions on plain dicts, checked against ``app.catalog``, so the service can run the same
engine for users and groups. A path's filter (``emails[type eq "work"]``) is read by the grammar
of ``?filter=`` (``scim.filters``) into the same criteria, and evaluated against the elements of
the resource being patched by ``scim.match``. Group ``members`` never go through ``apply_patch``:
they are split off as deltas (``split_member_operations``) so a one-member change never loads the
whole group. Okta and Entra ID quirks are accepted as they come,
through ``scim.quirks``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import cast

from app.catalog import GROUP_KIND
from app.catalog import GROUP_SCHEMA
from app.catalog import Attribute
from app.catalog import Path
from app.catalog import ResourceKind
from app.query import Criteria
from app.text import MAX_DEPTH
from config import Settings
from scim import quirks
from scim.errors import InvalidPath
from scim.errors import InvalidSyntax
from scim.errors import InvalidValue
from scim.errors import Mutability
from scim.errors import NoTarget
from scim.errors import TooMany
from scim.filters import Limits
from scim.filters import Syntax
from scim.filters import parse_value_filter
from scim.filters import read_filter
from scim.match import compare
from scim.match import folds
from scim.match import matches
from scim.schemas import validate_document
from scim.schemas import validate_values

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
# The default of FRONTDESK_SCIM_MAX_PATCH_OPERATIONS; the server passes the setting.
MAX_OPERATIONS = Settings.scim_max_patch_operations
_OPS = ("add", "remove", "replace")
# A path's filter is bounded by the body (FRONTDESK_SCIM_MAX_BODY_BYTES), not by the length and
# term limits of a ?filter=: Okta removes members with one long or-chain.
_PATH_FILTER = Limits(length=None, terms=None, depth=MAX_DEPTH)

Op = Literal["add", "remove", "replace"]
Doc = dict[str, Any]


@dataclass(frozen=True)
class PatchOperation:
    """One operation of a PatchOp request; ``op`` is lower-cased, ``path`` None when absent."""

    op: Op
    path: str | None
    value: Any


@dataclass(frozen=True)
class MemberChange:
    """A delta on a group's member set, applied by the service in SQL.

    ``add``/``remove`` change the listed ids; ``replace`` makes the set exactly ``ids``;
    ``remove_all`` is ``remove path=members`` without a value (RFC 7644 §3.5.2.2).
    """

    action: Op
    ids: tuple[str, ...]
    remove_all: bool = False


# --- paths (RFC 7644 §3.5.2 PATH) -----------------------------------------------------------

_NAME = r"\$?[A-Za-z][A-Za-z0-9_-]*"
_PATH_RE = re.compile(rf"(?P<attr>{_NAME})(?:\[(?P<flt>.*)\])?(?:\.(?P<sub>{_NAME}))?", re.DOTALL)


@dataclass(frozen=True)
class _RawPath:
    schema: str | None
    attr: str
    flt: Syntax | None  # checked for syntax; bound to the attribute by _resolve
    sub: str | None


def _parse_path(path: str) -> _RawPath:
    """Split ``[urn:]attr[filter][.sub]``; the URN's own dots and colons stay in ``schema``."""
    head, bracket, tail = path.partition("[")
    schema: str | None = None
    text = path
    if head.casefold().startswith("urn:"):
        schema, _, rest = head.rpartition(":")
        text = rest + bracket + tail
    m = _PATH_RE.fullmatch(text)
    if m is None:
        raise InvalidPath(f"invalid path {path!r}")
    flt = read_filter(m["flt"], _PATH_FILTER) if m["flt"] is not None else None
    return _RawPath(schema, m["attr"], flt, m["sub"])


@dataclass(frozen=True)
class _Target:
    ext: str | None  # the extension URN whose object holds the attribute, None for top level
    attr: Attribute
    flt: Criteria | None  # over the attribute's sub-attributes, as in a ValuePath
    sub: Attribute | None
    label: str


def _resolve(kind: ResourceKind, path: str) -> _Target | None:
    """Resolve a path against the catalogue; None means write-only (accepted, never stored)."""
    folded = path.casefold()
    if any(folded == e.id.casefold() or folded.startswith(e.id.casefold() + ":")
           for e in kind.read_only_extensions):
        return None  # Frontdesk's own read-only extension: ignored, never a failed write
    raw = _parse_path(path)
    ext: str | None = None
    attr: Attribute | None = None
    if raw.schema is not None and raw.schema.casefold() != kind.core.id.casefold():
        schema = kind.extension(raw.schema)
        if schema is None:
            raise InvalidPath(f"unknown schema in path {path!r}")
        ext, attr = schema.id, schema.attr(raw.attr)
    elif raw.attr.casefold() == "schemas":
        raise Mutability(f"{path!r} is read-only")
    else:
        attr = kind.top(raw.attr)
        found = quirks.unprefixed_extension(kind, raw.attr) if raw.schema is None else None
        if found is not None:
            ext, attr = found.id, found.attr(raw.attr)
    if attr is None:
        raise InvalidPath(f"unknown attribute in path {path!r}")
    if attr.mutability == "readOnly":
        raise Mutability(f"{path!r} is read-only")
    if kind.core.id == GROUP_SCHEMA and attr.name == "members":
        raise InvalidPath("members is handled by split_member_operations")
    if attr.mutability == "writeOnly":
        return None
    if raw.flt is not None and not attr.multi_valued:
        raise InvalidPath(f"{path!r}: a filter needs a multi-valued attribute")
    sub = attr.sub(quirks.sub_attribute_name(attr, raw.sub)) if raw.sub is not None else None
    if raw.sub is not None and sub is None:
        raise InvalidPath(f"unknown sub-attribute in path {path!r}")
    if sub is not None and sub.mutability == "readOnly":
        raise Mutability(f"{path!r} is read-only")
    flt = None
    if raw.flt is not None:
        flt = parse_value_filter(raw.flt, kind, Path(ext, attr).key, attr)
    return _Target(ext, attr, flt, sub, path)


# --- values ---------------------------------------------------------------------------------
# The engine puts values in their canonical shape and checks no types: apply_patch validates the
# patched document once, with validate_document, as a PUT body is validated.


def _scalar(attr: Attribute, value: Any) -> Any:
    """A simple value as it is stored (its type is validate_document's to check)."""
    return quirks.string_boolean(value) if attr.type == "boolean" else value


def _complex(attr: Attribute, value: Any, label: str) -> Doc:
    """One complex value with canonical sub-attribute names; nulls and read-only keys dropped."""
    value = quirks.json_value(value, label)
    if not attr.multi_valued:
        value = quirks.single_element(value)
    value = quirks.bare_id(value, attr)
    if not isinstance(value, dict):
        raise InvalidValue(f"{label} must be an object")
    out: Doc = {}
    for key, item in quirks.complex_value(attr, value, label).items():
        if not isinstance(key, str):
            raise InvalidPath(f"invalid sub-attribute {attr.name}.{key}")
        sub = attr.sub(key)
        if sub is None:
            out[key] = item  # a sub-attribute an IdP adds: kept as sent, as in a PUT body
        elif item is not None and sub.mutability != "readOnly":
            out[sub.name] = _scalar(sub, item)
    return out


def _element(attr: Attribute, value: Any, label: str) -> Any:
    if attr.type == "complex":
        return _complex(attr, value, label)
    return _scalar(attr, value)


def _list(attr: Attribute, value: Any, label: str) -> list[Any]:
    value = quirks.json_value(value, label) if attr.type == "complex" else value
    items = value if isinstance(value, list) else [value]
    return [_element(attr, item, label) for item in items if item is not None]


def _one_primary(items: list[Any], written: set[int]) -> None:
    """RFC 7643 §2.4: primary true at most once; the element just written wins."""
    primaries = [i for i, e in enumerate(items) if isinstance(e, dict) and e.get("primary") is True]
    if len(primaries) < 2:
        return
    keep = next((i for i in reversed(primaries) if i in written), primaries[-1])
    for i in primaries:
        if i != keep:
            items[i] = {**items[i], "primary": False}


def _store_list(box: Doc, attr: Attribute, items: list[Any], written: set[int]) -> None:
    items = [e for e in items if e != {}]
    _one_primary(items, written)
    if items:
        box[attr.name] = items
    else:
        box.pop(attr.name, None)


# --- applying -------------------------------------------------------------------------------


def _box(doc: Doc, target: _Target) -> Doc:
    if target.ext is None:
        return doc
    if not isinstance(doc.get(target.ext), dict):
        doc[target.ext] = {}
    box: Doc = doc[target.ext]
    return box


def _write(doc: Doc, target: _Target, op: Op, value: Any) -> None:
    """add/replace at a path (RFC 7644 §3.5.2.1, §3.5.2.3)."""
    box, attr, label = _box(doc, target), target.attr, target.label
    current = box.get(attr.name)
    existing = list(current) if isinstance(current, list) else []
    if target.flt is not None:
        _write_filtered(box, target, op, value, existing)
    elif target.sub is not None:
        scalar = _scalar(target.sub, value)
        if not attr.multi_valued:
            box[attr.name] = {**(current if isinstance(current, dict) else {}),
                              target.sub.name: scalar}
            return
        items = [{**e, target.sub.name: scalar} for e in existing] or [{target.sub.name: scalar}]
        _store_list(box, attr, items, set(range(len(items))))
    elif attr.multi_valued:
        new = _list(attr, value, label)
        base = existing if op == "add" else []
        for item in new:
            if item not in base:
                base.append(item)
        written = {i for i, e in enumerate(base) if any(e is n for n in new)}
        _store_list(box, attr, base, written)
    elif attr.type == "complex":
        obj = _complex(attr, value, label)
        # add and replace alike (RFC 7644 §3.5.2.1, §3.5.2.3): sub-attributes not in the value
        # are left unchanged and null ones become unassigned; only a new "value" (who a manager
        # is) replaces the whole object, so no stale $ref outlives it.
        if isinstance(current, dict) and "value" not in obj:
            nulled = _nulled(attr, value, label)
            obj = {k: v for k, v in {**current, **obj}.items() if k not in nulled}
        if obj:
            box[attr.name] = obj
        else:
            box.pop(attr.name, None)
    else:
        box[attr.name] = _scalar(attr, value)


def _nulled(attr: Attribute, value: Any, label: str) -> set[str]:
    """The sub-attributes a complex value sets to null (RFC 7643 §2.5: unassigned)."""
    value = quirks.bare_id(quirks.single_element(quirks.json_value(value, label)), attr)
    if not isinstance(value, dict):
        return set()
    return {sub.name for key, item in quirks.complex_value(attr, value, label).items()
            if item is None and isinstance(key, str) and (sub := attr.sub(key)) is not None}


def _write_filtered(box: Doc, target: _Target, op: Op, value: Any, items: list[Any]) -> None:
    assert target.flt is not None
    attr, flt = target.attr, target.flt
    if target.sub is not None:
        patch: Doc = {target.sub.name: _scalar(target.sub, value)}
    else:
        patch = _complex(attr, _single(value, target.label), target.label)
    created = quirks.created_element(flt)
    hits = [i for i, e in enumerate(items) if matches(flt, e, attr)]
    for i in hits:
        merge = op == "add" or target.sub is not None
        items[i] = {**items[i], **patch} if merge else {**(created or {}), **patch}
    if not hits:
        # Entra: add or replace through a filter that matches nothing creates the element.
        if created is None:
            raise NoTarget(f"{target.label!r} matches nothing and cannot create an element")
        items.append({**created, **patch})
        hits = [len(items) - 1]
    _store_list(box, attr, items, set(hits))


def _single(value: Any, label: str) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidValue(f"{label} takes one object")
        return value[0]
    return value


def _same(attr: Attribute, element: Any, wanted: Doc) -> bool:
    if not isinstance(element, dict) or not wanted:
        return False
    return all(
        compare("eq", element.get(k), v, fold=(s := attr.sub(k)) is not None and folds(s))
        for k, v in wanted.items()
    )


def _remove(doc: Doc, target: _Target, value: Any) -> None:
    """remove at a path (RFC 7644 §3.5.2.2); removing what is absent is a no-op."""
    attr = target.attr
    if attr.required and target.flt is None and target.sub is None:
        raise Mutability(f"{attr.name} is required and cannot be removed")
    box = _box(doc, target)
    current = box.get(attr.name)
    items = list(current) if isinstance(current, list) else []
    sub = target.sub
    if target.flt is not None:
        flt = target.flt
        if sub is None:
            kept = [e for e in items if not matches(flt, e, attr)]
        else:
            kept = [_without(e, sub.name) if matches(flt, e, attr) else e for e in items]
        _store_list(box, attr, kept, set())
    elif attr.multi_valued and value is not None and sub is None:
        # Entra: remove elements named in the value list, matched on their fields.
        wanted = validate_values(attr, _list(attr, value, target.label))
        _store_list(box, attr, [e for e in items if not any(_same(attr, e, w) for w in wanted)],
                    set())
    elif sub is None:
        box.pop(attr.name, None)
    elif attr.multi_valued:
        _store_list(box, attr, [_without(e, sub.name) for e in items], set())
    elif isinstance(current, dict):
        rest = _without(current, sub.name)
        if rest:
            box[attr.name] = rest
        else:
            box.pop(attr.name, None)


def _without(element: Any, key: str) -> Any:
    return {k: v for k, v in element.items() if k != key} if isinstance(element, dict) else element


def _apply_path(doc: Doc, op: Op, path: str, value: Any, kind: ResourceKind) -> None:
    schema = next((s for s in kind.schemas() if s.id.casefold() == path.casefold()), None)
    if schema is not None and op != "remove":
        _apply_no_path(doc, op, {schema.id: value}, kind)
        return
    if schema is not None and schema is not kind.core:
        doc.pop(schema.id, None)
        return
    target = _resolve(kind, path)
    if target is None:
        return  # password: accepted and never stored (catalogue: writeOnly).
    if op == "remove" or value is None:
        _remove(doc, target, value if op == "remove" else None)
    else:
        _write(doc, target, op, value)
    if target.ext is not None and doc.get(target.ext) == {}:
        del doc[target.ext]


def _apply_no_path(doc: Doc, op: Op, value: Any, kind: ResourceKind) -> None:
    """RFC 7644 §3.5.2.1/3 without path: each key of the value object is applied in turn."""
    if not isinstance(value, dict):
        raise InvalidSyntax(f"{op} without a path needs an object value")
    for key, item in value.items():
        folded = str(key).casefold()
        if folded in quirks.ECHOED_KEYS:
            continue
        schema = next((s for s in kind.schemas() if s.id.casefold() == folded), None)
        if schema is not None:
            if not isinstance(item, dict):
                raise InvalidValue(f"{key} must hold an object")
            for name, sub_value in item.items():
                if str(name).casefold() not in quirks.ECHOED_KEYS:
                    _apply_path(doc, op, f"{schema.id}:{name}", sub_value, kind)
            continue
        if quirks.foreign_urn(kind, str(key), paths=True):
            continue  # an extension this server does not serve (or serves read-only): ignored
        # Entra (aadOptscim062020): keys are paths, e.g. "name.givenName" or URN-prefixed.
        _apply_path(doc, op, str(key), item, kind)


def apply_patch(document: Doc, operations: list[PatchOperation], kind: ResourceKind) -> Doc:
    """Apply the operations in order to a deep copy of ``document``; return the result validated
    once, by ``validate_document``, as a PUT body would be."""
    result = copy.deepcopy(document)
    for operation in operations:
        if operation.op not in _OPS:
            raise InvalidSyntax(f"unknown op {operation.op!r}")
        if operation.path is not None:
            _apply_path(result, operation.op, operation.path, operation.value, kind)
        elif operation.op == "remove":
            raise NoTarget("remove needs a path")
        else:
            _apply_no_path(result, operation.op, operation.value, kind)
    return validate_document(kind, result)


# --- request parsing ------------------------------------------------------------------------


def _lookup(obj: dict[Any, Any], name: str) -> tuple[bool, Any]:
    for key, value in obj.items():
        if isinstance(key, str) and key.casefold() == name:
            return True, value
    return False, None


def _parse_operation(raw: Any, index: int) -> PatchOperation:
    where = f"Operations[{index}]"
    if not isinstance(raw, dict):
        raise InvalidSyntax(f"{where} must be an object")
    _, op = _lookup(raw, "op")
    name = quirks.patch_op(op)
    if name is None:
        raise InvalidSyntax(f"{where}.op must be add, remove or replace, got {op!r}")
    folded = cast(Op, name)
    _, path = _lookup(raw, "path")
    if path is not None and not isinstance(path, str):
        raise InvalidSyntax(f"{where}.path must be a string")
    if isinstance(path, str):
        path = path.strip() or None  # "" is sent by some clients for "no path"
    if path is not None:
        _parse_path(path)
    has_value, value = _lookup(raw, "value")
    if folded == "remove" and path is None:
        raise NoTarget(f"{where}: remove needs a path")
    if folded != "remove" and not has_value:
        raise InvalidSyntax(f"{where}: {folded} needs a value")
    if folded != "remove" and path is None and not isinstance(value, dict):
        raise InvalidSyntax(f"{where}: {folded} without a path needs an object value")
    return PatchOperation(folded, path, value)


def parse_patch_request(body: Any, max_operations: int = MAX_OPERATIONS) -> list[PatchOperation]:
    """Validate a PatchOp body (RFC 7644 §3.5.2) and return its operations, in order; more than
    ``max_operations`` (FRONTDESK_SCIM_MAX_PATCH_OPERATIONS) is TooMany."""
    if not isinstance(body, dict):
        raise InvalidSyntax("a PATCH body must be a JSON object")
    _, schemas = _lookup(body, "schemas")
    if not isinstance(schemas, list) or not any(
        isinstance(s, str) and s.casefold() == PATCH_OP_SCHEMA.casefold() for s in schemas
    ):
        raise InvalidSyntax(f"schemas must contain {PATCH_OP_SCHEMA}")
    _, operations = _lookup(body, "operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("Operations must be a non-empty list")
    if len(operations) > max_operations:
        raise TooMany(f"at most {max_operations} operations per PATCH")
    return [_parse_operation(raw, i) for i, raw in enumerate(operations)]


# --- group members --------------------------------------------------------------------------


_MEMBERS = next(a for a in GROUP_KIND.core.attributes if a.name == "members")


def _member_ids(value: Any) -> tuple[str, ...]:
    entries = value if isinstance(value, list) else [] if value is None else [value]
    ids: list[str] = []
    for entry in entries:
        found, member = _lookup(entry, "value") if isinstance(entry, dict) else (False, None)
        if not found or not isinstance(member, str) or not member.strip():
            raise InvalidValue("each member must be an object with a non-empty string value")
        if member not in ids:
            ids.append(member)
    return tuple(ids)


def _member_change(op: PatchOperation, raw: _RawPath) -> MemberChange:
    if raw.sub is not None:
        raise InvalidPath(f"{op.path!r}: member sub-attributes cannot be patched")
    if raw.flt is not None:
        if op.op != "remove":
            raise InvalidPath(f"{op.path!r}: a member filter only works with remove")
        where = parse_value_filter(raw.flt, GROUP_KIND, "members", _MEMBERS)
        return MemberChange("remove", tuple(dict.fromkeys(quirks.member_ids(where))))
    if op.op == "remove" and op.value is None:
        return MemberChange("remove", (), remove_all=True)
    return MemberChange(op.op, _member_ids(op.value))


def split_member_operations(
    operations: list[PatchOperation],
) -> tuple[list[PatchOperation], list[MemberChange]]:
    """Pull every ``members`` change out of a group PATCH, in order, as SQL-ready deltas."""
    rest: list[PatchOperation] = []
    changes: list[MemberChange] = []
    for op in operations:
        if op.path is None and isinstance(op.value, dict):
            # Okta: rename + full member list in one path-less replace.
            others = {k: v for k, v in op.value.items() if str(k).casefold() != "members"}
            found, members = _lookup(op.value, "members")
            if others or not found:
                rest.append(PatchOperation(op.op, None, others))
            if found and op.op != "remove":
                changes.append(MemberChange(op.op, _member_ids(members)))
            continue
        raw = _parse_path(op.path) if op.path is not None else None
        is_members = raw is not None and raw.attr.casefold() == "members" and (
            raw.schema is None or raw.schema.casefold() == GROUP_SCHEMA.casefold())
        if raw is not None and is_members:
            changes.append(_member_change(op, raw))
        else:
            rest.append(op)
    return rest, changes
