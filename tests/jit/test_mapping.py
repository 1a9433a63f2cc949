"""Attribute maps: Okta, Entra and LDAP names onto Frontdesk's user document (pure)."""

from __future__ import annotations

import pytest

from jit.mapping import ENTRA
from jit.mapping import LDAP
from jit.mapping import MAX_GROUPS
from jit.mapping import MAX_VALUE
from jit.mapping import OKTA
from jit.mapping import PRESETS
from jit.mapping import first_value
from jit.mapping import map_attributes
from jit.mapping import resolve_map

XMLSOAP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
MS = "http://schemas.microsoft.com/identity/claims/"
MS_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DEFAULT = resolve_map("default")


def test_okta_names() -> None:
    mapped = map_attributes({
        "email": ["ada@example.com"], "firstName": ["Ada"], "lastName": ["Lovelace"],
        "displayName": ["Ada Lovelace"], "groups": ["eng", "ops"], "title": ["Analyst"],
        "department": ["R&D"], "employeeNumber": ["42"],
    }, DEFAULT)
    assert mapped.document == {
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "displayName": "Ada Lovelace",
        "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
        "title": "Analyst",
        ENTERPRISE: {"department": "R&D", "employeeNumber": "42"},
    }
    assert mapped.groups == ("eng", "ops")
    assert mapped.unmapped == ()


def test_entra_claim_uris() -> None:
    mapped = map_attributes({
        XMLSOAP + "emailaddress": ["grace@contoso.com"], XMLSOAP + "givenname": ["Grace"],
        XMLSOAP + "surname": ["Hopper"], MS + "displayname": ["Grace Hopper"],
        MS + "objectidentifier": ["5f1c8c1e-0b7a-4c55-9d7e-2f4e8c3a9b10"],
        MS_GROUPS: ["0d5e6f70-group-guid"], MS + "tenantid": ["t"],
    }, DEFAULT)
    assert mapped.document["externalId"] == "5f1c8c1e-0b7a-4c55-9d7e-2f4e8c3a9b10"
    assert mapped.document["name"] == {"givenName": "Grace", "familyName": "Hopper"}
    assert mapped.document["emails"][0]["value"] == "grace@contoso.com"
    assert mapped.groups == ("0d5e6f70-group-guid",)
    assert mapped.unmapped == (MS + "tenantid",)


def test_ldap_names() -> None:
    mapped = map_attributes({"mail": ["lin@example.com"], "givenName": ["Lin"], "sn": ["Chen"],
                             "cn": ["Lin Chen"], "memberOf": ["staff"]}, resolve_map("ldap"))
    assert mapped.document["emails"][0]["value"] == "lin@example.com"
    assert mapped.document["name"] == {"givenName": "Lin", "familyName": "Chen"}
    assert mapped.document["displayName"] == "Lin Chen"
    assert mapped.groups == ("staff",)


@pytest.mark.parametrize("name", ["EMAIL", "Email", "eMaIl"])
def test_names_are_case_insensitive(name: str) -> None:
    mapped = map_attributes({name: ["a@example.com"],
                             (XMLSOAP + "GivenName").upper(): ["A"]}, DEFAULT)
    assert mapped.document["emails"][0]["value"] == "a@example.com"
    assert mapped.document["name"] == {"givenName": "A"}
    assert first_value({name: ["a@example.com"]}, "email") == "a@example.com"


def test_presets_and_overrides() -> None:
    assert set(PRESETS) == {"okta", "entra", "ldap", "default"}
    for preset, table in (("okta", OKTA), ("entra", ENTRA), ("ldap", LDAP)):
        assert resolve_map(preset) == {k.casefold(): v for k, v in table.items()}
    # A single preset knows only its own names.
    assert "firstname" not in resolve_map("entra")
    assert map_attributes({"firstName": ["Ada"]}, resolve_map("entra")).document == {}
    # Overrides add names (case-folded) and may re-point preset ones.
    custom = resolve_map("okta", {"Mail": "email", "firstName": "displayName"})
    mapped = map_attributes({"MAIL": ["x@example.com"], "firstname": ["Xavier"]}, custom)
    assert mapped.document == {
        "displayName": "Xavier",
        "emails": [{"value": "x@example.com", "type": "work", "primary": True}],
    }
    with pytest.raises(ValueError, match="unknown attribute map"):
        resolve_map("keycloak")


def test_values_are_trimmed_and_bad_ones_dropped() -> None:
    mapped = map_attributes({
        "firstName": ["  Ada  "],
        "lastName": ["Love\x00lace", "Lovelace"],  # the first clean value wins
        "displayName": ["x" * (MAX_VALUE + 1)],
        "email": ["", "   ", "a@example.com"],
        "title": [None, 7, "Analyst"],  # type: ignore[list-item]
    }, DEFAULT)
    assert mapped.document["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert "displayName" not in mapped.document
    assert mapped.document["emails"][0]["value"] == "a@example.com"
    assert mapped.document["title"] == "Analyst"


@pytest.mark.parametrize("bad", ["Ada\x00", "A\nda", "A\tda", "Ada\x1b[31m", "Ada\x7f",
                                 "A\x85da", "Ada\x9b31m"])
def test_control_characters_are_refused(bad: str) -> None:
    mapped = map_attributes({"firstName": [bad], "groups": [bad, "ok"]}, DEFAULT)
    assert "name" not in mapped.document
    assert mapped.groups == ("ok",)
    assert first_value({"firstName": [bad]}, "firstName") is None


def test_value_length_limit_is_inclusive() -> None:
    ok = "x" * MAX_VALUE
    assert map_attributes({"displayName": [ok]}, DEFAULT).document["displayName"] == ok


def test_groups_deduplicated_in_order_and_capped() -> None:
    mapped = map_attributes({"groups": ["b", "a", "b", "c", "a"]}, DEFAULT)
    assert mapped.groups == ("b", "a", "c")
    many = [f"g{i}" for i in range(MAX_GROUPS + 100)]
    capped = map_attributes({"groups": many + many}, DEFAULT)
    assert capped.groups == tuple(many[:MAX_GROUPS])


def test_groups_from_several_attribute_names_merge() -> None:
    mapped = map_attributes({"groups": ["a"], "memberOf": ["b", "a"], MS_GROUPS: ["c"]},
                            DEFAULT)
    assert mapped.groups is not None and set(mapped.groups) == {"a", "b", "c"}


def test_missing_and_empty_group_claims_differ() -> None:
    assert map_attributes({"email": ["a@example.com"]}, DEFAULT).groups is None
    assert map_attributes({"groups": []}, DEFAULT).groups == ()
    assert map_attributes({"groups": ["", "\x00"]}, DEFAULT).groups == ()


def test_nothing_mapped_is_an_empty_document() -> None:
    mapped = map_attributes({"favouriteColour": ["green"], "userName": ["root"]}, DEFAULT)
    assert mapped.document == {}
    assert mapped.groups is None
    assert set(mapped.unmapped) == {"favouriteColour", "userName"}


def test_first_value() -> None:
    attrs = {"Email": ["", "\x00", " a@example.com "], "x": []}
    assert first_value(attrs, "EMAIL") == "a@example.com"
    assert first_value(attrs, "x") is None
    assert first_value(attrs, "missing") is None
