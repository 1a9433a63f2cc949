"""The search statement cache (app.repository): one compiled statement per filter shape.

Values never take part in a shape, but everything that changes the SQL does: the paths, the
operators, the logic, whether a value is null, and its type.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from app.errors import InvalidFilterError
from app.models import User
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Not
from app.query import Or
from app.query import ValuePath
from app.repository import search
from app.repository.compile import UserCompiler


def shape(criteria: Criteria) -> tuple[Any, list[Any]]:
    values: list[Any] = []
    return search._shape(criteria, values), values


def test_values_are_not_part_of_a_shape() -> None:
    a, a_values = shape(And((Compare("userName", "eq", "ann"),
                             ValuePath("emails", Compare("value", "co", "@x")))))
    b, b_values = shape(And((Compare("userName", "eq", "bob"),
                             ValuePath("emails", Compare("value", "co", "@y")))))
    assert a == b
    assert a_values == ["ann", "@x"]
    assert b_values == ["bob", "@y"]


@pytest.mark.parametrize("other", [
    Compare("userName", "ne", "ann"),
    Compare("externalId", "eq", "ann"),
    Compare("userName", "eq", None),
    Compare("userName", "eq", 1),
    Compare("userName", "pr"),
    Not(Compare("userName", "eq", "ann")),
    Or((Compare("userName", "eq", "ann"),)),
    ValuePath("emails", Compare("userName", "eq", "ann")),
])
def test_anything_that_changes_the_sql_changes_the_shape(other: Criteria) -> None:
    assert shape(other)[0] != shape(Compare("userName", "eq", "ann"))[0]


def test_a_bool_is_not_an_int() -> None:
    assert shape(Compare("active", "eq", True))[0] != shape(Compare("active", "eq", 1))[0]


def test_values_bind_in_the_order_the_compiler_meets_them() -> None:
    criteria = Or((
        And((Compare("userName", "sw", "A_"), Not(Compare("title", "pr")))),
        ValuePath("emails", And((Compare("type", "eq", "work"),
                                 Compare("value", "eq", "X@Y")))),
        Compare("meta.created", "gt", datetime(2020, 1, 1, tzinfo=UTC)),
    ))
    prepared = search._prepare(User, UserCompiler(), criteria, None,
                                   False)
    _, values = shape(criteria)
    # userName: a stored casefolded key, LIKE-escaped; title pr binds nothing; emails.type is
    # folded by the database; emails.value meets its stored key; dates bind as they are.
    assert prepared.params(values) == {
        "v0": "a\\_%", "v2": "work", "v3": "x@y", "v4": datetime(2020, 1, 1, tzinfo=UTC)}
    assert prepared.params(["b%", None, "home", "Z", datetime(2021, 1, 1, tzinfo=UTC)]) == {
        "v0": "b\\%%", "v2": "home", "v3": "z", "v4": datetime(2021, 1, 1, tzinfo=UTC)}
    with pytest.raises(InvalidFilterError):
        prepared.params(["a\x00", None, "home", "Z", datetime(2021, 1, 1, tzinfo=UTC)])


def test_the_cache_is_bounded_and_keeps_what_is_used() -> None:
    cache = search._StatementCache(2)
    built: list[str] = []

    def build(name: str) -> Any:
        def make() -> Any:
            built.append(name)
            return name
        return make

    assert cache.get("a", build("a")) == "a"
    assert cache.get("b", build("b")) == "b"
    assert cache.get("a", build("a")) == "a"  # a hit: "a" is now the most recently used
    assert cache.get("c", build("c")) == "c"  # drops "b"
    assert cache.get("a", build("a")) == "a"
    assert cache.get("b", build("b")) == "b"
    assert built == ["a", "b", "c", "b"]
