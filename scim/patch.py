"""The PATCH engine (RFC 7644 §3.5.2): parse a PatchOp body, apply it to a stored document.

Pure functions on plain dicts, checked against ``app.catalog``, so the service can run the same
engine for users and groups. Group ``members`` never go through ``apply_patch``: they are split
off as deltas (``split_member_operations``) so a one-member change never loads the whole group.
What Okta and Entra ID actually send is accepted as it comes (capitalised ops, path-less
replaces with dotted keys, "True" strings, a manager as a bare id, ...; each marked where handled).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any
from typing import Literal

from app.catalog import GROUP_SCHEMA
from app.catalog import Attribute
from app.catalog import ResourceKind
from scim.errors import InvalidFilter
from scim.errors import InvalidPath
from scim.errors import InvalidSyntax
from scim.errors import InvalidValue
from scim.errors import Mutability
from scim.errors import NoTarget
from scim.errors import TooMany

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_OPERATIONS = 1000
_OPS = ("add", "remove", "replace")
# Okta echoes these read-only keys in a path-less value (group rename); they are not changes.
_ECHOED = frozenset({"id", "schemas", "meta"})

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


# --- value filters inside brackets (RFC 7644 §3.4.2.2 valFilter) ---------------------------


@dataclass(frozen=True)
class _Cmp:
    attr: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class _Bool:
    op: Literal["and", "or"]
    items: tuple[_Expr, ...]  # flat, so a long "or" chain does not nest deeply


@dataclass(frozen=True)
class _Not:
    item: _Expr


_Expr = _Cmp | _Bool | _Not

_NAME = r"\$?[A-Za-z][A-Za-z0-9_-]*"
_PATH_RE = re.compile(rf"(?P<attr>{_NAME})(?:\[(?P<flt>.*)\])?(?:\.(?P<sub>{_NAME}))?", re.DOTALL)
_TOKEN_RE = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<par>[()])|(?P<word>[^\s()"]+))')
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SPACE_RE = re.compile(r"\s*\Z")
_MAX_NESTING = 32
_COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"})


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while not _SPACE_RE.match(text, pos):
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.lastgroup is None:
            raise InvalidFilter(f"cannot read filter {text!r} at offset {pos}")
        tokens.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return tokens


class _FilterParser:
    """Recursive descent: or < and < not/parens/comparison, as RFC 7644 §3.4.2.2 orders them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    def fail(self, why: str) -> InvalidFilter:
        return InvalidFilter(f"invalid filter {self.text!r}: {why}")

    def peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].casefold()
        return None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise self.fail("unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self) -> _Expr:
        expr = self.expr()
        if self.pos != len(self.tokens):
            raise self.fail(f"unexpected {self.tokens[self.pos][1]!r}")
        return expr

    def expr(self) -> _Expr:
        items = [self.term()]
        while self.peek_word() == "or":
            self.pos += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else _Bool("or", tuple(items))

    def term(self) -> _Expr:
        items = [self.factor()]
        while self.peek_word() == "and":
            self.pos += 1
            items.append(self.factor())
        return items[0] if len(items) == 1 else _Bool("and", tuple(items))

    def factor(self) -> _Expr:
        kind, text = self.take()
        if kind == "word" and text.casefold() == "not":
            return _Not(self.parenthesised())
        if (kind, text) == ("par", "("):
            self.pos -= 1
            return self.parenthesised()
        if kind != "word" or not re.fullmatch(_NAME, text):
            raise self.fail(f"expected an attribute name, got {text!r}")
        op = self.take()[1].casefold()
        if op == "pr":
            return _Cmp(text, "pr")
        if op not in _COMPARE_OPS:
            raise self.fail(f"unknown operator {op!r}")
        return _Cmp(text, op, self.literal())

    def parenthesised(self) -> _Expr:
        if self.take() != ("par", "("):
            raise self.fail("expected '('")
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise self.fail("nested too deeply")
        inner = self.expr()
        if self.take() != ("par", ")"):
            raise self.fail("expected ')'")
        self.depth -= 1
        return inner

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            try:
                return json.loads(text)
            except ValueError:
                raise self.fail(f"bad string {text!r}") from None
        words: dict[str, Any] = {"true": True, "false": False, "null": None}
        if kind == "word" and text.casefold() in words:
            return words[text.casefold()]
        if kind == "word" and _NUMBER_RE.fullmatch(text):
            return json.loads(text)
        raise self.fail(f"expected a value, got {text!r}")


def _bind(expr: _Expr, attr: Attribute) -> _Expr:
    """Check the filter's names against ``attr``'s sub-attributes; use canonical names."""
    if isinstance(expr, _Bool):
        return _Bool(expr.op, tuple(_bind(item, attr) for item in expr.items))
    if isinstance(expr, _Not):
        return _Not(_bind(expr.item, attr))
    sub = attr.sub(expr.attr)
    if sub is None:
        raise InvalidFilter(f"{attr.name} has no sub-attribute {expr.attr!r}")
    value = expr.value
    if sub.type == "boolean" and isinstance(value, str):
        value = _coerce_simple(sub, value, f"{attr.name}.{sub.name}")
    if expr.op in ("co", "sw", "ew") and not isinstance(value, str):
        raise InvalidFilter(f"{expr.op} needs a string in the filter on {attr.name}")
    if expr.op in ("gt", "ge", "lt", "le") and (value is None or isinstance(value, bool)):
        raise InvalidFilter(f"{expr.op} needs a string or number in the filter on {attr.name}")
    return _Cmp(sub.name, expr.op, value)


def _compare(op: str, actual: Any, wanted: Any, case_exact: bool) -> bool:
    if op == "pr":
        return actual not in (None, "", [], {})
    if isinstance(actual, str) and isinstance(wanted, str) and not case_exact:
        actual, wanted = actual.casefold(), wanted.casefold()
    if op in ("eq", "ne"):
        same = type(actual) is type(wanted) or (
            isinstance(actual, int | float) and isinstance(wanted, int | float)
            and not isinstance(actual, bool) and not isinstance(wanted, bool)
        )
        return (same and actual == wanted) is (op == "eq")
    if isinstance(actual, str) and isinstance(wanted, str):
        if op in ("co", "sw", "ew"):
            return {"co": wanted in actual, "sw": actual.startswith(wanted),
                    "ew": actual.endswith(wanted)}[op]
    elif not (isinstance(actual, int | float) and isinstance(wanted, int | float)):
        return False
    if op == "gt":
        return bool(actual > wanted)
    if op == "ge":
        return bool(actual >= wanted)
    if op == "lt":
        return bool(actual < wanted)
    return op == "le" and bool(actual <= wanted)


def _matches(expr: _Expr, element: Any, attr: Attribute) -> bool:
    """Evaluate a bound filter against one element of a multi-valued attribute."""
    if isinstance(expr, _Bool):
        hits = (_matches(item, element, attr) for item in expr.items)
        return all(hits) if expr.op == "and" else any(hits)
    if isinstance(expr, _Not):
        return not _matches(expr.item, element, attr)
    sub = attr.sub(expr.attr)
    actual = element.get(expr.attr) if isinstance(element, dict) else None
    return _compare(expr.op, actual, expr.value, sub is not None and sub.case_exact)


def _eq_terms(expr: _Expr) -> dict[str, Any] | None:
    """The fields an element created through this filter gets, or None if it cannot be built."""
    if isinstance(expr, _Cmp):
        return {expr.attr: expr.value} if expr.op == "eq" and expr.value is not None else None
    if isinstance(expr, _Bool) and expr.op == "and":
        terms: dict[str, Any] = {}
        for item in expr.items:
            found = _eq_terms(item)
            if found is None:
                return None
            terms.update(found)
        return terms
    return None


# --- paths (RFC 7644 §3.5.2 PATH) -----------------------------------------------------------


@dataclass(frozen=True)
class _RawPath:
    schema: str | None
    attr: str
    flt: _Expr | None
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
    flt = _FilterParser(m["flt"]).parse() if m["flt"] is not None else None
    return _RawPath(schema, m["attr"], flt, m["sub"])


@dataclass(frozen=True)
class _Target:
    ext: str | None  # the extension URN whose object holds the attribute, None for top level
    attr: Attribute
    flt: _Expr | None
    sub: Attribute | None
    label: str


def _resolve(kind: ResourceKind, path: str) -> _Target | None:
    """Resolve a path against the catalogue; None means write-only (accepted, never stored)."""
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
        # Entra: Example 5 sends "manager" without the enterprise URN.
        for schema in kind.extensions if attr is None and raw.schema is None else ():
            if (found := schema.attr(raw.attr)) is not None:
                ext, attr = schema.id, found
                break
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
    sub = attr.sub(raw.sub) if raw.sub is not None else None
    if raw.sub is not None and sub is None:
        raise InvalidPath(f"unknown sub-attribute in path {path!r}")
    if sub is not None and sub.mutability == "readOnly":
        raise Mutability(f"{path!r} is read-only")
    flt = _bind(raw.flt, attr) if raw.flt is not None else None
    return _Target(ext, attr, flt, sub, path)


# --- values ---------------------------------------------------------------------------------


def _coerce_simple(attr: Attribute, value: Any, label: str) -> Any:
    """Check a scalar against the attribute's type (RFC 7643 §2.3)."""
    if attr.type == "boolean":
        if isinstance(value, bool):
            return value
        # Entra: booleans arrive as "True"/"False" strings.
        if isinstance(value, str) and value.casefold() in ("true", "false"):
            return value.casefold() == "true"
    elif attr.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif attr.type == "decimal":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif isinstance(value, str):
        return value
    raise InvalidValue(f"{label} must be a {attr.type}, got {json.dumps(value)[:80]}")


def _maybe_json(value: Any, label: str) -> Any:
    """Entra: complex values (roles) sometimes arrive serialised as a JSON string."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidValue(f"{label}: value is not valid JSON") from None
    return value


def _coerce_complex(attr: Attribute, value: Any, label: str) -> Doc:
    """One complex value with canonical sub-attribute names; nulls and read-only keys dropped."""
    value = _maybe_json(value, label)
    if isinstance(value, list) and len(value) == 1 and not attr.multi_valued:
        value = value[0]  # Entra: manager arrives as a one-element list.
    if isinstance(value, str) and attr.sub("value") is not None:
        value = {"value": value}  # Entra: bare-string manager id.
    if not isinstance(value, dict):
        raise InvalidValue(f"{label} must be an object")
    out: Doc = {}
    for key, item in value.items():
        sub = attr.sub(key) if isinstance(key, str) else None
        if sub is None:
            raise InvalidPath(f"unknown sub-attribute {attr.name}.{key}")
        if item is not None and sub.mutability != "readOnly":
            out[sub.name] = _coerce_simple(sub, item, f"{attr.name}.{sub.name}")
    return out


def _coerce_element(attr: Attribute, value: Any, label: str) -> Any:
    if attr.type == "complex":
        return _coerce_complex(attr, value, label)
    return _coerce_simple(attr, value, label)


def _coerce_list(attr: Attribute, value: Any, label: str) -> list[Any]:
    value = _maybe_json(value, label) if attr.type == "complex" else value
    items = value if isinstance(value, list) else [value]
    return [_coerce_element(attr, item, label) for item in items if item is not None]


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
        scalar = _coerce_simple(target.sub, value, label)
        if not attr.multi_valued:
            box[attr.name] = {**(current if isinstance(current, dict) else {}),
                              target.sub.name: scalar}
            return
        items = [{**e, target.sub.name: scalar} for e in existing] or [{target.sub.name: scalar}]
        _store_list(box, attr, items, set(range(len(items))))
    elif attr.multi_valued:
        new = _coerce_list(attr, value, label)
        base = existing if op == "add" else []
        for item in new:
            if item not in base:
                base.append(item)
        written = {i for i, e in enumerate(base) if any(e is n for n in new)}
        _store_list(box, attr, base, written)
    elif attr.type == "complex":
        obj = _coerce_complex(attr, value, label)
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
        box[attr.name] = _coerce_simple(attr, value, label)


def _nulled(attr: Attribute, value: Any, label: str) -> set[str]:
    """The sub-attributes a complex value sets to null (RFC 7643 §2.5: unassigned)."""
    value = _maybe_json(value, label)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        return set()
    return {sub.name for key, item in value.items()
            if item is None and isinstance(key, str) and (sub := attr.sub(key)) is not None}


def _write_filtered(box: Doc, target: _Target, op: Op, value: Any, items: list[Any]) -> None:
    assert target.flt is not None
    attr, flt = target.attr, target.flt
    if target.sub is not None:
        patch: Doc = {target.sub.name: _coerce_simple(target.sub, value, target.label)}
    else:
        patch = _coerce_complex(attr, _single(value, target.label), target.label)
    terms = _eq_terms(flt) or {}
    hits = [i for i, e in enumerate(items) if _matches(flt, e, attr)]
    for i in hits:
        merge = op == "add" or target.sub is not None
        items[i] = {**items[i], **patch} if merge else {**terms, **patch}
    if not hits:
        # Entra: add or replace through a filter that matches nothing creates the element.
        if _eq_terms(flt) is None:
            raise NoTarget(f"{target.label!r} matches nothing and cannot create an element")
        items.append({**terms, **patch})
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
        _compare("eq", element.get(k), v, (s := attr.sub(k)) is not None and s.case_exact)
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
            kept = [e for e in items if not _matches(flt, e, attr)]
        else:
            kept = [_without(e, sub.name) if _matches(flt, e, attr) else e for e in items]
        _store_list(box, attr, kept, set())
    elif attr.multi_valued and value is not None and sub is None:
        # Entra: remove elements named in the value list, matched on their fields.
        wanted = _coerce_list(attr, value, target.label)
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
        if folded in _ECHOED:
            continue
        schema = next((s for s in kind.schemas() if s.id.casefold() == folded), None)
        if schema is not None:
            if not isinstance(item, dict):
                raise InvalidValue(f"{key} must hold an object")
            for name, sub_value in item.items():
                if str(name).casefold() not in _ECHOED:
                    _apply_path(doc, op, f"{schema.id}:{name}", sub_value, kind)
            continue
        known = any(folded.startswith(s.id.casefold() + ":") for s in kind.schemas())
        if folded.startswith("urn:") and not known:
            continue  # Entra: extension URNs we do not serve are sent anyway; ignore them.
        # Entra (aadOptscim062020): keys are paths, e.g. "name.givenName" or URN-prefixed.
        _apply_path(doc, op, str(key), item, kind)


def apply_patch(document: Doc, operations: list[PatchOperation], kind: ResourceKind) -> Doc:
    """Apply the operations in order to a deep copy of ``document`` and return it."""
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
    return result


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
    # Entra: "Add", "Replace", "Remove" in capitals.
    if not isinstance(op, str) or op.casefold() not in _OPS:
        raise InvalidSyntax(f"{where}.op must be add, remove or replace, got {op!r}")
    folded: Op = "add" if op.casefold() == "add" else (
        "remove" if op.casefold() == "remove" else "replace")
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


def parse_patch_request(body: Any) -> list[PatchOperation]:
    """Validate a PatchOp body (RFC 7644 §3.5.2) and return its operations, in order."""
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
    if len(operations) > MAX_OPERATIONS:
        raise TooMany(f"at most {MAX_OPERATIONS} operations per PATCH")
    return [_parse_operation(raw, i) for i, raw in enumerate(operations)]


# --- group members --------------------------------------------------------------------------


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


def _filter_ids(expr: _Expr) -> list[str]:
    """Okta: ``members[value eq "a" or value eq "b"]`` is the only member filter there is."""
    if isinstance(expr, _Bool) and expr.op == "or":
        return [member for item in expr.items for member in _filter_ids(item)]
    if (isinstance(expr, _Cmp) and expr.attr.casefold() == "value" and expr.op == "eq"
            and isinstance(expr.value, str) and expr.value):
        return [expr.value]
    raise InvalidFilter('members filters must be value eq "id" joined by or')


def _member_change(op: PatchOperation, raw: _RawPath) -> MemberChange:
    if raw.sub is not None:
        raise InvalidPath(f"{op.path!r}: member sub-attributes cannot be patched")
    if raw.flt is not None:
        if op.op != "remove":
            raise InvalidPath(f"{op.path!r}: a member filter only works with remove")
        return MemberChange("remove", tuple(dict.fromkeys(_filter_ids(raw.flt))))
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
