"""scim.quirks: each Okta/Entra quirk reads the same in a body, a PATCH and a filter."""

from __future__ import annotations

from typing import Any

import pytest

from app.catalog import ENTERPRISE_SCHEMA
from app.catalog import GROUP_KIND
from app.catalog import USER_KIND
from app.query import And
from app.query import Compare
from app.query import Not
from app.query import Or
from scim import quirks
from scim.errors import InvalidFilter
from scim.errors import InvalidValue
from scim.filters import parse_filter
from scim.patch import apply_patch
from scim.patch import parse_patch_request
from scim.schemas import load_user
from scim.schemas import validate_document

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENT = ENTERPRISE_SCHEMA
TYPO = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"


def patched(*ops: dict[str, Any], doc: dict[str, Any] | None = None) -> dict[str, Any]:
    operations = parse_patch_request({"schemas": [PATCH_OP], "Operations": list(ops)})
    return apply_patch(doc or {"userName": "b"}, operations, USER_KIND)


@pytest.mark.parametrize(("sent", "read"), [
    ("True", True), ("false", False), ("FALSE", False), (" true ", True), (True, True),
])
def test_entra_string_booleans_read_the_same_in_body_patch_and_filter(sent: Any,
                                                                      read: bool) -> None:
    assert quirks.string_boolean(sent) is read
    assert load_user({"userName": "b", "active": sent})["active"] is read
    assert patched({"op": "Replace", "path": "active", "value": sent})["active"] is read
    assert patched({"op": "Replace", "value": {"active": sent}})["active"] is read
    if isinstance(sent, str):
        assert parse_filter(f'active eq "{sent}"', USER_KIND) == Compare("active", "eq", read)


@pytest.mark.parametrize("sent", ["yes", "1", "", "truthy"])
def test_other_strings_are_no_booleans_anywhere(sent: str) -> None:
    assert quirks.string_boolean(sent) == sent
    for load in (lambda: load_user({"userName": "b", "active": sent}),
                 lambda: patched({"op": "replace", "path": "active", "value": sent})):
        with pytest.raises(InvalidValue, match="'active': must be true or false"):
            load()
    with pytest.raises(InvalidFilter, match="boolean attribute"):
        parse_filter(f'active eq "{sent}"', USER_KIND)


def test_entra_json_strings_read_the_same_in_body_and_patch() -> None:
    roles = '[{"value": "Admin", "primary": "True"}]'
    want = [{"value": "Admin", "primary": True}]
    assert load_user({"userName": "b", "roles": roles})["roles"] == want
    assert patched({"op": "add", "path": "roles", "value": roles})["roles"] == want
    manager = '{"value": "m-1"}'
    assert load_user({"userName": "b", ENT: {"manager": manager}})[ENT] == {
        "manager": {"value": "m-1"}}
    assert patched({"op": "add", "path": "manager", "value": manager})[ENT] == {
        "manager": {"value": "m-1"}}


@pytest.mark.parametrize("broken", ['[{"value": ', "{oops"])
def test_broken_json_strings_are_refused_the_same_in_body_and_patch(broken: str) -> None:
    # One behaviour: a body used to keep such a string (and refuse it as "must be an object"),
    # a PATCH to refuse it as JSON; both say now that it is not valid JSON.
    with pytest.raises(InvalidValue) as body_error:
        load_user({"userName": "b", "roles": broken})
    with pytest.raises(InvalidValue) as patch_error:
        patched({"op": "add", "path": "roles", "value": broken})
    assert body_error.value.detail == patch_error.value.detail == (
        "roles: value is not valid JSON")
    assert quirks.json_value("plain text", "x") == "plain text"


@pytest.mark.parametrize("manager", ["m-9", ["m-9"], [{"value": "m-9"}], {"value": "m-9"},
                                     '["m-9"]', '{"value": "m-9"}'])
def test_entra_manager_shapes_read_the_same_in_body_and_patch(manager: Any) -> None:
    assert load_user({"userName": "b", ENT: {"manager": manager}})[ENT] == {
        "manager": {"value": "m-9"}}
    assert patched({"op": "Add", "path": f"{ENT}:manager", "value": manager})[ENT] == {
        "manager": {"value": "m-9"}}


def test_a_bare_string_is_no_name() -> None:
    for load in (lambda: load_user({"userName": "b", "name": "Babs"}),
                 lambda: patched({"op": "add", "path": "name", "value": "Babs"})):
        with pytest.raises(InvalidValue, match="must be an object"):
            load()


def test_entra_manager_without_its_urn_in_filter_and_patch() -> None:
    assert parse_filter('manager eq "m-1"', USER_KIND) == Compare(f"{ENT}:manager.value", "eq",
                                                                  "m-1")
    assert patched({"op": "add", "path": "Manager.Value", "value": "m-1"})[ENT] == {
        "manager": {"value": "m-1"}}
    assert quirks.unprefixed_extension(USER_KIND, "manager") is not None
    assert quirks.unprefixed_extension(USER_KIND, "userName") is None  # the core wins
    assert quirks.unprefixed_extension(USER_KIND, f"{ENT}:manager") is None
    assert quirks.unprefixed_extension(GROUP_KIND, "manager") is None


