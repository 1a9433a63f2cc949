"""SCIM filter and sortBy text to neutral criteria (RFC 7644 §3.4.2.2-3), checked by the catalogue.

scim2-filter-parser only lexes and parses: its transpilers silently drop attributes they do not
know, which would turn ``title pr and nosuch eq "x"`` into the wider ``title pr``. So we walk its
AST ourselves and resolve every path through ``app.catalog``; an unknown path is an error, never a
wider search. Its lexer knows neither string escapes nor multi-digit numbers, so every value is
swapped for a numbered placeholder before lexing. The grammar is RFC 7644's: a string value is
always quoted (``userName eq bjensen`` is refused; Okta and Entra quote theirs), only ``true``,
``false``, ``null`` and numbers come bare, and a quoted string must be text the store can hold.
Its ``and`` and ``or`` share one precedence level, so logical chains are regrouped here: ``and``
binds tighter. Filters nest at most ``app.text.MAX_DEPTH`` levels, as stored documents do.

The same grammar reads the filters of PATCH paths (``emails[type eq "work"].value``):
``read_filter`` checks the syntax alone, ``parse_value_filter`` binds it to a multi-valued
attribute, and ``scim.match`` evaluates the criteria against the elements of the resource
being patched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from functools import lru_cache
from typing import Any
from typing import cast

from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from app.catalog import Attribute
from app.catalog import Path
from app.catalog import ResourceKind
from app.catalog import resolve
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Not
from app.query import Operator
from app.query import Or
from app.query import Value
from app.query import ValuePath
from app.text import MAX_DEPTH
from app.text import has_nul
from app.text import is_encodable
from scim import quirks
from scim.errors import InvalidFilter

MAX_LENGTH = 4096
MAX_TERMS = 64

_TOKEN = re.compile(r'\s+|"(?:[^"\\]|\\.)*"|[()\[\]]|[^\s()\[\]"]+')
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_COMPARE = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
_KEYWORDS = _COMPARE | {"pr", "and", "or", "not"}


@dataclass(frozen=True)
class _Literal:
    """A comparison value as sent: ``kind`` is string, number, true, false or null."""

    kind: str
    text: str


@dataclass(frozen=True)
class Limits:
    """How long a filter may be, how many comparisons and how deeply nested; None: no limit."""

    length: int | None = MAX_LENGTH
    terms: int | None = MAX_TERMS
    depth: int = MAX_DEPTH


@dataclass(frozen=True)
class Syntax:
    """A filter whose syntax is checked, not yet bound to a schema.

    The top-level ``and``/``or`` chain is split here, so a long chain (Okta removes members with
    ``value eq "a" or value eq "b" or ...``) is parsed one short, cached operand at a time.
    ``operands`` are parse trees, each with its own values; ``operators`` join them, in order.
    """

    operands: tuple[tuple[Any, tuple[_Literal, ...]], ...]
    operators: tuple[str, ...]


@dataclass(frozen=True)
class _Ctx:
    kind: ResourceKind
    literals: tuple[_Literal, ...]
    parent: tuple[str, Attribute] | None = None  # inside ``attr[...]``: its key and definition


def parse_filter(text: str, kind: ResourceKind) -> Criteria:
    """Compile a SCIM filter for ``kind`` into criteria; anything doubtful is InvalidFilter."""
    return _bind(read_filter(text), kind, None)


def read_filter(text: str, limits: Limits = Limits()) -> Syntax:
    """Check a filter's syntax (RFC 7644 §3.4.2.2) within ``limits``; bind it later."""
    if limits.length is not None and len(text) > limits.length:
        raise InvalidFilter(f"The filter is longer than {limits.length} characters.")
    if not text.strip():
        raise InvalidFilter("The filter is empty.")
    segments, operators, literals = _prequote(text, limits)
    operands: list[tuple[Any, tuple[_Literal, ...]]] = []
    for tokens in segments:
        base = next((t for t in tokens if isinstance(t, int)), len(literals))
        count = sum(isinstance(t, int) for t in tokens)
        quoted = " ".join(t if isinstance(t, str) else f'"{t - base}"' for t in tokens)
        operands.append((_parse(quoted), tuple(literals[base:base + count])))
    return Syntax(tuple(operands), tuple(operators))


def parse_value_filter(syntax: Syntax, kind: ResourceKind, key: str, attr: Attribute) -> Criteria:
    """Bind the filter of a PATCH path ``key[...]`` to the sub-attributes of ``attr``.

    The criteria are those a ``?filter=key[...]`` gives inside its ValuePath.
    """
    return _bind(syntax, kind, (key, attr))


