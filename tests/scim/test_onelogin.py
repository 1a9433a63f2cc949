"""OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" template, as OneLogin sends it.

Source: the template OneLogin's SCIM v2 Enterprise connector is configured with, published in
https://doc.keepnetlabs.com/next-generation-product/platform/company/company-settings/scim-settings/onelogin-scim-integration
(``"manager": {"managerId": "{$parameters.external_manager_id}", "displayName":
"{$user.manager_firstname} {$user.manager_lastname}"}``, ``"active": "{$user.active}"``,
``"meta": {"resourceType": "User"}``, ``"id": null``, only the core URN in ``schemas``). OneLogin
renders a parameter the user lacks as ``""``, so a user without a manager arrives with
``"managerId": ""`` and ``"displayName": " "``, and ``active`` is the string ``"true"``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def template(user_name: str, *, manager_id: str = "", manager_name: str = " ",
             department: str = "Sales", given: str = "Ädelheid",
             family: str = "Strauß") -> dict[str, Any]:
    """The SCIM v2 Enterprise template rendered for one user, key for key as OneLogin sends it."""
    return {
        ENT: {
            "department": department,
            "manager": {"managerId": manager_id, "displayName": manager_name},
        },
        "active": "true",
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": family, "givenName": given, "formatted": f"{given} {family}"},
        "userName": user_name,
        "id": None,
        "schemas": [USER_SCHEMA],
    }


def created(scim: ScimClient, body: dict[str, Any]) -> dict[str, Any]:
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    user: dict[str, Any] = response.get_json()
    return user


def read(scim: ScimClient, user_id: str) -> dict[str, Any]:
    response = scim.get(f"/Users/{user_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    user: dict[str, Any] = response.get_json()
    return user


def found(scim: ScimClient, expression: str) -> list[str]:
    response = scim.get(f"/Users?filter={quote(expression, safe='')}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert LIST_RESPONSE in body["schemas"]
    return sorted(r["id"] for r in body["Resources"])


@pytest.fixture
def boss(scim: ScimClient) -> str:
    """The manager every employee below reports to: created from the template, no manager."""
    user_id: str = created(scim, template("äda.strauß@example.com", given="Äda"))["id"]
    return user_id


def test_post_without_a_manager_is_201_with_no_manager(scim: ScimClient) -> None:
    user = created(scim, template("bjensen@example.com"))
    assert user[ENT] == {"department": "Sales"}  # blank managerId + blank name: no manager
    assert user["active"] is True  # "true", a string
    assert user["name"] == {"familyName": "Strauß", "givenName": "Ädelheid",
                            "formatted": "Ädelheid Strauß"}
    assert user["emails"] == [{"value": "bjensen@example.com", "type": "work", "primary": True}]
    assert user["schemas"] == [USER_SCHEMA, ENT]
    assert read(scim, user["id"]) == user
    assert found(scim, f"{ENT}:manager pr") == []
    assert found(scim, f'{ENT}:department eq "sales"') == [user["id"]]


@pytest.mark.parametrize("key", ["managerId", "ManagerID", "managerid"])
def test_post_maps_manager_id_to_manager_value_and_a_filter_finds_it(
        scim: ScimClient, boss: str, key: str) -> None:
    body = template("dora@example.com", manager_id=boss, manager_name="Äda Strauß")
    body[ENT]["manager"] = {key: boss, "displayName": "Äda Strauß"}
    user = created(scim, body)
    # displayName is read-only (RFC 7643 §4.3): not stored from input.
    assert user[ENT] == {"department": "Sales", "manager": {"value": boss}}
    assert read(scim, user["id"])[ENT] == user[ENT]
    assert found(scim, f'{ENT}:manager.value eq "{boss}"') == [user["id"]]
    assert found(scim, f'manager eq "{boss}"') == [user["id"]]  # Entra's form reads the same
    assert found(scim, f"{ENT}:manager pr") == [user["id"]]


def test_put_sets_then_unassigns_the_manager(scim: ScimClient, boss: str) -> None:
    user = created(scim, template("erin@example.com"))
    response = scim.put(f"/Users/{user['id']}",
                        template("erin@example.com", manager_id=boss, manager_name="Äda Strauß",
                                 department="Vertrieb Süd"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()[ENT] == {"department": "Vertrieb Süd", "manager": {"value": boss}}
    assert found(scim, f'{ENT}:manager.value eq "{boss}"') == [user["id"]]

    response = scim.put(f"/Users/{user['id']}", template("erin@example.com"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()[ENT] == {"department": "Sales"}
    assert read(scim, user["id"])[ENT] == {"department": "Sales"}
    assert found(scim, f'{ENT}:manager.value eq "{boss}"') == []


def test_patch_with_the_template_shapes(scim: ScimClient, boss: str) -> None:
    user_id = created(scim, template("finn@example.com"))["id"]
    path = f"/Users/{user_id}"

    # A path-less replace carrying the template's enterprise object.
    response = scim.patch(path, patch_op({"op": "replace", "value": {
        ENT: {"department": "Sales", "manager": {"managerId": boss, "displayName": "Äda Strauß"}},
        "active": "true"}}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()[ENT] == {"department": "Sales", "manager": {"value": boss}}
    assert found(scim, f'{ENT}:manager.value eq "{boss}"') == [user_id]

    # The blank template again: no manager any more (blank means unassigned).
    response = scim.patch(path, patch_op({"op": "replace", "value": {
        ENT: {"department": "Sales", "manager": {"managerId": "", "displayName": " "}}}}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()[ENT] == {"department": "Sales"}
    assert found(scim, f'{ENT}:manager.value eq "{boss}"') == []

    # The manager object on its path, and managerId as a path of its own.
    response = scim.patch(path, patch_op(
        {"op": "add", "path": f"{ENT}:manager", "value": {"managerId": boss}}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()[ENT]["manager"] == {"value": boss}
    response = scim.patch(path, patch_op({"op": "remove", "path": f"{ENT}:manager"}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "manager" not in response.get_json()[ENT]
    response = scim.patch(path, patch_op(
        {"op": "replace", "path": f"{ENT}:manager.managerId", "value": boss}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert read(scim, user_id)[ENT] == {"department": "Sales", "manager": {"value": boss}}
    assert found(scim, f'{ENT}:manager.value eq "{boss}"') == [user_id]

    # A blank value on the manager's path unassigns it too.
    response = scim.patch(path, patch_op(
        {"op": "replace", "path": f"{ENT}:manager.managerId", "value": " "}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert read(scim, user_id)[ENT] == {"department": "Sales"}


def test_sub_attributes_an_idp_adds_are_kept_as_sent(scim: ScimClient, boss: str) -> None:
    body = template("gus@example.com")
    body[ENT]["manager"] = {"managerId": boss, "displayName": "Äda Strauß", "email": "äda@x.org"}
    body["name"]["pronunciation"] = "Ah-del-hide"
    user = created(scim, body)
    assert user[ENT]["manager"] == {"value": boss, "email": "äda@x.org"}
    assert user["name"]["pronunciation"] == "Ah-del-hide"
    assert read(scim, user["id"]) == user
    # The same through a PATCH, and in the elements of a multi-valued attribute.
    response = scim.patch(f"/Users/{user['id']}", patch_op(
        {"op": "add", "path": "emails", "value": [{"value": "g@x.org", "type": "home",
                                                   "verified": "yes"}]}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert {"value": "g@x.org", "type": "home", "verified": "yes"} in response.get_json()["emails"]


def test_a_manager_id_that_contradicts_the_value_is_refused(scim: ScimClient, boss: str) -> None:
    body = template("hal@example.com")
    body[ENT]["manager"] = {"managerId": boss, "value": "someone-else"}
    response = scim.post("/Users", body)
    assert response.status_code == 400
    error = response.get_json()
    assert ERROR_SCHEMA in error["schemas"]
    assert error["scimType"] == "invalidValue"
    assert error["detail"] == f"'{ENT}.manager': 'managerId' and 'value' differ"
    assert found(scim, 'userName eq "hal@example.com"') == []
    # The same id under both names is one manager.
    body[ENT]["manager"] = {"managerId": boss, "value": boss}
    assert created(scim, body)[ENT]["manager"] == {"value": boss}