def test_unserved_extension_urns_are_kept_in_a_body_and_ignored_in_a_patch() -> None:
    # The two callers pin different behaviour; quirks.foreign_urn says which keys, each caller
    # what to do (paths=True: a PATCH key is a path, and a path under a served schema is ours).
    body = load_user({"userName": "b", TYPO: {"department": "x"}})
    assert body[TYPO] == {"department": "x"}
    result = patched({"op": "replace", "value": {TYPO: {"department": "x"}, "title": "T"}})
    assert TYPO not in result
    assert result["title"] == "T"
    assert quirks.foreign_urn(USER_KIND, TYPO, paths=False) is True
    assert quirks.foreign_urn(USER_KIND, TYPO, paths=True) is True
    assert quirks.foreign_urn(USER_KIND, f"{ENT}:department", paths=True) is False
    assert quirks.foreign_urn(USER_KIND, f"{ENT}:department", paths=False) is True
    assert quirks.foreign_urn(USER_KIND, ENT.upper(), paths=False) is False
    assert quirks.foreign_urn(USER_KIND, "title", paths=True) is False


def test_numbers_are_text_in_a_body_and_refused_in_a_patch() -> None:
    # Pinned both ways by the existing tests; validate_document keeps PATCH's refusal.
    assert load_user({"userName": "b", "displayName": 42})["displayName"] == "42"
    with pytest.raises(InvalidValue, match="'displayName': Not a valid string."):
        patched({"op": "replace", "path": "displayName", "value": 42})
    with pytest.raises(InvalidValue, match="'displayName': Not a valid string."):
        validate_document(USER_KIND, {"userName": "b", "displayName": 42})


def test_okta_echoed_keys_and_entra_op_case() -> None:
    assert quirks.ECHOED_KEYS == {"id", "schemas", "meta"}
    assert [quirks.patch_op(op) for op in ("Add", "REMOVE", "replace", "frob", 3, None)] == [
        "add", "remove", "replace", None, None, None]


def test_created_element_and_okta_member_ids() -> None:
    work = Compare("type", "eq", "work")
    assert quirks.created_element(work) == {"type": "work"}
    assert quirks.created_element(And((work, Compare("primary", "eq", True)))) == {
        "type": "work", "primary": True}
    for nothing in (Or((work, work)), Not(work), Compare("type", "co", "w"),
                    Compare("type", "eq", None), And((work, Compare("value", "pr")))):
        assert quirks.created_element(nothing) is None
    a, b = Compare("value", "eq", "a"), Compare("value", "eq", "b")
    assert quirks.member_ids(Or((a, b, a))) == ["a", "b", "a"]
    for refused in (And((a, b)), Compare("value", "eq", ""), Compare("display", "eq", "a"),
                    Compare("value", "ne", "a"), Or((a, Not(b)))):
        with pytest.raises(InvalidFilter, match="joined by or"):
            quirks.member_ids(refused)


MANAGER = USER_KIND.extension(ENT).attr("manager")  # type: ignore[union-attr]


@pytest.mark.parametrize(("sent", "read"), [
    ({"managerId": "", "displayName": " "}, None),  # OneLogin's template, user without manager
    ({"managerId": "m-9", "displayName": "Äda Strauß"}, {"value": "m-9"}),
    ({"MANAGERID": "m-9"}, {"value": "m-9"}),
    ({"managerId": "m-9", "value": "m-9"}, {"value": "m-9"}),
    ({"managerId": " ", "value": "m-9"}, {"value": "m-9"}),
    ({"managerId": "m-9", "value": ""}, {"value": "m-9"}),
    ({"managerId": "m-9", "employeeCode": "S1"}, {"value": "m-9", "employeeCode": "S1"}),
    ("", None),  # Entra's bare id, blank
])
def test_onelogin_manager_reads_the_same_in_body_and_patch(sent: Any, read: Any) -> None:
    loaded = load_user({"userName": "b", ENT: {"department": "Sales", "manager": sent}})
    expected = {"department": "Sales", **({"manager": read} if read else {})}
    assert loaded[ENT] == expected
    before = {"userName": "b", ENT: {"manager": {"value": "old"}}}
    assert patched({"op": "replace", "value": {ENT: {"department": "Sales", "manager": sent}}},
                   doc=before)[ENT] == expected


def test_complex_value_maps_aliases_and_blanks_for_single_valued_attributes_only() -> None:
    assert quirks.sub_attribute_name(MANAGER, "ManagerId") == "value"
    assert quirks.sub_attribute_name(MANAGER, "displayName") == "displayName"
    emails = USER_KIND.top("emails")
    assert emails is not None
    assert quirks.sub_attribute_name(emails, "managerId") == "managerId"  # manager's alias only
    assert quirks.complex_value(MANAGER, {"VALUE": "m", "displayname": " "}, "x") == {
        "value": "m", "displayName": None}
    # A multi-valued attribute's elements keep their text as sent (blank or not).
    assert quirks.complex_value(emails, {"Value": " ", "type": "work"}, "x") == {
        "value": " ", "type": "work"}
    with pytest.raises(InvalidValue, match="^manager: 'managerId' and 'value' differ$"):
        quirks.complex_value(MANAGER, {"value": "a", "managerId": "b"}, "manager")
    with pytest.raises(InvalidValue, match="'managerId' and 'value' differ"):
        patched({"op": "add", "path": f"{ENT}:manager", "value": {"value": "a", "managerId": "b"}})