def _bind(syntax: Syntax, kind: ResourceKind, parent: tuple[str, Attribute] | None) -> Criteria:
    chain: list[Any] = []
    for i, (tree, literals) in enumerate(syntax.operands):
        if i:
            chain.append(syntax.operators[i - 1])
        chain.append(_walk(tree, _Ctx(kind, literals, parent)))
    return _regroup(chain)


def _parse(quoted: str) -> Any:
    try:
        tree = _parse_shape(quoted) if len(quoted) <= MAX_LENGTH else _parse_tree(quoted)
    except Exception as exc:
        detail = f"The filter is not valid SCIM filter syntax: {_describe(exc)}."
        raise InvalidFilter(detail) from exc
    if tree is None:
        raise InvalidFilter("The filter is not valid SCIM filter syntax.")
    return tree


@lru_cache(maxsize=512)
def _parse_shape(quoted: str) -> Any:
    """Parse a filter whose values are placeholders: IdPs send the same few shapes (``userName
    eq "0"``) with different values, so the parse tree is shared; the walk never mutates it."""
    return _parse_tree(quoted)


def _parse_tree(quoted: str) -> Any:
    return SCIMParser().parse(SCIMLexer().tokenize(quoted))


def parse_sort_by(text: str, kind: ResourceKind) -> str:
    """Return the canonical key to sort ``kind`` by; a complex or hidden attribute is refused."""
    name = text.strip()
    path = _resolve(kind, name) if 0 < len(name) <= MAX_LENGTH else None
    if path is None:
        raise InvalidFilter(f"Cannot sort by '{name}': no such attribute.")
    _check_usable(path.leaf, name)
    if path.sub is None and path.attribute.type == "complex":
        raise InvalidFilter(f"Cannot sort by '{name}': it is complex; name a sub-attribute.")
    return path.key


def _resolve(kind: ResourceKind, text: str) -> Path | None:
    """Resolve a path; an extension attribute may come without its URN if the core lacks it
    (quirks.unprefixed_extension: Entra's ``manager eq <id>``)."""
    path = resolve(kind, text)
    ext = quirks.unprefixed_extension(kind, text.partition(".")[0]) if path is None else None
    return resolve(kind, f"{ext.id}:{text}") if ext is not None else path


def _prequote(text: str, limits: Limits) -> tuple[list[list[str | int]], list[str],
                                                     list[_Literal]]:
    """Swap every value for its index in the values; count terms and nesting on the way.

    Return the tokens split at the top-level ``and``/``or``, those operators, and the values.
    """
    segments: list[list[str | int]] = [[]]
    operators: list[str] = []
    literals: list[_Literal] = []
    prev, depth, terms, pos = "start", 0, 0, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise InvalidFilter(f"Unterminated string at character {pos + 1} of the filter.")
        tok, pos, low = match.group(), match.end(), match.group().lower()
        if tok.isspace():
            continue
        if tok.startswith('"'):
            try:
                literal = _Literal("string", json.loads(tok))
            except ValueError:
                raise InvalidFilter(f"Invalid string {tok[:40]} in the filter.") from None
            if not is_encodable(literal.text) or has_nul(literal.text):
                raise InvalidFilter(f"The string {tok[:40]} in the filter is not storable text "
                                    "(a lone surrogate or NUL).")
        elif prev == "op" and tok not in ("(", ")", "[", "]") and low not in _KEYWORDS:
            literal = _Literal(_word_kind(tok), tok)
        else:
            if tok in ("(", "["):
                depth, prev = depth + 1, "start"
                if depth > limits.depth:
                    raise InvalidFilter(f"The filter nests deeper than {limits.depth} levels.")
            elif tok in (")", "]"):
                depth, prev = depth - 1, "close"
            elif prev in ("path", "close") and low in _COMPARE | {"pr"}:
                terms, prev = terms + 1, "op" if low != "pr" else "value"
                if limits.terms is not None and terms > limits.terms:
                    raise InvalidFilter(f"The filter has more than {limits.terms} comparisons.")
            elif depth == 0 and prev in ("value", "close") and low in ("and", "or"):
                operators.append(low)
                segments.append([])
                prev = "logic"
                continue
            else:
                prev = "logic" if low in ("and", "or", "not") else "path"
            segments[-1].append(tok)
            continue
        segments[-1].append(len(literals))
        literals.append(literal)
        prev = "value"
    return segments, operators, literals


