"""Microsoft Entra ID's provisioning flows, request for request, over HTTP.

Sources: Microsoft's SCIM tutorial "Develop and plan provisioning for a
SCIM endpoint" [MS1], "Known issues ... SCIM 2.0 protocol compliance" [MS2] with the default
shapes and the ``aadOptscim062020`` ones, ``known-issues.md`` [MS3], the SCIM Validator [MS5] and
AzureAD/SCIMReferenceCode's test payloads [MS6]. After every 2xx a GET checks that what was sent
is what is stored: Entra never reads back, so a silently dropped value is lost for good.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

ENTRA_HEADERS = {"Content-Type": "application/scim+json", "Accept": "application/scim+json"}


class Entra:
    """Entra's provisioning client: raw JSON bodies, query strings as Entra writes them."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {**ENTRA_HEADERS, "Authorization": f"Bearer {self.token}"}
        data = None if body is None else json.dumps(body).encode()
        response = self.client.open("/scim/v2" + path, method=method, data=data, headers=headers)
        if response.status_code != 204:
            # [MS1]: responses carry Content-Type application/scim+json.
            assert response.mimetype == "application/scim+json", (path, response.data)
        return response

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)

    def patch(self, path: str, *operations: dict[str, Any]) -> Any:
        return self.call("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)})

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    # helpers

    def user(self, user_id: str) -> dict[str, Any]:
        response = self.get(f"/Users/{user_id}")
        assert response.status_code == 200, response.data
        body: dict[str, Any] = response.get_json()
        return body

    def group(self, group_id: str) -> dict[str, Any]:
        response = self.get(f"/Groups/{group_id}")
        assert response.status_code == 200, response.data
        body: dict[str, Any] = response.get_json()
        return body

    def members(self, group_id: str) -> set[str]:
        return {m["value"] for m in self.group(group_id).get("members", [])}

    def query(self, resource: str, expression: str, extra: str = "") -> dict[str, Any]:
        response = self.get(f"/{resource}?{extra}filter={quote(expression, safe='')}")
        assert response.status_code == 200, response.data
        body: dict[str, Any] = response.get_json()
        assert LIST_RESPONSE in body["schemas"]
        return body

    def found(self, resource: str, expression: str, extra: str = "") -> list[str]:
        return [r["id"] for r in self.query(resource, expression, extra)["Resources"]]

    def patched(self, path: str, *operations: dict[str, Any]) -> None:
        response = self.patch(path, *operations)
        assert response.status_code in (200, 204), response.data


@pytest.fixture
def entra(client: FlaskClient, token: str) -> Entra:
    return Entra(client, token)


def tutorial_user(user_name: str = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                  external_id: str = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                  email: str = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
                  ) -> dict[str, Any]:
    """[MS1] "Create User" request body."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName",
                 "givenName": "givenName"},
        "roles": [],
    }


def create_user(entra: Entra, body: dict[str, Any]) -> dict[str, Any]:
    response = entra.post("/Users", body)
    assert response.status_code == 201, response.data
    created: dict[str, Any] = response.get_json()
    return created


def create_group(entra: Entra, name: str = "displayName",
                 external_id: str = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159") -> str:
    """[MS1] "Create Group": no members key, the ADSCIM schema URI, meta."""
    response = entra.post("/Groups", {
        "schemas": [GROUP_SCHEMA, ADSCIM_GROUP],
        "externalId": external_id,
        "displayName": name,
        "meta": {"resourceType": "Group"},
    })
    assert response.status_code == 201, response.data
    group_id: str = response.get_json()["id"]
    return group_id


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404
    body = response.get_json()
    assert ERROR_SCHEMA in body["schemas"]
    assert body["status"] == "404"  # a string, as [MS1] shows it


# --- Test Connection and schema discovery [MS1] ----------------------------------------------


@pytest.mark.parametrize("attribute", ["userName", "externalId", 'emails[type eq "work"].value',
                                       "UserName", "ExternalId", f"{ENTERPRISE}:employeeNumber"])
def test_test_connection_queries_a_random_guid(entra: Entra, attribute: str) -> None:
    create_user(entra, tutorial_user())  # a non-empty store: the GUID must still match nothing
    body = entra.query("Users", f'{attribute} eq "{uuid.uuid4()}"')
    assert body["totalResults"] == 0
    assert body["Resources"] == []
    assert type(body["startIndex"]) is int
    assert type(body["itemsPerPage"]) is int


def test_schemas_is_a_list_response(entra: Entra) -> None:
    response = entra.get("/Schemas")
    assert response.status_code == 200
    body = response.get_json()
    assert LIST_RESPONSE in body["schemas"]
    assert body["totalResults"] == len(body["Resources"])
    ids = {s["id"] for s in body["Resources"]}
    assert {USER_SCHEMA, ENTERPRISE, GROUP_SCHEMA} <= ids
    for schema in body["Resources"]:
        for attr in schema["attributes"]:
            # [MS1]: camel-cased property values, no nulls.
            assert attr["mutability"] in {"readOnly", "readWrite", "immutable", "writeOnly"}
            assert None not in attr.values()


# --- users: create and match [MS1] ------------------------------------------------------------


def test_create_user_with_enterprise_schema_and_read_it_back(entra: Entra) -> None:
    body = tutorial_user()
    body[ENTERPRISE] = {"employeeNumber": "701984", "department": "Tour Operations",
                        "costCenter": "4130", "organization": "Universal Studios"}
    created = create_user(entra, body)
    user_id = created["id"]
    assert created["externalId"] == body["externalId"]
    assert created["userName"] == body["userName"]
    assert created["active"] is True
    assert created["meta"]["resourceType"] == "User"

    got = entra.user(user_id)
    assert got["externalId"] == body["externalId"]
    assert got["userName"] == body["userName"]
    assert got["emails"] == body["emails"]
    assert got["name"] == body["name"]
    assert got["active"] is True
    assert got[ENTERPRISE] == body[ENTERPRISE]
    assert ENTERPRISE in got["schemas"]
    assert got.get("roles", []) == []


def test_create_user_with_string_true_active(entra: Entra) -> None:
    # [MS6] "Post emp1 with string True" (user_emp1.json), nulls inside complex values included.
    body = {
        "userName": "emp1",
        "active": "True",
        "addresses": [
            {"country": "Bermuda", "formatted": "9132 Jennifer Way Suite 040\nSouth Nancy, MI",
             "locality": "West Mercedes", "postalCode": "99265", "region": "Montana",
             "streetAddress": "4939 Hess Fork", "type": "work", "primary": False},
            {"country": None, "formatted": "18522 Lisa Unions\nEast Gregory, CT 52311",
             "locality": None, "postalCode": None, "region": None, "streetAddress": None,
             "type": "other", "primary": False},
        ],
        "displayName": "Kimberly Baker",
        "emails": [{"type": "work", "primary": True, "value": "anna33@gmail.com"},
                   {"type": "work", "primary": False, "value": "anna33@example.com"}],
        "meta": {"created": "2019-09-18T18:15:26.5788954+00:00",
                 "lastModified": "2019-09-18T18:15:26.5788976+00:00", "resourceType": "User"},
        "name": {"formatted": "Daniel Mcgee", "familyName": "Employee", "givenName": "Darl",
                 "honorificPrefix": None, "honorificSuffix": None},
        "phoneNumbers": [{"type": "fax", "primary": False, "value": "312-320-0500"},
                         {"type": "mobile", "primary": False, "value": "312-320-1707"},
                         {"type": "work", "primary": True, "value": "312-320-0932"}],
        "preferredLanguage": "xh",
        "roles": [],
        "title": "Site engineer",
        "externalId": "22fbc523-6032-4c5f-939d-5d4850cf3e52",
        "schemas": [USER_SCHEMA],
    }
    created = create_user(entra, body)
    assert created["active"] is True
    got = entra.user(created["id"])
    assert got["active"] is True
    assert got["addresses"] == [
        body["addresses"][0],
        {"formatted": "18522 Lisa Unions\nEast Gregory, CT 52311", "type": "other",
         "primary": False},
    ]
    assert got["emails"] == body["emails"]
    assert got["phoneNumbers"] == body["phoneNumbers"]
    assert got["name"] == {"formatted": "Daniel Mcgee", "familyName": "Employee",
                           "givenName": "Darl"}
    assert (got["preferredLanguage"], got["title"], got["displayName"]) == (
        "xh", "Site engineer", "Kimberly Baker")
    # The client's meta is read-only: ours is kept.
    assert got["meta"]["created"] != body["meta"]["created"]


def test_create_user_with_pascal_case_enterprise_attributes(entra: Entra) -> None:
    # [MS6] user_enterprise.json: "Department" inside the extension.
    body = tutorial_user()
    body[ENTERPRISE] = {"Department": "some department"}
    created = create_user(entra, body)
    assert entra.user(created["id"])[ENTERPRISE] == {"department": "some department"}


def test_tutorial_example_2_with_schema_typo_and_top_level_nulls(entra: Entra) -> None:
    # [MS1] Example 2, verbatim: "...enterprise:2.0User" and null department/manager at the top.
    raw = """{
       "schemas":
       [
         "urn:ietf:params:scim:schemas:core:2.0:User",
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
       "externalId":"jyoung",
       "userName":"jyoung@testuser.com",
       "active":true,
       "addresses":null,
       "displayName":"Joy Young",
       "emails": [
         {
           "type":"work",
           "value":"jyoung@Contoso.com",
           "primary":true}],
       "meta": {
         "resourceType":"User"},
        "name":{
         "familyName":"Young",
         "givenName":"Joy"},
       "phoneNumbers":null,
       "preferredLanguage":null,
       "title":null,
       "department":null,
       "manager":null}"""
    created = create_user(entra, json.loads(raw))
    got = entra.user(created["id"])
    assert got["externalId"] == "jyoung"
    assert got["userName"] == "jyoung@testuser.com"
    assert got["displayName"] == "Joy Young"
    assert got["emails"] == [{"type": "work", "value": "jyoung@Contoso.com", "primary": True}]
    assert got["name"] == {"familyName": "Young", "givenName": "Joy"}
    assert got["active"] is True
    for absent in ("addresses", "phoneNumbers", "preferredLanguage", "title", "department",
                   "manager"):
        assert absent not in got

    # Example 1 of the tutorial prints its matching query unquoted; the provisioning service
    # quotes (Test Connection, OctopusDeploy #9841) and RFC 7644 §3.4.2.2 requires it.
    assert entra.found("Users", 'externalId eq "jyoung"') == [created["id"]]
    unquoted = entra.get("/Users?filter=externalId eq jyoung")
    assert unquoted.status_code == 400
    assert unquoted.get_json()["scimType"] == "invalidFilter"


BOB_GUID = "7a0c8e9b-0f1d-4c6b-8d2a-5e4f3a2b1c0d"


def test_matching_queries(entra: Entra) -> None:
    alice = create_user(entra, tutorial_user("alice@contoso.com",
                                             "5d1b3c3e-6c5d-4a9e-9f5e-0b7e2c1d9a41",
                                             "alice.work@contoso.com"))["id"]
    bob = create_user(entra, tutorial_user("bob@contoso.com", BOB_GUID,
                                           "bob.work@contoso.com"))["id"]

    assert entra.found("Users", 'userName eq "alice@contoso.com"') == [alice]
    # Microsoft's own tests write attribute names in PascalCase [MS6].
    assert entra.found("Users", 'UserName eq "alice@contoso.com"') == [alice]
    assert entra.found("Users", 'USERNAME eq "ALICE@contoso.com"') == [alice]
    # Matching on externalId (OctopusDeploy #9841); externalId is caseExact.
    assert entra.found("Users", f'externalId eq "{BOB_GUID}"') == [bob]
    assert entra.found("Users", f'ExternalId eq "{BOB_GUID}"') == [bob]
    assert entra.found("Users", f'externalId eq "{BOB_GUID.upper()}"') == []
    # Email as the matching attribute [MS1].
    assert entra.found("Users", 'emails[type eq "work"].value eq "bob.work@contoso.com"') == [bob]
    assert entra.found("Users", 'emails[type eq "home"].value eq "bob.work@contoso.com"') == []
    # Only eq and "and" are used [MS1].
    assert entra.found("Users", f'userName eq "bob@contoso.com" and externalId eq "{BOB_GUID}"'
                       ) == [bob]
    assert entra.found("Users", 'userName eq "bob@contoso.com" and externalId eq "x"') == []


def test_query_string_with_plus_for_spaces_and_raw_quotes(entra: Entra, client: FlaskClient,
                                                          token: str) -> None:
    user_id = create_user(entra, tutorial_user("dale.mohr@romaguera.uk"))["id"]
    headers = {**ENTRA_HEADERS, "Authorization": f"Bearer {token}"}
    # The SCIM Validator's request, as quoted in learn.microsoft.com Q&A 2238842.
    for query in ('filter=userName+eq+"dale.mohr%40romaguera.uk"',
                  'filter=userName+eq+"dale.mohr@romaguera.uk"',
                  "filter=userName%20eq%20%22dale.mohr%40romaguera.uk%22",
                  'filter=externalId+eq+"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'):
        response = client.get(f"/scim/v2/Users?{query}", headers=headers)
        assert response.status_code == 200, (query, response.data)
        assert [r["id"] for r in response.get_json()["Resources"]] == [user_id], query


# --- users: PATCH, the default shapes [MS1][MS2] ---------------------------------------------


def test_update_multi_and_single_valued_properties(entra: Entra) -> None:
    user_id = create_user(entra, tutorial_user())["id"]
    # [MS1] Update User [Multi-valued properties].
    response = entra.patch(
        f"/Users/{user_id}",
        {"op": "Replace", "path": 'emails[type eq "work"].value',
         "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    )
    assert response.status_code in (200, 204), response.data
    got = entra.user(user_id)
    assert got["emails"] == [{"primary": True, "type": "work",
                              "value": "updatedEmail@microsoft.com"}]
    assert got["name"]["familyName"] == "updatedFamilyName"
    assert got["name"]["givenName"] == "givenName"
    # The new address is what matching by email now finds.
    assert entra.found("Users", 'emails[type eq "work"].value eq "updatedEmail@microsoft.com"'
                       ) == [user_id]

    # [MS1] Update User [Single-valued properties].
    entra.patched(f"/Users/{user_id}", {"op": "Replace", "path": "userName",
                                        "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@t.com"})
    assert entra.user(user_id)["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@t.com"
    assert entra.found("Users", 'userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@t.com"'
                       ) == [user_id]


def test_disable_with_string_false_then_still_found(entra: Entra) -> None:
    body = tutorial_user()
    user_id = create_user(entra, body)["id"]
    # [MS2] without the flag: capital op, the boolean as a string.
    entra.patched(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"})
    got = entra.user(user_id)
    assert got["active"] is False
    # [MS1]: "a disabled user must still be returned by queries".
    assert entra.found("Users", f'userName eq "{body["userName"]}"') == [user_id]
    assert entra.found("Users", f'externalId eq "{body["externalId"]}"') == [user_id]
    assert entra.found("Users", f'emails[type eq "work"].value eq "{body["emails"][0]["value"]}"'
                       ) == [user_id]
    assert entra.query("Users", f'userName eq "{body["userName"]}"')["Resources"][0][
        "active"] is False
    # [MS1] Disable User with a real boolean, and restore with the string "True".
    entra.patched(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": False})
    assert entra.user(user_id)["active"] is False
    entra.patched(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "True"})
    assert entra.user(user_id)["active"] is True


def test_six_separate_replace_operations(entra: Entra) -> None:
    user_id = create_user(entra, tutorial_user())["id"]
    # [MS2] "Requests to replace multiple attributes", without the flag.
    entra.patched(
        f"/Users/{user_id}",
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {"op": "Replace", "path": 'emails[type eq "work"].value',
         "value": "TestBcwqnm@test.microsoft.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
        {"op": "Replace", "path": "externalId", "value": "Eqpj"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Eqpj"},
    )
    got = entra.user(user_id)
    assert got["displayName"] == "Pvlo"
    assert got["emails"] == [{"primary": True, "type": "work",
                              "value": "TestBcwqnm@test.microsoft.com"}]
    assert got["name"] == {"formatted": "givenName familyName", "givenName": "Gtfd",
                           "familyName": "Pkqf"}
    assert got["externalId"] == "Eqpj"
    assert got[ENTERPRISE] == {"employeeNumber": "Eqpj"}
    assert entra.found("Users", 'externalId eq "Eqpj"') == [user_id]


def test_add_single_value_string_attribute(entra: Entra) -> None:
    user_id = create_user(entra, tutorial_user())["id"]
    entra.patched(f"/Users/{user_id}", {"op": "Add", "path": "nickName", "value": "Babs"})
    assert entra.user(user_id)["nickName"] == "Babs"


def test_manager_as_a_bare_string_and_as_example_5(entra: Entra) -> None:
    boss = create_user(entra, tutorial_user("boss@contoso.com", "boss-ext", "boss@contoso.com"))
    other = create_user(entra, tutorial_user("other@contoso.com", "other-ext", "o@contoso.com"))
    user_id = create_user(entra, tutorial_user())["id"]

    # A bare id on the URN path (SCIM-SDK MsAzurePatchComplexValueRebuilder).
    entra.patched(f"/Users/{user_id}",
                  {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]})
    assert entra.user(user_id)[ENTERPRISE]["manager"]["value"] == boss["id"]

    # [MS1] Example 5 as the brief has it: a one-element list, "$ref": null, no URN.
    entra.patched(f"/Users/{user_id}", {"op": "Add", "path": "manager",
                                        "value": [{"$ref": None, "value": other["id"]}]})
    assert entra.user(user_id)[ENTERPRISE]["manager"]["value"] == other["id"]

    # [MS1] Example 5 verbatim, with a $ref URL.
    ref = f"http://example.com/scim/Users/{boss['id']}"
    entra.patched(f"/Users/{user_id}", {"op": "Add", "path": "manager",
                                        "value": [{"$ref": ref, "value": boss["id"]}]})
    manager = entra.user(user_id)[ENTERPRISE]["manager"]
    assert manager["value"] == boss["id"]
    assert manager["$ref"] == ref

    # [MS1] Example 4 (older tutorial): before updating a manager Entra checks its current value,
    # without the enterprise URN, on the complex attribute itself (the tutorial prints the ids
    # unquoted; RFC 7644 quotes them, as the provisioning service does).
    listed = entra.get(f'/Users?filter=id eq "{user_id}" and manager eq "{boss["id"]}"'
                       "&attributes=id")
    assert listed.status_code == 200, listed.data
    assert [r["id"] for r in listed.get_json()["Resources"]] == [user_id]
    assert set(listed.get_json()["Resources"][0]) <= {"id", "schemas"}
    listed = entra.get(f'/Users?filter=id eq "{user_id}" and manager eq "{other["id"]}"'
                       "&attributes=id")
    assert listed.status_code == 200, listed.data
    assert listed.get_json()["totalResults"] == 0

    # Replace with a bare string too, then remove the manager.
    entra.patched(f"/Users/{user_id}",
                  {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": other["id"]})
    assert entra.user(user_id)[ENTERPRISE]["manager"]["value"] == other["id"]
    entra.patched(f"/Users/{user_id}", {"op": "Remove", "path": f"{ENTERPRISE}:manager"})
    assert "manager" not in entra.user(user_id).get(ENTERPRISE, {})


def test_roles_serialised_as_a_json_string(entra: Entra) -> None:
    # SCIM-SDK #516 / MsAzurePatchValueSubAttributeRebuilder: role objects arrive as JSON text.
    user_id = create_user(entra, tutorial_user())["id"]
    roles = [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin",
              "display": "Admin"}]
    entra.patched(f"/Users/{user_id}", {"op": "Add", "path": "roles", "value": json.dumps(roles)})
    assert entra.user(user_id)["roles"] == roles


def test_validator_adds_a_work_email_to_a_user_without_one(entra: Entra) -> None:
    body = tutorial_user()
    del body["emails"]
    user_id = create_user(entra, body)["id"]
    # SCIM-SDK #416: the validator adds through a filter that matches nothing; it must create.
    entra.patched(f"/Users/{user_id}", {"op": "Add", "path": 'emails[type eq "work"].value',
                                        "value": "new.work@contoso.com"})
    assert entra.user(user_id)["emails"] == [{"type": "work", "value": "new.work@contoso.com"}]
    assert entra.found("Users", 'emails[type eq "work"].value eq "new.work@contoso.com"'
                       ) == [user_id]

    # The same for a user with only a home address: the home one stays.
    body = tutorial_user("home@contoso.com", "home-ext", "home@example.com")
    body["emails"] = [{"type": "home", "value": "home@example.com"}]
    home_id = create_user(entra, body)["id"]
    entra.patched(f"/Users/{home_id}", {"op": "Replace", "path": 'emails[type eq "work"].value',
                                        "value": "w@contoso.com"})
    assert entra.user(home_id)["emails"] == [{"type": "home", "value": "home@example.com"},
                                             {"type": "work", "value": "w@contoso.com"}]

    # And phone numbers and addresses, which Entra patches the same way.
    entra.patched(
        f"/Users/{user_id}",
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Redmond"},
        {"op": "Add", "path": 'addresses[type eq "work"].country', "value": "US"},
    )
    got = entra.user(user_id)
    assert got["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert got["addresses"] == [{"type": "work", "locality": "Redmond", "country": "US"}]


def test_validator_removing_active_never_reactivates(entra: Entra) -> None:
    # [MS5] "may try to remove required attributes": removing active leaves it unassigned
    # (RFC 7644 §3.5.2.2), and an unassigned status is not an active one.
    body = tutorial_user()
    user_id = create_user(entra, body)["id"]
    entra.patched(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"})
    entra.patched(f"/Users/{user_id}", {"op": "Remove", "path": "active"})
    got = entra.user(user_id)
    assert "active" not in got
    assert entra.found("Users", f'userName eq "{body["userName"]}" and active eq true') == []
    # Still found by the matching attributes, and Entra can set it again.
    assert entra.found("Users", f'externalId eq "{body["externalId"]}"') == [user_id]
    entra.patched(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "True"})
    assert entra.user(user_id)["active"] is True


# --- users: PATCH with aadOptscim062020 [MS2] -------------------------------------------------


def test_flag_dialect_user_patches(entra: Entra) -> None:
    user_id = create_user(entra, tutorial_user())["id"]
    entra.patched(f"/Users/{user_id}", {"op": "add", "path": "nickName", "value": "Babs"})
    # One path op plus a path-less replace whose value keys are paths (scim-for-keycloak #26).
    entra.patched(
        f"/Users/{user_id}",
        {"op": "replace", "path": 'emails[type eq "work"].value',
         "value": "TestMhvaes@test.microsoft.com"},
        {"op": "replace", "value": {
            "displayName": "Bjfe",
            "name.givenName": "Kkom",
            "name.familyName": "Unua",
            f"{ENTERPRISE}:employeeNumber": "Aklq",
        }},
    )
    got = entra.user(user_id)
    assert got["nickName"] == "Babs"
    assert got["emails"] == [{"primary": True, "type": "work",
                              "value": "TestMhvaes@test.microsoft.com"}]
    assert got["displayName"] == "Bjfe"
    assert got["name"] == {"formatted": "givenName familyName", "givenName": "Kkom",
                           "familyName": "Unua"}
    assert got[ENTERPRISE] == {"employeeNumber": "Aklq"}

    entra.patched(f"/Users/{user_id}", {"op": "replace", "path": "active", "value": False})
    assert entra.user(user_id)["active"] is False
    assert entra.found("Users", f'userName eq "{got["userName"]}"') == [user_id]
    # Should the flag ever reach us on the Tenant URL, it is just an unknown parameter.
    assert entra.found("Users", f'userName eq "{got["userName"]}"', "aadOptscim062020&"
                       ) == [user_id]


# --- users: delete [MS1] ---------------------------------------------------------------------


def test_delete_user_then_404_with_string_status(entra: Entra) -> None:
    body = tutorial_user()
    user_id = create_user(entra, body)["id"]
    group_id = create_group(entra, "Leavers")
    entra.patched(f"/Groups/{group_id}", {"op": "Add", "path": "members",
                                          "value": [{"$ref": None, "value": user_id}]})
    response = entra.delete(f"/Users/{user_id}")
    assert response.status_code == 204
    assert response.data == b""
    assert_not_found(entra.get(f"/Users/{user_id}"))
    assert entra.found("Users", f'userName eq "{body["userName"]}"') == []
    # The membership went with the user; the group stays.
    assert entra.members(group_id) == set()
    # Deleting again, or patching the deleted user, is a 404 too.
    assert_not_found(entra.delete(f"/Users/{user_id}"))
    assert_not_found(entra.patch(f"/Users/{user_id}",
                                 {"op": "Replace", "path": "active", "value": "False"}))


# --- groups [MS1][MS2] ------------------------------------------------------------------------


def test_group_lifecycle(entra: Entra) -> None:
    users = [create_user(entra, tutorial_user(f"u{i}@contoso.com", f"ext-{i}",
                                              f"u{i}@contoso.com"))["id"] for i in range(4)]

    # Match: excludedAttributes=members with a displayName filter -> nothing yet.
    match = entra.query("Groups", 'displayName eq "displayName"', "excludedAttributes=members&")
    assert match["totalResults"] == 0
    assert match["Resources"] == []

    # Create Group: no members, the old ADSCIM schema URI in schemas -> tolerated.
    group_id = create_group(entra)
    got = entra.group(group_id)
    assert got["displayName"] == "displayName"
    assert got["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert got.get("members", []) == []

    # Get Group by displayName, PascalCase too.
    match = entra.query("Groups", 'displayName eq "displayName"', "excludedAttributes=members&")
    assert [r["id"] for r in match["Resources"]] == [group_id]
    assert "members" not in match["Resources"][0]
    assert entra.found("Groups", 'DisplayName eq "DISPLAYNAME"') == [group_id]
    assert entra.found("Groups", 'externalId eq "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"'
                       ) == [group_id]

    # Update Group [Non-member attributes] -> 204.
    new_name = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    response = entra.patch(f"/Groups/{group_id}",
                           {"op": "Replace", "path": "displayName", "value": new_name})
    assert response.status_code == 204, response.data
    assert entra.group(group_id)["displayName"] == new_name

    # Update Group [Add Members] -> 204.
    response = entra.patch(f"/Groups/{group_id}", {"op": "Add", "path": "members",
                                                   "value": [{"$ref": None, "value": users[0]}]})
    assert response.status_code == 204, response.data
    assert entra.members(group_id) == {users[0]}

    # Get Group with excludedAttributes=members.
    response = entra.get(f"/Groups/{group_id}?excludedAttributes=members")
    assert response.status_code == 200
    assert "members" not in response.get_json()
    assert response.get_json()["displayName"] == new_name

    # Several memberships in one PATCH (gallery checklist) -> 204.
    response = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": users[1]},
                                                   {"$ref": None, "value": users[2]}]},
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": users[3]}]},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]}]},
    )
    assert response.status_code == 204, response.data
    assert entra.members(group_id) == set(users[1:])
    # Adding a member again, or removing one who is not there, changes nothing -> 204.
    response = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": users[3]}]},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]}]},
    )
    assert response.status_code == 204, response.data
    assert entra.members(group_id) == set(users[1:])

    # Entra checks a membership with a members[...] filter on the group.
    expression = f'id eq "{group_id}" and members[value eq "{users[1]}"]'
    assert entra.found("Groups", expression, "excludedAttributes=members&") == [group_id]
    expression = f'id eq "{group_id}" and members[value eq "{users[0]}"]'
    assert entra.found("Groups", expression, "excludedAttributes=members&") == []

    # Update Group [Remove Members] -> 204.
    response = entra.patch(f"/Groups/{group_id}", {"op": "Remove", "path": "members",
                                                   "value": [{"$ref": None, "value": users[1]}]})
    assert response.status_code == 204, response.data
    assert entra.members(group_id) == {users[2], users[3]}

    # With the flag: remove by members[value eq "id"].
    response = entra.patch(f"/Groups/{group_id}",
                           {"op": "remove", "path": f'members[value eq "{users[2]}"]'})
    assert response.status_code == 204, response.data
    assert entra.members(group_id) == {users[3]}

    # Delete Group -> 204, then 404 with "404".
    response = entra.delete(f"/Groups/{group_id}")
    assert response.status_code == 204
    assert_not_found(entra.get(f"/Groups/{group_id}"))
    assert entra.query("Groups", f'displayName eq "{new_name}"')["totalResults"] == 0
    for user_id in users:
        assert entra.get(f"/Users/{user_id}").status_code == 200


def test_group_remove_member_without_the_flag(entra: Entra) -> None:
    # [MS2] "Requests made to remove a group member", without the flag: no $ref at all.
    users = [create_user(entra, tutorial_user(f"r{i}@contoso.com", f"r-{i}",
                                              f"r{i}@contoso.com"))["id"] for i in range(2)]
    group_id = create_group(entra, "Removals")
    entra.patched(f"/Groups/{group_id}", {"op": "Add", "path": "members",
                                          "value": [{"value": u} for u in users]})
    assert entra.members(group_id) == set(users)
    response = entra.patch(f"/Groups/{group_id}", {"op": "Remove", "path": "members",
                                                   "value": [{"value": users[0]}]})
    assert response.status_code == 204
    assert entra.members(group_id) == {users[1]}


def test_group_replace_members_is_what_was_sent(entra: Entra) -> None:
    # Entra's replace of members: the set becomes exactly the list (PostHog PR #47336 made it
    # additive; RFC 7644 §3.5.2.3 says replace). Whatever the choice, a GET shows the result.
    users = [create_user(entra, tutorial_user(f"p{i}@contoso.com", f"p-{i}",
                                              f"p{i}@contoso.com"))["id"] for i in range(3)]
    group_id = create_group(entra, "Replaced")
    entra.patched(f"/Groups/{group_id}", {"op": "Add", "path": "members",
                                          "value": [{"value": u} for u in users[:2]]})
    entra.patched(f"/Groups/{group_id}", {"op": "Replace", "path": "members",
                                          "value": [{"$ref": None, "value": users[2]}]})
    assert entra.members(group_id) == {users[2]}


def test_group_display_name_must_be_unique(entra: Entra) -> None:
    create_group(entra, "Finance", "ext-a")
    response = entra.post("/Groups", {"schemas": [GROUP_SCHEMA, ADSCIM_GROUP],
                                      "externalId": "ext-b", "displayName": "finance",
                                      "meta": {"resourceType": "Group"}})
    assert response.status_code == 409
    assert response.get_json()["status"] == "409"
