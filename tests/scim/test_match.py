"""scim.match: app.query criteria evaluated in Python against one element, as SQL evaluates them."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from app.catalog import USER_KIND
from app.catalog import Attribute
from app.query import And
from app.query import Compare
from app.query import Criteria
from app.query import Not
from app.query import Or
from app.query import ValuePath
from scim.errors import InvalidFilter
from scim.filters import parse_filter
from scim.match import matches

EMAILS = USER_KIND.top("emails")
assert EMAILS is not None
# No multi-valued attribute of the catalogue has a caseExact text or a dateTime sub-attribute.
CODES = Attribute("codes", type="complex", multi_valued=True, sub_attributes=(
    Attribute("value", case_exact=True),
    Attribute("since", type="dateTime"),
    Attribute("rank", type="integer"),
))


def email(**fields: Any) -> dict[str, Any]:
    return fields


def hit(criteria: Criteria, element: Any, attr: Attribute = EMAILS) -> bool:
    return matches(criteria, element, attr)


@pytest.mark.parametrize(("stored", "sent"), [
    ("Äda", "äDA"),
    ("Strauß", "STRAUSS"),  # str.casefold: ß is ss, as on both databases' compared keys
    ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ("ﬁle", "FILE"),
])
def test_text_that_is_not_case_exact_compares_casefolded(stored: str, sent: str) -> None:
    element = email(type=stored)
    assert hit(Compare("type", "eq", sent), element) is True
    assert hit(Compare("type", "ne", sent), element) is False
    assert hit(Compare("type", "sw", sent[:2]), element) is True
    assert hit(Compare("type", "ew", sent[-2:]), element) is True


def test_sharp_s_folds_inside_co_sw_and_ew() -> None:
    element = email(display="Straße")
    assert hit(Compare("display", "co", "SS"), element) is True
    assert hit(Compare("display", "sw", "STRASS"), element) is True
    assert hit(Compare("display", "ew", "SSE"), element) is True
    assert hit(Compare("display", "co", "ß"), element) is True  # "ß" folds to "ss" too
    assert hit(Compare("display", "co", "sz"), element) is False


def test_case_exact_text_compares_as_sent() -> None:
    element = {"value": "Äda"}
    assert hit(Compare("value", "eq", "Äda"), element, CODES) is True
    assert hit(Compare("value", "eq", "äDA"), element, CODES) is False
    assert hit(Compare("value", "ne", "äDA"), element, CODES) is True
    assert hit(Compare("value", "co", "d"), element, CODES) is True
    assert hit(Compare("value", "co", "D"), element, CODES) is False


def test_absent_value_matches_only_ne() -> None:
    element = email(value="a@example.com")
    for op in ("eq", "co", "sw", "ew", "gt", "ge", "lt", "le"):
        assert hit(Compare("type", op, "work"), element) is False, op  # type: ignore[arg-type]
    assert hit(Compare("type", "ne", "work"), element) is True
    assert hit(Compare("type", "pr"), element) is False
    assert hit(Not(Compare("type", "eq", "work")), element) is True


def test_present_is_not_empty_for_folded_text_only() -> None:
    assert hit(Compare("type", "pr"), email(type="")) is False  # SQL: casefold(x) != ''
    assert hit(Compare("type", "pr"), email(type="x")) is True
    assert hit(Compare("value", "pr"), {"value": ""}, CODES) is True  # SQL: x IS NOT NULL
    assert hit(Compare("primary", "pr"), email(primary=False)) is True


def test_eq_and_ne_with_null() -> None:
    assert hit(Compare("type", "eq", None), email(value="a")) is True
    assert hit(Compare("type", "eq", None), email(type="work")) is False
    assert hit(Compare("type", "ne", None), email(type="work")) is True
    with pytest.raises(InvalidFilter):
        hit(Compare("type", "gt", None), email(type="work"))


def test_a_value_of_another_type_is_never_equal() -> None:
    assert hit(Compare("primary", "eq", True), email(primary=True)) is True
    assert hit(Compare("primary", "eq", True), email(primary="true")) is False
    assert hit(Compare("primary", "ne", True), email(primary="true")) is True
    assert hit(Compare("type", "eq", "1"), email(type=1)) is False
    assert hit(Compare("rank", "eq", 1), {"rank": True}, CODES) is False  # a bool is no number


def test_order_text_by_code_point_after_folding_and_numbers_and_times_by_value() -> None:
    element = email(type="b")
    assert hit(Compare("type", "gt", "A"), element) is True  # "b" > "a"
    assert hit(Compare("type", "lt", "C"), element) is True
    assert hit(Compare("type", "ge", "B"), element) is True
    assert hit(Compare("type", "le", "a"), element) is False
    assert hit(Compare("rank", "gt", 9), {"rank": 10}, CODES) is True  # not "10" < "9"
    assert hit(Compare("rank", "le", 9.5), {"rank": 10}, CODES) is False
    moment = datetime(2024, 5, 1, tzinfo=UTC)
    assert hit(Compare("since", "gt", moment), {"since": "2024-05-01T00:00:01Z"}, CODES) is True
    assert hit(Compare("since", "eq", moment), {"since": "2024-05-01T02:00:00+02:00"},
               CODES) is True
    assert hit(Compare("since", "lt", moment), {"since": "not a time"}, CODES) is False


def test_booleans_have_no_order() -> None:
    assert hit(Compare("primary", "gt", False), email(primary=True)) is False


def test_and_or_not() -> None:
    element = email(type="work", value="a@example.com", primary=True)
    work, home = Compare("type", "eq", "work"), Compare("type", "eq", "home")
    assert hit(And((work, Compare("primary", "eq", True))), element) is True
    assert hit(And((work, home)), element) is False
    assert hit(Or((home, work)), element) is True
    assert hit(Or((home, Not(work))), element) is False
    assert hit(Not(And((work, home))), element) is True


def test_an_element_that_is_not_an_object_has_no_values() -> None:
    assert hit(Compare("type", "eq", "work"), "work") is False
    assert hit(Compare("type", "ne", "work"), ["work"]) is True


def test_unknown_sub_attribute_and_nested_value_path_are_invalid_filter() -> None:
    with pytest.raises(InvalidFilter, match="emails.nosuch"):
        hit(Compare("nosuch", "eq", "x"), email(type="x"))
    with pytest.raises(InvalidFilter, match="Nested"):
        hit(ValuePath("emails", Compare("type", "eq", "x")), email(type="x"))


def test_criteria_from_a_filter_select_as_they_read() -> None:
    where = parse_filter('emails[(type eq "WORK" or type eq "home") and not (value ew ".org")]',
                         USER_KIND)
    assert isinstance(where, ValuePath)
    elements = [email(type="Work", value="a@x.com"), email(type="home", value="b@x.ORG"),
                email(type="other", value="c@x.com"), email(type="HOME", value="d@x.net")]
    assert [hit(where.where, e) for e in elements] == [True, False, False, True]