def _word_kind(word: str) -> str:
    """The kind of an unquoted value: true, false, null (in any case: RFC 5234 literals are
    case-insensitive) or a number; anything else needs quotes (RFC 7644 §3.4.2.2)."""
    if word.lower() in ("true", "false", "null"):
        return word.lower()
    if _NUMBER.fullmatch(word):
        return "number"
    raise InvalidFilter(f"The value {word[:40]} in the filter needs double quotes "
                        "(RFC 7644 §3.4.2.2).")


def _describe(exc: Exception) -> str:
    message = str(exc)
    if message.endswith("at: None"):
        return "it ends too early"
    found = re.search(r"type='(\w+)', value=(['\"])(.*?)\2", message)
    if found is None:
        return message
    return "unexpected value" if found[1] == "COMP_VALUE" else f"unexpected '{found[3]}'"


def _walk(node: Any, ctx: _Ctx) -> Criteria:
    if isinstance(node, ast.Filter):
        if node.namespace is not None:
            key, attr = _parent(node.namespace, ctx)
            return ValuePath(key, _walk(node.expr, _Ctx(ctx.kind, ctx.literals, (key, attr))))
        inner = _walk(node.expr, ctx)
        return Not(inner) if node.negated else inner
    if isinstance(node, ast.LogExpr):
        return _regroup([i if isinstance(i, str) else _walk(i, ctx) for i in _chain(node)])
    if isinstance(node, ast.AttrExpr):
        return _attr_expr(node, ctx)
    raise InvalidFilter("The filter has an expression this server does not support.")


def _chain(node: Any) -> list[Any]:
    """Flatten an unparenthesised and/or chain into operands and operators, in order (without
    recursion: a chain may be thousands of terms long)."""
    out: list[Any] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.LogExpr):
            stack.extend((item.expr2, item.op, item.expr1))
        elif (isinstance(item, ast.Filter) and item.namespace is None and not item.negated
              and isinstance(item.expr, ast.LogExpr)):
            stack.append(item.expr)
        else:
            out.append(item)
    return out


def _regroup(chain: list[Criteria | str]) -> Criteria:
    """Join operands and operators in order; ``and`` binds tighter than ``or``."""
    groups: list[list[Criteria]] = [[]]
    for item in chain:
        if isinstance(item, str):
            if item.lower() == "or":
                groups.append([])
        else:
            groups[-1].append(item)
    return _join(Or, [_join(And, group) for group in groups])


def _join(cls: type[And] | type[Or], items: list[Criteria]) -> Criteria:
    flat: list[Criteria] = []
    for item in items:
        flat.extend(item.items if isinstance(item, cls) else (item,))
    return flat[0] if len(flat) == 1 else cls(tuple(flat))


def _path_text(apath: Any, with_sub: bool = True) -> str:
    name = apath.attr_name
    if not isinstance(name, str):
        raise InvalidFilter("Nested value filters are not supported.")
    text = f"{apath.uri}:{name}" if apath.uri else name
    return f"{text}.{apath.sub_attr.value}" if with_sub and apath.sub_attr else text


def _parent(apath: Any, ctx: _Ctx, with_sub: bool = True) -> tuple[str, Attribute]:
    """Resolve the attribute in front of ``[``: it must be multi-valued and complex."""
    if ctx.parent is not None:
        raise InvalidFilter("Nested value filters are not supported.")
    text = _path_text(apath, with_sub)
    path = _resolve(ctx.kind, text)
    if path is None:
        raise InvalidFilter(f"Unknown attribute '{text}' in the filter.")
    if path.sub is not None or not path.attribute.multi_valued:
        raise InvalidFilter(f"'{text}[...]': only multi-valued complex attributes take [...].")
    return path.key, path.attribute


