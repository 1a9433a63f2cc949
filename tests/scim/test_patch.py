"""The PATCH engine against RFC 7644 §3.5.2 examples and the shapes Okta and Entra ID send."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.catalog import ENTERPRISE_SCHEMA
from app.catalog import GROUP_KIND
from app.catalog import USER_KIND
from scim.errors import InvalidFilter
from scim.errors import InvalidPath
from scim.errors import InvalidSyntax
from scim.errors import InvalidValue
from scim.errors import Mutability
from scim.errors import NoTarget
from scim.errors import ScimError
from scim.errors import TooMany
from scim.patch import MemberChange
from scim.patch import PatchOperation
from scim.patch import apply_patch
from scim.patch import parse_patch_request
from scim.patch import split_member_operations

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENT = ENTERPRISE_SCHEMA


def body(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def user() -> dict[str, Any]:
    return {
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs",
        "active": True,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "phoneNumbers": [{"value": "555-0100", "type": "mobile", "primary": True}],
        ENT: {"department": "Tour", "manager": {"value": "m-1"}},
    }


def patch_user(*ops: dict[str, Any], doc: dict[str, Any] | None = None) -> dict[str, Any]:
    original = user() if doc is None else doc
    snapshot = copy.deepcopy(original)
    result = apply_patch(original, parse_patch_request(body(*ops)), USER_KIND)
    assert original == snapshot, "input document was mutated"
    return result


def patch_group(*ops: dict[str, Any]) -> tuple[dict[str, Any], list[MemberChange]]:
    doc = {"displayName": "Tour Guides", "externalId": "g-ext"}
    rest, changes = split_member_operations(parse_patch_request(body(*ops)))
    return apply_patch(doc, rest, GROUP_KIND), changes


# --- parse_patch_request --------------------------------------------------------------------


def test_parse_accepts_any_case_of_op_and_operations_key() -> None:
    ops = parse_patch_request({
        "schemas": ["URN:ietf:params:scim:api:messages:2.0:patchop"],
        "operations": [{"op": "Add", "path": "nickName", "value": "B"},
                       {"op": "REMOVE", "path": "title"},
                       {"op": "Replace", "value": {"active": False}}],
    })
    assert [o.op for o in ops] == ["add", "remove", "replace"]
    assert ops[0] == PatchOperation("add", "nickName", "B")
    assert ops[2].path is None


@pytest.mark.parametrize("bad", [
    None, [], "x", 42,
    {"Operations": [{"op": "add", "path": "a", "value": 1}]},
    {"schemas": ["urn:nope"], "Operations": [{"op": "add", "path": "a", "value": 1}]},
    {"schemas": [PATCH_OP], "Operations": {"op": "add"}},
    {"schemas": [PATCH_OP], "Operations": []},
    {"schemas": [PATCH_OP]},
    body("add"),
    body({"op": "frobnicate", "path": "title", "value": "x"}),
    body({"op": 3, "path": "title", "value": "x"}),
    body({"path": "title", "value": "x"}),
    body({"op": "add", "path": 42, "value": "x"}),
    body({"op": "add", "path": "title"}),
    body({"op": "replace", "value": "not-an-object"}),
])
def test_parse_rejects_malformed_bodies_with_invalid_syntax(bad: Any) -> None:
    with pytest.raises(InvalidSyntax):
        parse_patch_request(bad)


def test_parse_remove_without_path_is_no_target() -> None:
    with pytest.raises(NoTarget):
        parse_patch_request(body({"op": "remove"}))


def test_parse_caps_operations_at_1000() -> None:
    ops = [{"op": "replace", "path": "title", "value": "x"}] * 1001
    with pytest.raises(TooMany) as err:
        parse_patch_request(body(*ops))
    assert err.value.status == 400
    assert len(parse_patch_request(body(*ops[:1000]))) == 1000


@pytest.mark.parametrize("path", [
    "emails[", "emails[type eq]", "]]", "emails[]", "emails[type eq \"work\"", "emails]",
    "emails[type frob \"x\"]", "emails[(type eq \"x\"]", "emails[type eq \"x\"]]",
    "emails[type eq \"x\"].value.more", "1abc", "emails[type eq work]", "emails[not type eq \"x\"]",
    "emails[type eq \"x\" and]", "emails[\"x\" eq type]", ".value", "emails[type eq \"\\q\"]",
])
def test_junk_paths_raise_scim_errors_only(path: str) -> None:
    with pytest.raises((InvalidPath, InvalidFilter)):
        parse_patch_request(body({"op": "add", "path": path, "value": "x"}))


@pytest.mark.parametrize("path", [
    "nosuch", "name.nosuch", "emails[nosuch eq \"x\"]", "urn:example:ext:1.0:User:foo",
    f"{ENT}:nosuch", "displayName[value eq \"x\"]", "emails[value co true]",
])
def test_unknown_or_misused_paths_raise_scim_errors(path: str) -> None:
    with pytest.raises(ScimError) as err:
        patch_user({"op": "replace", "path": path, "value": "x"})
    assert isinstance(err.value, InvalidPath | InvalidFilter)


def test_unknown_attribute_error_names_the_path() -> None:
    with pytest.raises(InvalidPath, match="nosuch"):
        patch_user({"op": "add", "path": "nosuch", "value": "x"})


# --- add (RFC 7644 §3.5.2.1) ----------------------------------------------------------------


def test_rfc_add_emails_appends_and_skips_duplicates() -> None:
    result = patch_user({"op": "add", "path": "emails", "value": [
        {"value": "babs@jensen.org", "type": "home"},
        {"value": "b@other.org", "type": "other"},
    ]})
    assert [e["value"] for e in result["emails"]] == [
        "bjensen@example.com", "babs@jensen.org", "b@other.org"]


def test_add_single_object_to_multi_valued_becomes_element() -> None:
    result = patch_user({"op": "add", "path": "emails", "value": {"Value": "x@y", "Type": "other"}})
    assert result["emails"][-1] == {"value": "x@y", "type": "other"}


def test_no_path_add_like_rfc_example() -> None:
    result = patch_user({"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}})
    assert result["nickName"] == "Babs"
    assert len(result["emails"]) == 2


def test_add_and_replace_complex_merge_sub_attributes() -> None:
    added = patch_user({"op": "add", "path": "name", "value": {"MiddleName": "J"}})
    assert added["name"] == {"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"}
    # RFC 7644 §3.5.2.3: "Sub-attributes that are not specified in the 'value' parameter are
    # left unchanged."
    replaced = patch_user({"op": "replace", "path": "name", "value": {"GivenName": "B"}})
    assert replaced["name"] == {"givenName": "B", "familyName": "Jensen"}
    no_path = patch_user({"op": "replace", "value": {"name": {"givenName": "C"}}})
    assert no_path["name"] == {"givenName": "C", "familyName": "Jensen"}
    # null unassigns that sub-attribute only (RFC 7643 §2.5); all of them, the attribute.
    nulled = patch_user({"op": "replace", "path": "name", "value": {"givenName": None}})
    assert nulled["name"] == {"familyName": "Jensen"}
    gone = patch_user({"op": "replace", "path": "name",
                       "value": {"givenName": None, "familyName": None}})
    assert "name" not in gone


def test_add_sub_attribute_and_case_insensitive_paths() -> None:
    result = patch_user({"op": "add", "path": "Name.GivenName", "value": "Babs"},
                        {"op": "Replace", "path": "DISPLAYNAME", "value": "B."})
    assert result["name"]["givenName"] == "Babs"
    assert result["displayName"] == "B."


# --- replace (RFC 7644 §3.5.2.3) ------------------------------------------------------------


def test_rfc_replace_multi_valued_without_filter_replaces_list() -> None:
    result = patch_user({"op": "replace", "path": "emails",
                         "value": [{"value": "new@x.org", "type": "work"}]})
    assert result["emails"] == [{"value": "new@x.org", "type": "work"}]


def test_rfc_replace_filtered_element_and_sub_attribute() -> None:
    result = patch_user({"op": "replace", "path": 'emails[type eq "work"]',
                         "value": {"value": "w@x.org", "primary": True}},
                        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "h@x"})
    assert result["emails"] == [{"type": "work", "value": "w@x.org", "primary": True},
                                {"value": "h@x", "type": "home"}]


def test_replace_with_and_filter() -> None:
    result = patch_user({"op": "replace",
                         "path": 'phoneNumbers[type eq "mobile" and primary eq true].value',
                         "value": "555-0199"})
    assert result["phoneNumbers"] == [{"value": "555-0199", "type": "mobile", "primary": True}]


@pytest.mark.parametrize("op", ["add", "Add", "replace", "Replace"])
def test_entra_write_through_unmatched_filter_creates_element(op: str) -> None:
    result = patch_user({"op": op, "path": 'addresses[type eq "work"].locality', "value": "Oslo"},
                        {"op": op, "path": 'emails[type eq "other"].value', "value": "o@x"})
    assert result["addresses"] == [{"type": "work", "locality": "Oslo"}]
    assert result["emails"][-1] == {"type": "other", "value": "o@x"}


def test_write_through_unmatched_or_filter_is_no_target() -> None:
    with pytest.raises(NoTarget):
        patch_user({"op": "replace", "path": 'emails[type eq "a" or type eq "b"].value',
                    "value": "x"})


def test_filter_operators_and_case_insensitive_compare() -> None:
    result = patch_user(
        {"op": "replace", "path": 'emails[value ew "@EXAMPLE.COM"].display', "value": "W"},
        {"op": "replace", "path": 'emails[not (type eq "work") and value pr].display',
         "value": "H"},
        {"op": "replace", "path": 'emails[value sw "nope" or value co "jensen.ORG"].type',
         "value": "other"},
    )
    assert [e.get("display") for e in result["emails"]] == ["W", "H"]
    assert result["emails"][1]["type"] == "other"


def test_primary_true_is_unique() -> None:
    result = patch_user({"op": "add", "path": "emails",
                         "value": [{"value": "p@x", "type": "other", "primary": "True"}]})
    assert [e.get("primary") for e in result["emails"]] == [False, None, True]
    result = patch_user({"op": "replace", "path": 'emails[type eq "home"].primary',
                         "value": True})
    assert [e.get("primary") for e in result["emails"]] == [False, True]


# --- remove (RFC 7644 §3.5.2.2) -------------------------------------------------------------


def test_rfc_remove_attribute_filtered_element_and_sub_attribute() -> None:
    result = patch_user({"op": "remove", "path": "displayName"},
                        {"op": "remove", "path": 'emails[type eq "work"]'},
                        {"op": "remove", "path": 'emails[type eq "home"].type'})
    assert "displayName" not in result
    assert result["emails"] == [{"value": "babs@jensen.org"}]


def test_remove_last_key_or_element_removes_container() -> None:
    result = patch_user({"op": "remove", "path": "name.givenName"},
                        {"op": "remove", "path": "name.familyName"},
                        {"op": "remove", "path": 'phoneNumbers[type eq "mobile"]'},
                        {"op": "remove", "path": f"{ENT}:department"},
                        {"op": "remove", "path": f"{ENT}:manager"})
    assert "name" not in result
    assert "phoneNumbers" not in result
    assert ENT not in result


def test_remove_through_unmatched_filter_or_absent_attribute_is_noop() -> None:
    assert patch_user({"op": "remove", "path": 'emails[type eq "nope"]'},
                      {"op": "remove", "path": "nickName"}) == user()


def test_remove_by_value_list_matches_case_insensitively() -> None:
    result = patch_user({"op": "remove", "path": "emails",
                         "value": [{"value": "BJENSEN@example.com"}]})
    assert [e["value"] for e in result["emails"]] == ["babs@jensen.org"]


def test_case_insensitive_compare_beyond_ascii() -> None:
    doc = {**user(), "emails": [{"value": "Äda@example.com", "type": "work"},
                                {"value": "strauß@example.com", "type": "home"}]}
    filtered = patch_user({"op": "replace", "path": 'emails[value sw "äDA@"].display',
                           "value": "Ä"},
                          {"op": "replace", "path": 'emails[value eq "STRAUß@EXAMPLE.COM"].display',
                           "value": "S"}, doc=doc)
    assert [e.get("display") for e in filtered["emails"]] == ["Ä", "S"]
    removed = patch_user({"op": "remove", "path": "emails",
                          "value": [{"value": "äDA@EXAMPLE.com"}, {"value": "STRAUß@example.com"}]},
                         doc=doc)
    assert "emails" not in removed


# --- Okta -----------------------------------------------------------------------------------


def test_okta_deactivate_and_reactivate() -> None:
    off = patch_user({"op": "replace", "value": {"active": False}})
    assert off["active"] is False
    assert patch_user({"op": "replace", "value": {"active": True}}, doc=off)["active"] is True


def test_okta_password_sync_is_accepted_and_not_stored() -> None:
    result = patch_user({"op": "replace", "value": {"password": "s3cret!"}},
                        {"op": "replace", "path": "password", "value": "again"})
    assert "password" not in result
    assert result == user()


def test_okta_group_rename_and_membership() -> None:
    doc, changes = patch_group(
        {"op": "replace", "value": {"id": "g-1", "displayName": "New Name"}},
        {"op": "remove", "path": 'members[value eq "u-1"]'},
        {"op": "add", "path": "members", "value": [{"value": "u-2", "display": "Two"}]},
    )
    assert doc == {"displayName": "New Name", "externalId": "g-ext"}
    assert changes == [MemberChange("remove", ("u-1",)), MemberChange("add", ("u-2",))]


def test_okta_remove_several_members_by_or_filter() -> None:
    _, changes = patch_group(
        {"op": "remove", "path": 'members[value eq "a" or value eq "b" or value eq "a"]'})
    assert changes == [MemberChange("remove", ("a", "b"))]


def test_okta_empty_push_and_full_push() -> None:
    _, changes = patch_group({"op": "replace", "path": "members", "value": []},
                             {"op": "replace", "path": "members",
                              "value": [{"value": "a"}, {"value": "b"}]})
    assert changes == [MemberChange("replace", ()), MemberChange("replace", ("a", "b"))]


def test_okta_no_path_replace_with_members_is_split() -> None:
    doc, changes = patch_group({"op": "replace", "value": {
        "id": "g", "displayName": "X", "Members": [{"value": "a", "display": "A"}]}})
    assert doc["displayName"] == "X"
    assert changes == [MemberChange("replace", ("a",))]
    rest, changes = split_member_operations(parse_patch_request(body(
        {"op": "add", "value": {"members": [{"value": "b"}]}})))
    assert rest == []
    assert changes == [MemberChange("add", ("b",))]


# --- Entra ID -------------------------------------------------------------------------------


def test_entra_default_dialect_user_update() -> None:
    result = patch_user(
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
        {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
        {"op": "Replace", "path": "userName", "value": "bjs"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Replace", "path": f"{ENT}:department", "value": "Sales"},
        {"op": "Replace", "path": "active", "value": "False"},
    )
    assert result["emails"][0] == {"value": "new@example.com", "type": "work", "primary": True}
    assert result["name"]["familyName"] == "Jensen-Smith"
    assert result["userName"] == "bjs"
    assert result["nickName"] == "Babs"
    assert result[ENT]["department"] == "Sales"
    assert result["active"] is False


def test_entra_aadoptscim062020_no_path_keys_are_paths() -> None:
    result = patch_user(
        {"op": "add", "path": "nickName", "value": "Babs"},
        {"op": "replace", "value": {
            "displayName": "Barbara J.",
            "name.givenName": "Barb",
            "name.familyName": "J",
            'emails[type eq "work"].value': "bj@x.org",
            f"{ENT}:employeeNumber": "701984",
            f"{ENT}:manager": "m-2",
            "active": "False",
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:foo": "x",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User": {"department": "x"},
        }},
    )
    assert result["name"] == {"givenName": "Barb", "familyName": "J"}
    assert result["emails"][0]["value"] == "bj@x.org"
    assert result[ENT] == {"department": "Tour", "employeeNumber": "701984",
                           "manager": {"value": "m-2"}}
    assert result["active"] is False
    assert result["nickName"] == "Babs"


def test_no_path_extension_urn_key_merges_object() -> None:
    result = patch_user({"op": "add", "value": {ENT: {"costCenter": "42",
                                                      "Department": "Ops"}}})
    assert result[ENT] == {"department": "Ops", "manager": {"value": "m-1"}, "costCenter": "42"}


def test_path_equal_to_extension_urn() -> None:
    result = patch_user({"op": "replace", "path": ENT, "value": {"division": "D"}})
    assert result[ENT]["division"] == "D"
    assert ENT not in patch_user({"op": "remove", "path": ENT})


@pytest.mark.parametrize("value", ["m-9", {"value": "m-9"}, [{"$ref": None, "value": "m-9"}],
                                   '{"value": "m-9"}'])
@pytest.mark.parametrize("path", [f"{ENT}:manager", "manager", "Manager"])
@pytest.mark.parametrize("op", ["Add", "Replace"])
def test_entra_manager_shapes(op: str, path: str, value: Any) -> None:
    result = patch_user({"op": op, "path": path, "value": value})
    assert result[ENT]["manager"] == {"value": "m-9"}


def test_entra_manager_value_path_and_remove() -> None:
    result = patch_user({"op": "replace", "path": f"{ENT}:manager.value", "value": "m-3"})
    assert result[ENT]["manager"] == {"value": "m-3"}
    removed = patch_user({"op": "Remove", "path": f"{ENT}:manager"})
    assert removed[ENT] == {"department": "Tour"}


def test_entra_roles_as_json_string() -> None:
    roles = '[{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]'
    result = patch_user({"op": "Add", "path": "roles", "value": roles})
    assert result["roles"] == [
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]


@pytest.mark.parametrize("value", ["False", "false", "FALSE", False])
def test_entra_string_booleans(value: Any) -> None:
    assert patch_user({"op": "Replace", "path": "active", "value": value})["active"] is False
    assert patch_user({"op": "Replace", "value": {"active": value}})["active"] is False


@pytest.mark.parametrize("value", ["no", 0, 1, "", [True], {"x": 1}])
def test_non_boolean_for_boolean_is_invalid_value(value: Any) -> None:
    with pytest.raises(InvalidValue):
        patch_user({"op": "replace", "path": "active", "value": value})


@pytest.mark.parametrize("path,value", [
    ("displayName", 42), ("name", "not json {"), ("emails", [[1]]), ("name", 3),
])
def test_wrong_value_types_are_invalid_value(path: str, value: Any) -> None:
    with pytest.raises(InvalidValue):
        patch_user({"op": "replace", "path": path, "value": value})


def test_entra_group_membership() -> None:
    doc, changes = patch_group(
        {"op": "Replace", "path": "displayName", "value": "Renamed"},
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "u-1"}]},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "u-2"}]},
        {"op": "add", "path": "Members", "value": {"value": "u-3"}},
        {"op": "remove", "path": "members"},
    )
    assert doc["displayName"] == "Renamed"
    assert changes == [MemberChange("add", ("u-1",)), MemberChange("remove", ("u-2",)),
                       MemberChange("add", ("u-3",)), MemberChange("remove", (), remove_all=True)]


@pytest.mark.parametrize("op", [
    {"op": "add", "path": "members", "value": [{"display": "x"}]},
    {"op": "add", "path": "members", "value": [{"value": ""}]},
    {"op": "add", "path": "members", "value": ["u-1"]},
    {"op": "add", "path": "members", "value": "u-1"},
])
def test_bad_member_entries_are_invalid_value(op: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        patch_group(op)


@pytest.mark.parametrize("path", ['members[display eq "x"]', 'members[value ne "x"]',
                                  'members[value eq "a" and value eq "b"]'])
def test_other_member_filters_are_invalid_filter(path: str) -> None:
    with pytest.raises(InvalidFilter):
        patch_group({"op": "remove", "path": path})


def test_members_in_apply_patch_is_invalid_path() -> None:
    for op in (PatchOperation("add", "members", [{"value": "a"}]),
               PatchOperation("replace", None, {"members": []})):
        with pytest.raises(InvalidPath, match="split_member_operations"):
            apply_patch({"displayName": "g"}, [op], GROUP_KIND)


# --- mutability -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["id", "meta", "meta.created", "meta.nosuch", "groups",
                                  "schemas", f"{ENT}:manager.displayName"])
def test_read_only_paths_are_mutability_errors(path: str) -> None:
    with pytest.raises(Mutability) as err:
        patch_user({"op": "replace", "path": path, "value": "x"})
    assert err.value.scim_type == "mutability"


@pytest.mark.parametrize("op", [{"op": "remove", "path": "userName"},
                                {"op": "replace", "path": "userName", "value": None}])
def test_removing_required_username_is_mutability(op: dict[str, Any]) -> None:
    with pytest.raises(Mutability):
        patch_user(op)


def test_group_display_name_cannot_be_removed() -> None:
    with pytest.raises(Mutability):
        patch_group({"op": "remove", "path": "displayName"})


def test_no_path_value_ignores_echoed_read_only_keys_and_rejects_unknown() -> None:
    result = patch_user({"op": "replace", "value": {
        "id": "x", "schemas": ["y"], "meta": {"version": "W/1"}, "title": "Boss"}})
    assert result["title"] == "Boss"
    with pytest.raises(InvalidPath, match="bogus"):
        patch_user({"op": "replace", "value": {"bogus": 1}})
    with pytest.raises(InvalidPath):
        patch_user({"op": "replace", "value": {f"{ENT}:bogus": 1}})


def test_canonical_names_are_stored() -> None:
    result = patch_user({"op": "add", "path": "EMAILS",
                         "value": [{"Value": "c@x", "Type": "work", "Primary": True}]},
                        {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:title",
                         "value": "Dr"})
    assert result["emails"][-1] == {"value": "c@x", "type": "work", "primary": True}
    assert result["title"] == "Dr"


def test_null_value_unassigns() -> None:
    result = patch_user({"op": "replace", "value": {"displayName": None}})
    assert "displayName" not in result


def test_apply_patch_never_mutates_input() -> None:
    doc = user()
    snapshot = copy.deepcopy(doc)
    apply_patch(doc, [PatchOperation("remove", 'emails[type eq "home"].type', None),
                      PatchOperation("add", "name.middleName", "J"),
                      PatchOperation("replace", f"{ENT}:manager.value", "m")], USER_KIND)
    assert doc == snapshot


def test_deeply_nested_filter_is_invalid_filter_not_recursion_error() -> None:
    path = "emails[" + "(" * 3000 + 'type eq "work"' + ")" * 3000 + "]"
    with pytest.raises(InvalidFilter):
        parse_patch_request(body({"op": "remove", "path": path}))


def test_long_or_chain_of_members_is_accepted() -> None:
    path = "members[" + " or ".join(f'value eq "u{i}"' for i in range(5000)) + "]"
    _, changes = patch_group({"op": "remove", "path": path})
    assert len(changes[0].ids) == 5000


def test_rfc_add_member_with_core_urn_prefix_and_ref() -> None:
    _, changes = patch_group({"op": "add",
                              "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members",
                              "value": [{"display": "Babs Jensen",
                                         "$ref": "https://example.com/v2/Users/2819c223",
                                         "value": "2819c223"}]})
    assert changes == [MemberChange("add", ("2819c223",))]


def test_member_filter_only_with_remove_and_no_sub_attributes() -> None:
    with pytest.raises(InvalidPath):
        patch_group({"op": "add", "path": 'members[value eq "a"]', "value": [{"value": "a"}]})
    with pytest.raises(InvalidPath):
        patch_group({"op": "replace", "path": "members.display", "value": "x"})


def test_empty_path_string_counts_as_no_path() -> None:
    result = patch_user({"op": "replace", "path": "", "value": {"title": "T"}})
    assert result["title"] == "T"
    with pytest.raises(NoTarget):
        parse_patch_request(body({"op": "remove", "path": "  "}))
