"""Neutral criteria compiled to SQL.

Every filter runs in the database: a path the compiler does not know raises
``InvalidFilterError`` instead of being dropped, so a filter can never widen its result. Case-
insensitive attributes compare casefolded keys (indexed columns) or ``casefold()`` of JSON values
with ``casefold()`` of the value, folded by the database on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import literal
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true

from app import catalog
from app.db import casefold
from app.errors import InvalidFilterError
from app.models import Group
from app.models import Membership
from app.models import User
from app.models import UserValue
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Not
from app.query import Or
from app.query import Sort
from app.query import ValuePath
from app.repository.common import fold
from app.repository.common import like_escape
from app.text import has_nul


def _nullable(expr: Any) -> bool:
    """Return whether ``expr`` can be NULL (a NOT NULL column needs no NULL guard)."""
    column = getattr(expr, "expression", expr)
    return bool(getattr(column, "nullable", True))


@dataclass(frozen=True)
class BindRule:
    """How one filter value becomes its bound parameter: checked, casefolded to meet a stored
    key (``fold``), and made a LIKE pattern for ``co``/``sw``/``ew``."""

    op: str
    fold: bool

    def value(self, value: Any) -> Any:
        if isinstance(value, str) and has_nul(value):
            raise InvalidFilterError("a filter value may not contain NUL (\\u0000)")
        if self.fold:
            value = fold(value)
        if self.op in _LIKE:
            value = _LIKE[self.op].format(like_escape(value))
        return value


_LIKE = {"co": "%{}%", "sw": "{}%", "ew": "%{}"}


def _compare(binds: list[BindRule | None], expr: Any, op: str, value: Any, *, fold_value: bool,
             sql_fold: bool = False) -> ColumnElement[bool]:
    """Compile ``expr op value`` so that an absent value never matches (NULL-safe under NOT).

    The value becomes the bound parameter ``v<n>``, n being this comparison's place among the
    criteria's comparisons; its rule goes to ``binds[n]`` (None: the value is not bound), so a
    statement compiled once serves every filter of the same shape (see ``_prepare``).

    ``fold_value``: ``expr`` is case-insensitive; the value is casefolded in Python to meet a
    stored key, or, with ``sql_fold``, by the database's ``casefold()`` as ``expr`` is.
    """
    name = f"v{len(binds)}"
    binds.append(None)
    if op == "pr":
        present: ColumnElement[bool] = expr.is_not(None)
        return and_(present, expr != literal("")) if fold_value else present
    if value is None:
        if op == "eq":
            absent: ColumnElement[bool] = expr.is_(None)
            return absent
        if op == "ne":
            present = expr.is_not(None)
            return present
        raise InvalidFilterError(f"'{op}' cannot compare with null")
    sql_fold = sql_fold and fold_value and isinstance(value, str)
    rule = BindRule(op, isinstance(value, str) and fold_value and not sql_fold)
    if op in _LIKE and not isinstance(value, str):
        raise InvalidFilterError(f"'{op}' needs a string value")
    binds[-1] = rule
    if op in _LIKE:
        pattern: Any = bindparam(name, rule.value(value), type_=String())
        rhs: Any = casefold(pattern) if sql_fold else pattern
        return and_(expr.is_not(None), expr.like(rhs, escape="\\"))
    param: Any = bindparam(name, rule.value(value),
                           type_=String() if sql_fold else expr.type)
    if sql_fold:
        param = casefold(param)
    if op == "eq":
        return and_(expr.is_not(None), expr == param) if _nullable(expr) else expr == param
    if op == "ne":
        return or_(expr.is_(None), expr != param)
    comparators = {"gt": expr > param, "ge": expr >= param, "lt": expr < param,
                   "le": expr <= param}
    if op not in comparators:
        raise InvalidFilterError(f"unknown operator '{op}'")
    return and_(expr.is_not(None), comparators[op])


@dataclass(frozen=True)
class _Target:
    """What a path compiles to: a SQL expression and whether values are casefolded for it."""

    expr: Any
    fold: bool
    sql_fold: bool = False  # folded by the database (``casefold(expr)``), not a stored key


def _json_leaf(doc: Any, keys: Sequence[str], attr: catalog.Attribute) -> _Target:
    """Address a singular value inside a JSON document column."""
    element = doc[tuple(keys)] if len(keys) > 1 else doc[keys[0]]
    if attr.type == "boolean":
        return _Target(element.as_boolean(), False)
    if attr.type in {"integer"}:
        return _Target(element.as_integer(), False)
    if attr.type == "decimal":
        return _Target(element.as_float(), False)
    text = element.as_string()
    if attr.case_exact:
        return _Target(text, False)
    return _Target(casefold(text), True, sql_fold=True)


class Compiler:
    """Compile criteria for one resource kind into a WHERE clause."""

    def __init__(self, kind: catalog.ResourceKind) -> None:
        self.kind = kind
        # One entry per comparison compiled, in order: how its value is bound (``_compare``).
        self.binds: list[BindRule | None] = []

    def compile(self, criteria: Criteria) -> ColumnElement[bool]:
        if isinstance(criteria, And):
            return and_(*(self.compile(c) for c in criteria.items))
        if isinstance(criteria, Or):
            return or_(*(self.compile(c) for c in criteria.items))
        if isinstance(criteria, Not):
            return not_(self.compile(criteria.item))
        if isinstance(criteria, ValuePath):
            return self.value_path(criteria)
        return self.compare(criteria)

    def term(self, expr: Any, cmp: Compare, *, fold_value: bool, sql_fold: bool = False
             ) -> ColumnElement[bool]:
        """Compile one comparison of ``expr`` (see ``_compare``)."""
        return _compare(self.binds, expr, cmp.op, cmp.value, fold_value=fold_value,
                        sql_fold=sql_fold)

    def resolve(self, path: str) -> catalog.Path:
        resolved = catalog.resolve(self.kind, path)
        if resolved is None:
            raise InvalidFilterError(f"unknown attribute '{path}'")
        return resolved

    def compare(self, cmp: Compare) -> ColumnElement[bool]:
        resolved = self.resolve(cmp.path)
        if resolved.attribute.multi_valued:
            sub = resolved.sub.name if resolved.sub else "value"
            return self.value_path(ValuePath(resolved.attribute.name, Compare(sub, cmp.op,
                                                                             cmp.value)))
        target = self.singular(resolved)
        if target.expr is None:
            raise InvalidFilterError(f"'{cmp.path}' cannot be filtered on")
        return self.term(target.expr, cmp, fold_value=target.fold,
                        sql_fold=target.sql_fold)

    def singular(self, path: catalog.Path) -> _Target:  # pragma: no cover - overridden
        raise NotImplementedError

    def value_path(self, vp: ValuePath) -> ColumnElement[bool]:  # pragma: no cover
        raise NotImplementedError


class UserCompiler(Compiler):
    def __init__(self) -> None:
        super().__init__(catalog.USER_KIND)

    def singular(self, path: catalog.Path) -> _Target:
        key = path.key
        columns: dict[str, _Target] = {
            "id": _Target(User.id, False),
            "externalId": _Target(User.external_id, False),
            "userName": _Target(User.user_name_key, True),
            "active": _Target(User.active, False),
            "meta.created": _Target(User.created_at, False),
            "meta.lastModified": _Target(User.updated_at, False),
        }
        if key in columns:
            return columns[key]
        if path.schema is None:
            raise InvalidFilterError(f"'{key}' cannot be filtered on")
        if path.leaf.returned == "never" or path.leaf.type == "reference" and path.sub:
            raise InvalidFilterError(f"'{key}' cannot be filtered on")
        keys = [path.attribute.name] + ([path.sub.name] if path.sub else [])
        if path.schema == catalog.ENTERPRISE_SCHEMA:
            keys = [catalog.ENTERPRISE_SCHEMA, *keys]
        if path.leaf.type == "complex":
            raise InvalidFilterError(f"'{key}' is complex; name a sub-attribute")
        return _json_leaf(User.doc, keys, path.leaf)

    def value_path(self, vp: ValuePath) -> ColumnElement[bool]:
        resolved = self.resolve(vp.path)
        attr = resolved.attribute
        if attr.name == "groups":
            return self._groups(vp.where)
        if attr.name not in catalog.INDEXED_MULTI:
            raise InvalidFilterError(f"'{vp.path}' cannot be filtered on")
        inner = self._element(attr, vp.where)
        return exists().where(UserValue.user_id == User.id, UserValue.attr == attr.name, inner)

    def _element(self, attr: catalog.Attribute, where: Criteria) -> ColumnElement[bool]:
        if isinstance(where, And):
            return and_(*(self._element(attr, c) for c in where.items))
        if isinstance(where, Or):
            return or_(*(self._element(attr, c) for c in where.items))
        if isinstance(where, Not):
            return not_(self._element(attr, where.item))
        if isinstance(where, ValuePath):
            raise InvalidFilterError("value paths cannot nest")
        sub = attr.sub(where.path)
        if sub is None:
            raise InvalidFilterError(f"unknown attribute '{attr.name}.{where.path}'")
        if sub.name == "value" and not sub.case_exact:
            target = _Target(UserValue.value_key, True)
        else:
            target = _json_leaf(UserValue.data, [sub.name], sub)
        return self.term(target.expr, where, fold_value=target.fold,
                        sql_fold=target.sql_fold)

    def _groups(self, where: Criteria) -> ColumnElement[bool]:
        if isinstance(where, And | Or):
            parts = [self._groups(c) for c in where.items]
            return and_(*parts) if isinstance(where, And) else or_(*parts)
        if isinstance(where, Not):
            return not_(self._groups(where.item))
        if isinstance(where, ValuePath) or where.path.casefold() not in {"value", "display"}:
            raise InvalidFilterError("only groups.value and groups.display can be filtered on")
        if where.path.casefold() == "value":
            cond = self.term(Membership.group_id, where, fold_value=False)
            return exists().where(Membership.member_id == User.id, cond)
        cond = self.term(Group.display_name_key, where, fold_value=True)
        return exists().where(Membership.member_id == User.id, Membership.group_id == Group.id,
                              cond)


class GroupCompiler(Compiler):
    def __init__(self) -> None:
        super().__init__(catalog.GROUP_KIND)

    def singular(self, path: catalog.Path) -> _Target:
        columns: dict[str, _Target] = {
            "id": _Target(Group.id, False),
            "externalId": _Target(Group.external_id, False),
            "displayName": _Target(Group.display_name_key, True),
            "meta.created": _Target(Group.created_at, False),
            "meta.lastModified": _Target(Group.updated_at, False),
        }
        if path.key not in columns:
            raise InvalidFilterError(f"'{path.key}' cannot be filtered on")
        return columns[path.key]

    def value_path(self, vp: ValuePath) -> ColumnElement[bool]:
        if self.resolve(vp.path).attribute.name != "members":
            raise InvalidFilterError(f"'{vp.path}' cannot be filtered on")
        return exists().where(Membership.group_id == Group.id, self._member(vp.where))

    def _member(self, where: Criteria) -> ColumnElement[bool]:
        if isinstance(where, And | Or):
            parts = [self._member(c) for c in where.items]
            return and_(*parts) if isinstance(where, And) else or_(*parts)
        if isinstance(where, Not):
            return not_(self._member(where.item))
        if isinstance(where, ValuePath):
            raise InvalidFilterError("value paths cannot nest")
        name = where.path.casefold()
        if name == "value":
            return self.term(Membership.member_id, where, fold_value=False)
        if name == "type":
            return self.term(Membership.member_type, where, fold_value=False)
        raise InvalidFilterError("only members.value and members.type can be filtered on")




def order_keys(compiler: Compiler, model: Any, sort: Sort | None) -> list[tuple[Any, bool, bool]]:
    """Return the sort keys as (expression, descending, nulls last); the stable tie-breaker
    (created, id) always comes last, so import paging sees the same order on every page."""
    keys: list[tuple[Any, bool, bool]] = []
    if sort is not None:
        resolved = compiler.resolve(sort.path)
        if resolved.attribute.multi_valued:
            if model is not User or resolved.attribute.name not in catalog.INDEXED_MULTI:
                raise InvalidFilterError(f"cannot sort by '{sort.path}'")
            # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, or else
            # by its first one.
            sub = resolved.sub or resolved.attribute.sub("value")
            if sub is None:
                raise InvalidFilterError(f"cannot sort by '{sort.path}'")
            column = (UserValue.value_key if sub.name == "value" and not sub.case_exact
                      else _json_leaf(UserValue.data, [sub.name], sub).expr)
            primary_first = case((UserValue.data["primary"].as_boolean() == true(), 0), else_=1)
            expr: Any = (
                select(column)
                .where(UserValue.user_id == User.id, UserValue.attr == resolved.attribute.name)
                .order_by(primary_first, UserValue.position)
                .limit(1)
                .scalar_subquery()
            )
        else:
            expr = compiler.singular(resolved).expr
        keys.append((expr, sort.descending, True))
    return [*keys, (model.created_at, False, False), (model.id, False, False)]


def order_terms(keys: list[tuple[Any, bool, bool]]) -> list[Any]:
    """ORDER BY terms of sort keys (see ``order_keys``)."""
    terms = []
    for expr, descending, nulls_last in keys:
        term = expr.desc() if descending else expr.asc()
        terms.append(term.nulls_last() if nulls_last else term)
    return terms