def _attr_expr(node: Any, ctx: _Ctx) -> Criteria:
    op = str(node.value).lower()
    apath = node.attr_path
    literal = None if op == "pr" else _literal(node.comp_value, ctx)
    if isinstance(apath.attr_name, ast.Filter):  # Entra: emails[type eq "work"].value eq "x"
        namespace = apath.attr_name.namespace
        key, attr = _parent(namespace, ctx, with_sub=False)
        where = _walk(apath.attr_name.expr, _Ctx(ctx.kind, ctx.literals, (key, attr)))
        if namespace.sub_attr is None:
            if op != "pr":
                raise InvalidFilter(f"'{key}[...] {op}' needs a sub-attribute after ']'.")
            return ValuePath(key, where)
        sub = attr.sub(namespace.sub_attr.value)
        label = f"{key}.{namespace.sub_attr.value}"
        if sub is None:
            raise InvalidFilter(f"Unknown attribute '{label}' in the filter.")
        return ValuePath(key, _join(And, [where, _compare(sub.name, sub, op, literal, label)]))
    if ctx.parent is not None:
        key, attr = ctx.parent
        name = _path_text(apath)
        sub = attr.sub(name) if apath.uri is None and apath.sub_attr is None else None
        if sub is None:
            raise InvalidFilter(f"Unknown attribute '{key}.{name}' in the filter.")
        return _compare(sub.name, sub, op, literal, f"{key}.{name}")
    text = _path_text(apath)
    path = _resolve(ctx.kind, text)
    if path is None:
        raise InvalidFilter(f"Unknown attribute '{text}' in the filter.")
    attr = path.attribute
    owner = Path(path.schema, attr).key
    if path.sub is None and attr.type == "complex":
        if attr.multi_valued:
            value = attr.sub("value")
            if value is None:
                raise InvalidFilter(f"'{text}' has no value; filter on one of its sub-attributes.")
            return _within(owner, _compare(value.name, value, op, literal, text))
        value = attr.sub("value")
        if op != "pr" and value is not None:
            # Entra: "manager eq <id>" compares the manager's value, as "emails eq" does.
            return _compare(Path(path.schema, attr, value).key, value, op, literal, text)
        if op != "pr":
            raise InvalidFilter(f"'{text}' is complex; filter on one of its sub-attributes.")
        subs = [s for s in attr.sub_attributes if _usable(s)]
        return _join(Or, [Compare(Path(path.schema, attr, s).key, "pr") for s in subs])
    if path.sub is not None and attr.multi_valued:
        return _within(owner, _compare(path.sub.name, path.sub, op, literal, text))
    return _compare(path.key, path.leaf, op, literal, text)


def _within(key: str, criteria: Criteria) -> Criteria:
    """Scope to one element of ``key``; "no element has it" keeps its Not outside."""
    if isinstance(criteria, Not):
        return Not(ValuePath(key, criteria.item))
    return ValuePath(key, criteria)


def _literal(comp_value: Any, ctx: _Ctx) -> _Literal:
    raw = getattr(comp_value, "value", None)
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) >= len(ctx.literals):
        raise InvalidFilter("The filter has a value where none is expected.")
    return ctx.literals[int(raw)]


def _usable(attr: Attribute) -> bool:
    return attr.returned != "never" and not attr.name.startswith("$")


def _check_usable(attr: Attribute, label: str) -> None:
    if not _usable(attr):
        raise InvalidFilter(f"'{label}' cannot be filtered or sorted on.")


def _compare(path: str, attr: Attribute, op: str, literal: _Literal | None, label: str) -> Criteria:
    """One comparison on a leaf attribute, with the operator and value checked against its type."""
    _check_usable(attr, label)
    if literal is None:
        return Compare(path, "pr")
    if literal.kind == "null":
        if op in ("eq", "ne"):
            return Not(Compare(path, "pr")) if op == "eq" else Compare(path, "pr")
        raise InvalidFilter(f"'{label} {op} null': null only goes with eq and ne.")
    if op in ("co", "sw", "ew") and attr.type not in ("string", "reference"):
        raise InvalidFilter(f"'{op}' does not apply to '{label}', a {attr.type} attribute.")
    if op in ("gt", "ge", "lt", "le") and attr.type == "boolean":
        raise InvalidFilter(f"'{op}' does not apply to '{label}', a boolean attribute.")
    return Compare(path, cast(Operator, op), _value(attr, literal, label))


def _value(attr: Attribute, literal: _Literal, label: str) -> Value:
    """Type the value after the attribute: str, bool, aware datetime, int or float."""
    kind, text = literal.kind, literal.text
    if attr.type == "boolean":
        flag = quirks.string_boolean(text)
        if isinstance(flag, bool):
            return flag
    elif kind in ("true", "false"):
        pass
    elif attr.type in ("string", "reference"):
        return text
    elif attr.type == "dateTime" and kind != "number":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    elif attr.type == "integer" and kind == "number" and re.fullmatch(r"-?\d+", text):
        return int(text)
    elif attr.type == "decimal" and kind == "number":
        return float(text)
    raise InvalidFilter(f"'{label}' is a {attr.type} attribute; {text!r} is not a valid value.")
