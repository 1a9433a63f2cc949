"""Criteria (``app.query``) evaluated in Python against one element of a multi-valued attribute.

A PATCH path selects elements (``emails[type eq "work"]``) of the one resource it changes; its
filter is read by ``scim.filters`` into the criteria a ``?filter=`` would give, and evaluated here
with the meaning ``app/repository/compile.py`` gives them in SQL:

- a text sub-attribute that is not caseExact compares casefolded (``str.casefold`` on both sides,
  as the stored keys and SQLite's ``casefold()`` do: ``Strauß`` eq ``STRAUSS``);
- an absent value matches no comparison but ``ne``; ``pr`` is "present", and for a casefolded text
  "present and not empty";
- a value of another type than the one compared with is never equal (so it matches ``ne``);
- ``gt``/``ge``/``lt``/``le`` order text by code point, numbers and times by value.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from app.catalog import Attribute
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Not
from app.query import Or
from app.query import Value
from scim.errors import InvalidFilter


def matches(where: Criteria, element: Any, attr: Attribute) -> bool:
    """Whether ``element`` of the multi-valued ``attr`` matches ``where``, whose paths name
    sub-attributes of ``attr`` (the ``where`` of a ``ValuePath``)."""
    if isinstance(where, And):
        return all(matches(item, element, attr) for item in where.items)
    if isinstance(where, Or):
        return any(matches(item, element, attr) for item in where.items)
    if isinstance(where, Not):
        return not matches(where.item, element, attr)
    if not isinstance(where, Compare):
        raise InvalidFilter("Nested value filters are not supported.")
    sub = attr.sub(where.path)
    if sub is None:
        raise InvalidFilter(f"Unknown attribute '{attr.name}.{where.path}' in the filter.")
    actual = element.get(sub.name) if isinstance(element, dict) else None
    return compare(where.op, actual, where.value, fold=folds(sub))


def folds(attr: Attribute) -> bool:
    """Whether ``attr``'s values compare casefolded: text that is not caseExact."""
    return attr.type not in ("boolean", "integer", "decimal", "complex") and not attr.case_exact


def compare(op: str, actual: Any, wanted: Value, *, fold: bool) -> bool:
    """``actual op wanted`` for one stored value; ``fold``: compare text casefolded."""
    if op == "pr":
        return actual is not None and not (fold and actual == "")
    if wanted is None:
        # SQL: "eq null" is "is null", "ne null" is "is not null".
        if op not in ("eq", "ne"):
            raise InvalidFilter(f"'{op}' cannot compare with null")
        return (actual is None) is (op == "eq")
    if actual is None:
        return op == "ne"
    pair = _comparable(actual, wanted, fold)
    if pair is None:
        return op == "ne"
    left, right = pair
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if op in ("co", "sw", "ew"):
        if not isinstance(left, str) or not isinstance(right, str):
            return False
        return {"co": right in left, "sw": left.startswith(right),
                "ew": left.endswith(right)}[op]
    if isinstance(left, bool):
        return False  # booleans have no order (a filter refuses gt on one)
    orders = {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}
    if op not in orders:
        raise InvalidFilter(f"unknown operator '{op}'")
    return bool(orders[op])


def _comparable(actual: Any, wanted: Value, fold: bool) -> tuple[Any, Any] | None:
    """The two values as compared, or None when their types differ."""
    if isinstance(wanted, bool):
        return (actual, wanted) if isinstance(actual, bool) else None
    if isinstance(wanted, int | float):
        number = isinstance(actual, int | float) and not isinstance(actual, bool)
        return (actual, wanted) if number else None
    if isinstance(wanted, datetime):
        moment = _moment(actual)
        return (moment, wanted) if moment is not None else None
    if isinstance(wanted, str) and isinstance(actual, str):
        return (actual.casefold(), wanted.casefold()) if fold else (actual, wanted)
    return None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
