"""PATCH paths: their [filter] is read by the ?filter= grammar and means what it means there.

The filter of ``emails[type eq "work"].value`` gives the criteria ``?filter=emails[type eq
"work"]`` gives inside its ValuePath; the database evaluates those for a search, scim.match for
the elements of the resource being patched, and both must pick the same elements.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.catalog import ENTERPRISE_SCHEMA
from app.catalog import GROUP_KIND
from app.catalog import USER_KIND
from app.query import And
from app.query import Compare
from app.query import Or
from app.query import ValuePath
from scim.errors import InvalidFilter
from scim.errors import InvalidPath
from scim.filters import parse_filter
from scim.filters import parse_value_filter
from scim.filters import read_filter
from scim.patch import MemberChange
from scim.patch import apply_patch
from scim.patch import parse_patch_request
from scim.patch import split_member_operations

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = ENTERPRISE_SCHEMA


def body(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def patch(doc: dict[str, Any], *ops: dict[str, Any]) -> dict[str, Any]:
    before = copy.deepcopy(doc)
    result = apply_patch(doc, parse_patch_request(body(*ops)), USER_KIND)
    assert doc == before
    return result


def where(text: str, attr: str = "emails") -> Any:
    """The criteria inside ?filter=attr[text]."""
    criteria = parse_filter(f"{attr}[{text}]", USER_KIND)
    assert isinstance(criteria, ValuePath)
    return criteria.where


PEOPLE = {
    "userName": "bjensen",
    "emails": [
        {"value": "Strauß@example.com", "type": "work", "primary": True},
        {"value": "Äda@example.org", "type": "home"},
        {"value": "7", "type": "other"},
    ],
}


@pytest.mark.parametrize("text", [
    'type eq "work"',
    'TYPE EQ "work" and Primary eq true',
    'not (type eq "home") or value co "@EXAMPLE"',
    'value ew ".org" and (type eq "home" or type pr)',
    'primary eq "True"',
    "value eq 7",
    "value eq null",
])
def test_a_path_filter_binds_to_the_criteria_of_the_same_query_filter(text: str) -> None:
    emails = USER_KIND.top("emails")
    assert emails is not None
    bound = parse_value_filter(read_filter(text), USER_KIND, "emails", emails)
    assert bound == where(text)


# Each filter, the emails of PEOPLE that it matches (by index).
SELECTIONS = [
    ('value eq "STRAUSS@EXAMPLE.COM"', [0]),
    ('value eq "äDA@EXAMPLE.ORG"', [1]),
    ('value sw "strauss@"', [0]),
    ('type eq "WORK"', [0]),
    ('type ne "work"', [1, 2]),
    ('not (type eq "work") and value co "@"', [1]),
    ('primary eq true', [0]),
    ('primary eq false', []),
    ('primary pr or type eq "other"', [0, 2]),
    ("value eq 7", [2]),
    ('value ew ".NET"', []),
]


@pytest.mark.parametrize(("text", "selected"), SELECTIONS)
def test_patch_removes_the_elements_the_filter_selects(text: str, selected: list[int]) -> None:
    result = patch(PEOPLE, {"op": "remove", "path": f"emails[{text}]"})
    kept = [e for i, e in enumerate(PEOPLE["emails"]) if i not in selected]
    assert result.get("emails", []) == kept


@pytest.mark.parametrize(("text", "selected"), SELECTIONS)
def test_the_database_finds_the_user_the_patch_changes(scim: Any, text: str,
                                                       selected: list[int]) -> None:
    created = scim.post("/Users", json={"schemas": [CORE], **PEOPLE})
    assert created.status_code == 201, created.json
    user_id = created.json["id"]
    found = scim.get("/Users", query_string={"filter": f"emails[{text}]"})
    assert found.status_code == 200, found.json
    assert found.json["totalResults"] == (1 if selected else 0)
    patched = scim.patch(f"/Users/{user_id}", json=body(
        {"op": "replace", "path": f"emails[{text}].display", "value": "picked"}))
    if not selected and text != "primary eq false":
        assert patched.status_code == 400, patched.json  # noTarget: nothing to create from
        assert patched.json["scimType"] == "noTarget"
        return
    assert patched.status_code == 200, patched.json
    picked = [i for i, e in enumerate(patched.json["emails"]) if e.get("display") == "picked"]
    # Entra: "primary eq false" matches nothing and creates {"primary": false, ...}.
    assert picked == (selected or [3])


def test_007_is_no_number_in_a_filter_nor_in_a_patch_path() -> None:
    # JSON numbers have no leading zeros: 007 is an unquoted word, refused in both grammars.
    with pytest.raises(InvalidFilter, match="007 in the filter needs double quotes"):
        where("value eq 007")
    assert where("value eq 7") == where('value eq "7"')  # a number, compared as its text
    with pytest.raises(InvalidFilter, match="007 in the filter needs double quotes"):
        parse_patch_request(body({"op": "remove", "path": "emails[value eq 007]"}))
    with pytest.raises(InvalidFilter, match="is a boolean attribute; '7'"):
        parse_filter("emails[primary eq 7]", USER_KIND)
    seven = patch(PEOPLE, {"op": "remove", "path": "emails[value eq 7]"})
    assert [e["value"] for e in seven["emails"]] == ["Strauß@example.com", "Äda@example.org"]


def test_007_in_a_patch_path_is_400_invalid_filter_over_http(scim: Any) -> None:
    user_id = scim.post("/Users", json={"schemas": [CORE], **PEOPLE}).json["id"]
    response = scim.patch(f"/Users/{user_id}", json=body(
        {"op": "remove", "path": "emails[value eq 007]"}))
    assert response.status_code == 400
    assert response.json["scimType"] == "invalidFilter"
    assert "007" in response.json["detail"]


@pytest.mark.parametrize("path", [
    "emails[type eq work]", "emails[value eq 007]", "emails[value eq x7]",
])
def test_unquoted_words_are_refused_in_patch_paths_and_filters(path: str) -> None:
    with pytest.raises(InvalidFilter, match="needs double quotes"):
        parse_patch_request(body({"op": "remove", "path": path}))
    with pytest.raises(InvalidFilter, match="needs double quotes"):
        parse_filter(path, USER_KIND)


@pytest.mark.parametrize("literal,value", [("TRUE", True), ("False", False)])
def test_patch_paths_read_true_false_and_null_in_any_case(literal: str, value: bool) -> None:
    result = patch(PEOPLE, {"op": "remove", "path": f"emails[primary eq {literal}].type"})
    typed = [e.get("type") for e in result["emails"]]
    assert typed == ([None, "home", "other"] if value else ["work", "home", "other"])
    nulls = patch(PEOPLE, {"op": "remove", "path": "emails[display eq NULL].display"})
    assert nulls == PEOPLE


def test_patch_paths_nest_to_32_levels_as_before() -> None:
    deep = "(" * 32 + 'type eq "home"' + ")" * 32
    result = patch(PEOPLE, {"op": "remove", "path": f"emails[{deep}]"})
    assert [e["type"] for e in result["emails"]] == ["work", "other"]
    with pytest.raises(InvalidFilter, match="deeper than 32"):
        parse_patch_request(body({"op": "remove", "path": f"emails[({deep})]"}))
    with pytest.raises(InvalidFilter, match="deeper than 32"):  # a ?filter=: the same limit
        parse_filter(f"emails[({deep})]", USER_KIND)
    assert isinstance(parse_filter(f"emails[{deep[1:-1]}]", USER_KIND), ValuePath)


def test_entra_street_address_through_a_filter_with_and_without_the_core_urn() -> None:
    doc = {"userName": "b", "addresses": [{"type": "work", "locality": "Oslo"},
                                          {"type": "home", "locality": "Bergen"}]}
    for path in ('addresses[type eq "work"].streetAddress',
                 f'{CORE}:addresses[type eq "Work"].streetAddress'):
        result = patch(doc, {"op": "Replace", "path": path, "value": "1 Main St"})
        assert result["addresses"] == [
            {"type": "work", "locality": "Oslo", "streetAddress": "1 Main St"},
            {"type": "home", "locality": "Bergen"}]
    created = patch({"userName": "b"}, {"op": "Add", "value": "2 Side St",
                                        "path": 'addresses[type eq "work"].streetAddress'})
    assert created["addresses"] == [{"type": "work", "streetAddress": "2 Side St"}]


def test_extension_and_attribute_paths_resolve_as_before() -> None:
    doc = {"userName": "b", "name": {"givenName": "B"}, ENT: {"manager": {"value": "m-1"}}}
    result = patch(doc, {"op": "replace", "path": f"{ENT}:manager.value", "value": "m-2"},
                   {"op": "replace", "path": f"{ENT.upper()}:Department", "value": "Ops"},
                   {"op": "add", "path": f"{CORE}:name.familyName", "value": "J"},
                   {"op": "add", "path": "NAME.middleName", "value": "K"})
    assert result[ENT] == {"manager": {"value": "m-2"}, "department": "Ops"}
    assert result["name"] == {"givenName": "B", "familyName": "J", "middleName": "K"}
    with pytest.raises(InvalidPath):
        patch(doc, {"op": "replace", "path": f"{ENT}:manager[value eq \"m-1\"]", "value": "x"})


def test_a_filter_on_an_unknown_sub_attribute_is_invalid_filter_naming_it() -> None:
    with pytest.raises(InvalidFilter, match="emails.nosuch"):
        patch(PEOPLE, {"op": "remove", "path": 'emails[nosuch eq "x"]'})


def test_okta_member_filters_share_the_grammar() -> None:
    rest, changes = split_member_operations(parse_patch_request(body(
        {"op": "remove", "path": 'members[Value EQ "a" or value eq "b"]'},
        {"op": "remove", "path": f'{GROUP_KIND.core.id}:members[value eq "c"]'})))
    assert rest == []
    assert changes == [MemberChange("remove", ("a", "b")), MemberChange("remove", ("c",))]
    with pytest.raises(InvalidFilter, match="needs double quotes"):
        parse_patch_request(body({"op": "remove", "path": "members[value eq a]"}))
    with pytest.raises(InvalidFilter, match="members.nosuch"):
        split_member_operations(parse_patch_request(body(
            {"op": "remove", "path": 'members[nosuch eq "a"]'})))


def test_a_long_or_chain_stays_in_order_and_a_parenthesised_one_parses_too() -> None:
    chain = " or ".join(f'value eq "u{i}"' for i in range(3000))
    for path in (f"members[{chain}]", f"members[({chain})]"):
        _, changes = split_member_operations(parse_patch_request(
            body({"op": "remove", "path": path})))
        assert changes == [MemberChange("remove", tuple(f"u{i}" for i in range(3000)))]


@pytest.mark.parametrize(("text", "same_as"), [
    ('title eq "a" or title eq "b" and userName eq "c"',
     'title eq "a" or (title eq "b" and userName eq "c")'),
    ('title eq "a" and title eq "b" or userName eq "c" and title pr',
     '(title eq "a" and title eq "b") or (userName eq "c" and title pr)'),
    ('not (title eq "a") and emails[type eq "w"] or title pr',
     '(not (title eq "a") and emails[type eq "w"]) or title pr'),
])
def test_a_split_top_level_chain_keeps_and_before_or(text: str, same_as: str) -> None:
    assert parse_filter(text, USER_KIND) == parse_filter(same_as, USER_KIND)


def test_parentheses_still_group_across_a_split_chain() -> None:
    a, b = Compare("title", "eq", "a"), Compare("title", "eq", "b")
    c = Compare("userName", "eq", "c")
    grouped = parse_filter('(title eq "a" or title eq "b") and userName eq "c"', USER_KIND)
    assert grouped == And((Or((a, b)), c))
    assert parse_filter('title eq "a" or title eq "b" and userName eq "c"', USER_KIND) == Or(
        (a, And((b, c))))


@pytest.mark.parametrize("text", ['title eq "a" or', 'title eq "a" and and title pr',
                                  'or title pr', 'title pr and or title pr'])
def test_a_broken_chain_is_invalid_filter(text: str) -> None:
    with pytest.raises(InvalidFilter, match="not valid SCIM filter syntax"):
        parse_filter(text, USER_KIND)
