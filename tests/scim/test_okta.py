"""Okta's provisioning flows, request for request, over HTTP with Okta's own headers.

Sources: "Okta and SCIM Version 2.0" [OK1], "Build your SCIM API
service" [OK2], "Test your Okta SCIM integration" [OK3] and the Runscope files Okta publishes
(``Okta-SCIM-20-SPEC-Test.json``, ``Okta-SCIM-20-CRUD-Test.json``) [OK4]. Bodies are Okta's
published examples; every step checks what Okta checks, and then that a GET returns what was
sent.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from flask.testing import FlaskClient

from app.db import Database
from tests.helpers.factories import make_token
from tests.helpers.servers import LiveServer

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# What Okta's provisioning client sends on every call (okta-blog-archive PR #1956, [OK1]).
OKTA_HEADERS = {
    "User-Agent": "Okta SCIM Client 1.0.0",
    "Accept": "application/scim+json",
    "Accept-Charset": "utf-8",
    "Content-Type": "application/scim+json; charset=utf-8",
}
# The Runscope SPEC test's headers for reads, and for its two POSTs [OK4].
SPEC_HEADERS = {
    "Accept-Charset": "utf-8",
    "Content-Type": "application/scim+json; charset=utf-8",
    "Accept": "application/scim+json",
    "User-Agent": "OKTA SCIM Integration",
}
SPEC_POST_HEADERS = {"Content-Type": "application/json",
                     "Accept": "application/scim+json; charset=utf-8"}


class Okta:
    """Okta's SCIM client: its headers, its query strings, raw JSON bodies."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> Any:
        merged = {**OKTA_HEADERS, "Authorization": f"Bearer {self.token}", **(headers or {})}
        data = None if body is None else json.dumps(body).encode()
        response = self.client.open("/scim/v2" + path, method=method, data=data, headers=merged)
        if response.status_code != 204:
            # Every answer, errors included, is SCIM JSON (RFC 7644 §3.1, §3.12).
            assert response.mimetype == "application/scim+json", (path, response.data)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def read(self, path: str) -> Any:
        """A GET with only Authorization and Accept, as the Runscope CRUD test sends it."""
        return self.client.get("/scim/v2" + path, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/scim+json"})

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, *operations: dict[str, Any]) -> Any:
        return self.call("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)})

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


@pytest.fixture
def okta(client: FlaskClient, token: str) -> Okta:
    return Okta(client, token)


def encoded(text: str) -> str:
    return quote(text, safe="")


def find_query(user_name: str) -> str:
    """Okta's lookup before a create, encoded exactly as [OK1] shows it."""
    expression = 'userName eq "' + user_name + '"'
    return f"/Users?filter={encoded(expression)}&startIndex=1&count=100"


def okta_user(user_name: str = "test.user@okta.local", given: str = "Test", family: str = "User",
              external_id: str = "00ujl29u0le5T6Aj10h7") -> dict[str, Any]:
    """The POST /Users body of [OK1] "Create the User"."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    body: dict[str, Any] = response.get_json()
    assert ERROR_SCHEMA in body["schemas"]
    assert body["status"] == str(status)
    assert body["detail"]
    return body


def assert_list(body: dict[str, Any]) -> None:
    assert LIST_RESPONSE in body["schemas"]
    for key in ("totalResults", "itemsPerPage", "startIndex"):
        # [OK1]: "need to be exchanged as integers, not as strings".
        assert type(body[key]) is int, (key, body[key])


def assign(okta: Okta, user_name: str, **kw: Any) -> dict[str, Any]:
    """Assign a user to the app: look up, then create; return the created user."""
    found = okta.get(find_query(user_name))
    assert found.status_code == 200
    assert found.get_json()["totalResults"] == 0
    created = okta.post("/Users", okta_user(user_name, **kw))
    assert created.status_code == 201, created.data
    body: dict[str, Any] = created.get_json()
    return body


def member_ids(okta: Okta, group_id: str) -> set[str]:
    got = okta.get(f"/Groups/{group_id}")
    assert got.status_code == 200
    return {m["value"] for m in got.get_json().get("members", [])}


# --- Create Users [OK1] ----------------------------------------------------------------------


def test_assign_user_lookup_create_and_conflict(okta: Okta) -> None:
    # Determine if the User already exists: filter=userName eq, startIndex=1, count=100.
    found = okta.get(find_query("test.user@okta.local"))
    assert found.status_code == 200
    body = found.get_json()
    assert_list(body)
    assert body["totalResults"] == 0
    assert body["Resources"] == []
    assert body["startIndex"] == 1

    # Create the User: password, locale, externalId, groups: [] and active are all sent.
    created = okta.post("/Users", okta_user())
    assert created.status_code == 201, created.data
    user = created.get_json()
    # "Create new user returned empty user" is an Okta error: the full user comes back.
    assert user["id"]
    assert USER_SCHEMA in user["schemas"]
    assert user["userName"] == "test.user@okta.local"
    assert user["name"] == {"givenName": "Test", "familyName": "User"}
    assert user["emails"] == [{"primary": True, "value": "test.user@okta.local", "type": "work"}]
    assert user["displayName"] == "Test User"
    assert user["locale"] == "en-US"
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert user["active"] is True
    assert user["meta"]["resourceType"] == "User"
    assert "password" not in user  # returned "never" (RFC 7643 §4.1.1)
    assert created.headers["Location"].endswith(f"/Users/{user['id']}")

    # What was sent is what is stored.
    again = okta.get(f"/Users/{user['id']}")
    assert again.status_code == 200
    assert {k: v for k, v in again.get_json().items() if k != "meta"} == {
        k: v for k, v in user.items() if k != "meta"}

    # The next lookup finds it, so Okta links instead of creating.
    found = okta.get(find_query("test.user@okta.local")).get_json()
    assert found["totalResults"] == 1
    assert [r["id"] for r in found["Resources"]] == [user["id"]]

    # Existing user: 409 with an Error body stops the provisioning job.
    conflict = okta.post("/Users", okta_user())
    body = assert_error(conflict, 409)
    assert body["scimType"] == "uniqueness"
    # userName is caseExact false, so a case variant is the same user.
    assert_error(okta.post("/Users", okta_user("TEST.USER@okta.local")), 409)
    assert okta.get("/Users").get_json()["totalResults"] == 1


def test_user_name_with_plus_and_unicode(okta: Okta) -> None:
    # Okta encodes the filter value; a "+" in it is %2B and must stay a plus.
    for user_name in ("first+tag@okta.local", "zoë.ümlaut@okta.local"):
        user = assign(okta, user_name)
        found = okta.get(find_query(user_name)).get_json()
        assert [r["id"] for r in found["Resources"]] == [user["id"]]
        assert okta.get(f"/Users/{user['id']}").get_json()["userName"] == user_name


def test_create_without_external_id_or_custom_attributes(okta: Okta) -> None:
    # [OK1]'s second POST: no externalId at all.
    body = okta_user("second@okta.local")
    del body["externalId"]
    created = okta.post("/Users", body)
    assert created.status_code == 201
    assert "externalId" not in created.get_json()


# --- Retrieve Users: import [OK1] ------------------------------------------------------------


def _collect(okta: Okta, endpoint: str, count: int) -> list[str]:
    """Page through ``endpoint`` the way Okta imports: startIndex += count while < total."""
    ids: list[str] = []
    start = 1
    while True:
        page = okta.get(f"{endpoint}?startIndex={start}&count={count}")
        assert page.status_code == 200
        body = page.get_json()
        assert_list(body)
        assert body["startIndex"] == start
        assert body["itemsPerPage"] == len(body["Resources"]) <= count
        ids += [r["id"] for r in body["Resources"]]
        start += count
        if start > body["totalResults"]:
            return ids


def test_import_users_pages_in_a_stable_order(okta: Okta) -> None:
    total = 205
    for i in range(total):
        assert okta.post("/Users", okta_user(f"user{i:03}@okta.local",
                                             external_id=f"00u{i:05}")).status_code == 201
    first = okta.get("/Users?startIndex=1&count=100").get_json()
    assert (first["totalResults"], first["itemsPerPage"], len(first["Resources"])) == (
        total, 100, 100)
    last = okta.get("/Users?startIndex=201&count=100").get_json()
    assert (last["totalResults"], last["startIndex"], last["itemsPerPage"]) == (total, 201, 5)

    by_hundred = _collect(okta, "/Users", 100)
    assert len(by_hundred) == total == len(set(by_hundred))
    # "The SCIM server must consistently return the same ordering of results ... regardless of
    # which values are provided for the count and startIndex".
    assert _collect(okta, "/Users", 7) == by_hundred
    assert _collect(okta, "/Users", 100) == by_hundred

    # A user changed mid-import keeps its place.
    user_id = by_hundred[150]
    assert okta.patch(f"/Users/{user_id}", {"op": "replace",
                                            "value": {"active": False}}).status_code in (200, 204)
    assert _collect(okta, "/Users", 100) == by_hundred


def test_import_groups_pages_in_a_stable_order(okta: Okta) -> None:
    for i in range(23):
        group = {"schemas": [GROUP_SCHEMA], "displayName": f"Group {i:02}", "members": []}
        assert okta.post("/Groups", group).status_code == 201
    by_ten = _collect(okta, "/Groups", 10)
    assert len(by_ten) == 23 == len(set(by_ten))
    assert _collect(okta, "/Groups", 100) == by_ten
    assert _collect(okta, "/Groups", 4) == by_ten
    listed = okta.get("/Groups?startIndex=1&count=100").get_json()
    assert_list(listed)
    assert listed["totalResults"] == 23


def test_import_past_the_end_is_an_empty_page(okta: Okta) -> None:
    assign(okta, "only@okta.local")
    body = okta.get("/Users?startIndex=101&count=100").get_json()
    assert_list(body)
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 0, 101)
    assert body.get("Resources", []) == []


# --- Update a specific User (PUT) [OK1] ------------------------------------------------------


def test_profile_update_get_then_put(okta: Okta) -> None:
    user = assign(okta, "test.user@okta.local")
    user_id = user["id"]

    # Retrieve the User, then PUT it back whole with the changed attributes.
    current = okta.get(f"/Users/{user_id}")
    assert current.status_code == 200
    body = current.get_json()
    body["name"] = {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    body["emails"] = [{"primary": True, "value": "test.user@okta.local", "type": "work",
                       "display": "test.user@okta.local"}]
    body["groups"] = []
    body["title"] = "Engineer"
    updated = okta.put(f"/Users/{user_id}", body)
    # "The response from the SCIM server needs to be the updated User object".
    assert updated.status_code == 200, updated.data
    got = updated.get_json()
    assert got["id"] == user_id
    assert got["name"] == {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    assert got["emails"] == body["emails"]
    assert got["title"] == "Engineer"
    assert got["active"] is True

    again = okta.get(f"/Users/{user_id}").get_json()
    assert again["name"] == got["name"]
    assert again["emails"] == got["emails"]
    assert again["title"] == "Engineer"
    assert again["locale"] == "en-US"
    assert again["externalId"] == "00ujl29u0le5T6Aj10h7"

    # A PUT replaces: an attribute Okta no longer sends is gone.
    del body["title"]
    assert okta.put(f"/Users/{user_id}", body).status_code == 200
    assert "title" not in okta.get(f"/Users/{user_id}").get_json()


def test_aiw_app_puts_everything_including_active_and_password(okta: Okta) -> None:
    # AIW (custom) apps use PUT for deactivation and password sync too.
    user = assign(okta, "aiw@okta.local")
    body = {**okta_user("aiw@okta.local"), "id": user["id"], "active": False,
            "password": "n3wPassw0rd"}
    response = okta.put(f"/Users/{user['id']}", body)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert "password" not in response.get_json()
    assert okta.get(f"/Users/{user['id']}").get_json()["active"] is False
    body["active"] = True
    assert okta.put(f"/Users/{user['id']}", body).get_json()["active"] is True


# --- Update a specific User (PATCH) and Delete Users [OK1] -----------------------------------


def _set_active(okta: Okta, user_id: str, active: bool) -> None:
    response = okta.patch(f"/Users/{user_id}", {"op": "replace", "value": {"active": active}})
    # "The response from the SCIM server needs to be the updated User object" or a 204.
    assert response.status_code in (200, 204), response.data
    if response.status_code == 200:
        assert response.get_json()["active"] is active
        assert response.get_json()["id"] == user_id


def test_deactivate_and_reactivate_with_a_path_less_patch(okta: Okta) -> None:
    user = assign(okta, "test.user@okta.local")
    user_id = user["id"]

    _set_active(okta, user_id, False)
    got = okta.get(f"/Users/{user_id}")
    assert got.status_code == 200
    assert got.get_json()["active"] is False
    # Deactivation changes nothing else.
    assert got.get_json()["name"] == user["name"]
    assert got.get_json()["emails"] == user["emails"]
    # Okta never DELETEs: the deactivated user is still there to be found and re-linked.
    found = okta.get(find_query("test.user@okta.local")).get_json()
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == user_id
    assert found["Resources"][0]["active"] is False

    _set_active(okta, user_id, True)
    assert okta.get(f"/Users/{user_id}").get_json()["active"] is True

    # Deactivating twice is harmless.
    _set_active(okta, user_id, False)
    _set_active(okta, user_id, False)
    assert okta.get(f"/Users/{user_id}").get_json()["active"] is False


def test_password_sync_patch_is_accepted_and_never_returned(okta: Okta) -> None:
    user = assign(okta, "sync@okta.local")
    response = okta.patch(f"/Users/{user['id']}",
                          {"op": "replace", "value": {"password": "t0pSecret!"}})
    assert response.status_code in (200, 204), response.data
    got = okta.get(f"/Users/{user['id']}").get_json()
    assert "password" not in got
    assert got["active"] is True
    assert got["name"] == user["name"]


# --- Group Push [OK1] ------------------------------------------------------------------------


def test_group_push_lifecycle(okta: Okta) -> None:
    alice = assign(okta, "alice@okta.local", given="Alice")["id"]
    bob = assign(okta, "bob@okta.local", given="Bob")["id"]

    # Create Groups: POST with an empty member list -> 201 with the group.
    created = okta.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2",
                                    "members": []})
    assert created.status_code == 201, created.data
    group = created.get_json()
    group_id = group["id"]
    assert group["displayName"] == "Test SCIMv2"
    assert GROUP_SCHEMA in group["schemas"]
    assert group["meta"]["resourceType"] == "Group"
    assert group.get("members", []) == []

    # Retrieve specific Groups.
    got = okta.get(f"/Groups/{group_id}")
    assert got.status_code == 200
    assert got.get_json()["displayName"] == "Test SCIMv2"
    # Pushing by name finds it.
    by_name = okta.get("/Groups?filter=" + encoded('displayName eq "Test SCIMv2"')
                       + "&startIndex=1&count=100").get_json()
    assert [r["id"] for r in by_name["Resources"]] == [group_id]

    # Update a specific Group name: path-less replace with {id, displayName}.
    renamed = okta.patch(f"/Groups/{group_id}", {
        "op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv20"}})
    assert renamed.status_code in (200, 204), renamed.data
    assert okta.get(f"/Groups/{group_id}").get_json()["displayName"] == "Test SCIMv20"

    # Update specific Group membership: remove by filter (not a member: a no-op) + add.
    changed = okta.patch(
        f"/Groups/{group_id}",
        {"op": "remove", "path": f'members[value eq "{bob}"]'},
        {"op": "add", "path": "members", "value": [{"value": alice,
                                                    "display": "alice@okta.local"}]},
    )
    assert changed.status_code in (200, 204), changed.data
    assert member_ids(okta, group_id) == {alice}

    # The rename is sent again with every membership update; then swap Alice for Bob.
    assert okta.patch(f"/Groups/{group_id}", {
        "op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv20"}},
    ).status_code in (200, 204)
    assert okta.patch(
        f"/Groups/{group_id}",
        {"op": "remove", "path": f'members[value eq "{alice}"]'},
        {"op": "add", "path": "members", "value": [{"value": bob, "display": "bob@okta.local"}]},
    ).status_code in (200, 204)
    assert member_ids(okta, group_id) == {bob}
    assert okta.get(f"/Groups/{group_id}").get_json()["displayName"] == "Test SCIMv20"

    # Full push: replace path members with the whole list.
    assert okta.patch(f"/Groups/{group_id}", {
        "op": "replace", "path": "members",
        "value": [{"value": alice, "display": "alice@okta.local"},
                  {"value": bob, "display": "bob@okta.local"}],
    }).status_code in (200, 204)
    assert member_ids(okta, group_id) == {alice, bob}
    # The user side shows the membership too.
    groups = okta.get(f"/Users/{alice}").get_json().get("groups", [])
    assert [g["value"] for g in groups] == [group_id]

    # "Push now" of a group emptied in Okta: replace members [] (SCIM-SDK #757).
    emptied = okta.patch(f"/Groups/{group_id}", {"op": "replace", "path": "members", "value": []})
    assert emptied.status_code in (200, 204), emptied.data
    assert member_ids(okta, group_id) == set()
    assert okta.get(f"/Groups/{group_id}").get_json()["displayName"] == "Test SCIMv20"

    # Delete a specific Group: unlink with delete -> 204, then it is gone.
    deleted = okta.delete(f"/Groups/{group_id}")
    assert deleted.status_code == 204
    assert deleted.data == b""
    assert_error(okta.get(f"/Groups/{group_id}"), 404)
    # The users stay.
    assert okta.get(f"/Users/{alice}").status_code == 200


def test_group_membership_remove_several_by_filter_and_push_with_members(okta: Okta) -> None:
    ids = [assign(okta, f"m{i}@okta.local")["id"] for i in range(3)]
    created = okta.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Engineering",
                                    "members": [{"value": i} for i in ids]})
    assert created.status_code == 201
    group_id = created.get_json()["id"]
    assert member_ids(okta, group_id) == set(ids)
    # Two filtered removes in one PATCH, no value on either (BerriAI/litellm PR #34181).
    assert okta.patch(
        f"/Groups/{group_id}",
        {"op": "remove", "path": f'members[value eq "{ids[0]}"]'},
        {"op": "remove", "path": f'members[value eq "{ids[1]}"]'},
    ).status_code in (200, 204)
    assert member_ids(okta, group_id) == {ids[2]}


def test_group_rename_and_members_in_one_path_less_replace(okta: Okta) -> None:
    alice = assign(okta, "alice@okta.local")["id"]
    group_id = okta.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Sales",
                                     "members": []}).get_json()["id"]
    response = okta.patch(f"/Groups/{group_id}", {
        "op": "replace",
        "value": {"id": group_id, "displayName": "Sales EMEA",
                  "members": [{"value": alice, "display": "alice@okta.local"}]},
    })
    assert response.status_code in (200, 204), response.data
    got = okta.get(f"/Groups/{group_id}").get_json()
    assert got["displayName"] == "Sales EMEA"
    assert {m["value"] for m in got["members"]} == {alice}


def test_aiw_app_puts_the_group(okta: Okta) -> None:
    alice = assign(okta, "alice@okta.local")["id"]
    bob = assign(okta, "bob@okta.local")["id"]
    group_id = okta.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Support",
                                     "members": [{"value": alice}]}).get_json()["id"]
    response = okta.put(f"/Groups/{group_id}", {
        "schemas": [GROUP_SCHEMA], "id": group_id, "displayName": "Support Tier 2",
        "members": [{"value": bob, "display": "bob@okta.local"}],
    })
    assert response.status_code == 200, response.data
    assert response.get_json()["displayName"] == "Support Tier 2"
    assert member_ids(okta, group_id) == {bob}


def test_group_name_taken_is_a_conflict(okta: Okta) -> None:
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Dup", "members": []}
    assert okta.post("/Groups", body).status_code == 201
    assert assert_error(okta.post("/Groups", body), 409)["scimType"] == "uniqueness"


# --- Runscope "Okta SCIM 2.0 SPEC Test" [OK4], over real HTTP ---------------------------------


def test_runscope_spec_test(live_server: LiveServer, db: Database) -> None:
    token = make_token(db)
    auth = {"Authorization": f"Bearer {token}"}
    invalid_user_email = "abcdefgh@atko.com"
    random_given_name = "Runscope300"
    random_family_name = "Hfluaklab151"
    random_user_name = f"{random_given_name}{random_family_name}@atko.com"
    random_email = random_user_name
    random_user_name_caps = random_user_name.upper()
    user_id_that_does_not_exist = "010101001010101011001010101011"

    def create_body(email: str) -> str:
        # The SPEC test's POST body, byte for byte as Runscope sends it.
        return json.dumps({
            "schemas": [USER_SCHEMA], "userName": random_user_name,
            "name": {"givenName": random_given_name, "familyName": random_family_name},
            "emails": [{"primary": True, "value": email, "type": "work"}],
            "displayName": f"{random_given_name} {random_family_name}", "active": True,
        })

    with httpx.Client(base_url=live_server.url + "/scim/v2", timeout=10) as http:
        # "Create at least one user first."
        setup = http.post("/Users", headers={**OKTA_HEADERS, **auth}, content=json.dumps(
            {**okta_user("bjensen@example.com", given="Barbara", family="Jensen")}))
        assert setup.status_code == 201

        # Required Test: Test Users endpoint
        r = http.get("/Users?count=1&startIndex=1", headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        j = r.json()
        assert j["Resources"]
        assert LIST_RESPONSE in j["schemas"]
        for key in ("itemsPerPage", "startIndex", "totalResults"):
            assert type(j[key]) is int
        first = j["Resources"][0]
        assert first["id"]
        assert first["name"]["familyName"]
        assert first["name"]["givenName"]
        assert first["userName"]
        assert first["active"] is not None
        assert first["emails"][0]["value"]
        isv_user_id = first["id"]

        # Required Test: Get Users/{{id}}
        r = http.get(f"/Users/{isv_user_id}", headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        j = r.json()
        assert j["id"] == isv_user_id
        assert j["name"]["familyName"]
        assert j["name"]["givenName"]
        assert j["userName"]
        assert j["active"] is not None
        assert j["emails"][0]["value"]

        # Required Test: Test invalid User by username
        r = http.get(f'/Users?filter=userName eq "{invalid_user_email}"',
                     headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        assert LIST_RESPONSE in r.json()["schemas"]
        assert r.json()["totalResults"] == 0

        # Required Test: Test invalid User by ID
        r = http.get(f"/Users/{user_id_that_does_not_exist}", headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 404
        assert r.json()["detail"]
        assert ERROR_SCHEMA in r.json()["schemas"]

        # Required Test: Make sure random user doesn't exist
        r = http.get(f'/Users?filter=userName eq "{random_email}"',
                     headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        assert r.json()["totalResults"] == 0
        assert LIST_RESPONSE in r.json()["schemas"]

        # Required Test: Create Okta user with realistic values (Content-Type: application/json)
        r = http.post("/Users", headers={**SPEC_POST_HEADERS, **auth},
                      content=create_body(random_email))
        assert r.status_code == 201, r.text
        j = r.json()
        assert j["active"] is True
        assert j["id"]
        assert j["name"]["familyName"] == random_family_name
        assert j["name"]["givenName"] == random_given_name
        assert USER_SCHEMA in j["schemas"]
        assert j["userName"] == random_user_name
        assert j["emails"][0]["value"] == random_email
        id_user_one = j["id"]

        # Required Test: Verify that user was created
        r = http.get(f"/Users/{id_user_one}", headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        assert r.json()["userName"] == random_user_name
        assert r.json()["name"]["familyName"] == random_family_name
        assert r.json()["name"]["givenName"] == random_given_name

        # Required Test: Expect failure when recreating user with same values
        r = http.post("/Users", headers={**SPEC_POST_HEADERS, **auth},
                      content=create_body(random_user_name))
        assert r.status_code == 409

        # Required Test: Username Case Sensitivity Check
        r = http.get(f'/Users?filter=userName eq "{random_user_name_caps}"',
                     headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        # Not checked by the SPEC test, but userName is caseExact false (RFC 7643 §4.1.1).
        assert [u["id"] for u in r.json()["Resources"]] == [id_user_one]

        # Optional Test: Verify Groups endpoint (in under 600 ms)
        r = http.get("/Groups", headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 200
        assert r.elapsed.total_seconds() < 0.6
        assert type(r.json()["totalResults"]) is int
        assert isinstance(r.json()["Resources"], list)

        # Required Test: Check status 401
        r = http.get(f'/Users?filter=userName eq "{random_user_name_caps}"',
                     headers={**SPEC_HEADERS, "Authorization": "non-token"})
        assert r.status_code == 401
        j = r.json()
        assert j["detail"]
        assert j["status"] == "401"
        assert ERROR_SCHEMA in j["schemas"]

        # Required Test: Check status 404
        r = http.get("/Users/00919288221112222", headers={**SPEC_HEADERS, **auth})
        assert r.status_code == 404
        j = r.json()
        assert j["detail"]
        assert j["status"] == "404"
        assert ERROR_SCHEMA in j["schemas"]


@pytest.mark.parametrize("authorization", [None, "non-token", "Bearer", "Bearer not-a-token",
                                           "Basic dXNlcjpwYXNz"])
def test_no_anonymous_access(client: FlaskClient, authorization: str | None) -> None:
    # [OK2]: no anonymous access; every refusal is a SCIM 401.
    headers = {**OKTA_HEADERS}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.get("/scim/v2/Users?startIndex=1&count=100", headers=headers)
    body = assert_error(response, 401)
    assert response.mimetype == "application/scim+json"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert body["detail"]


# --- Runscope "Okta SCIM 2.0 CRUD Test" [OK3][OK4] -------------------------------------------


def test_runscope_crud_test(okta: Okta) -> None:
    email = "crud.user@atko.com"
    # Assign user to SCIM App.
    assign(okta, email, given="Crud", family="Tester")

    # Verify if user is created in SCIM App.
    r = okta.read(f'/Users?filter=userName eq "{email}"')
    assert r.status_code == 200
    j = r.get_json()
    assert j["Resources"][0]["userName"] == email
    assert j["Resources"][0]["emails"][0]["value"] == email
    assert j["Resources"][0]["name"]["familyName"] == "Tester"
    assert j["Resources"][0]["name"]["givenName"] == "Crud"
    scim_id = j["Resources"][0]["id"]

    # Update user firstname (Okta: GET, then PUT the whole user).
    current = okta.get(f"/Users/{scim_id}").get_json()
    current["name"]["givenName"] = "Crudder"
    assert okta.put(f"/Users/{scim_id}", current).status_code == 200

    # Verify firstname update in SCIM App.
    r = okta.read(f"/Users/{scim_id}")
    assert r.status_code == 200
    assert r.get_json()["name"]["givenName"] == "Crudder"

    # Deactivate user in Okta, then verify: 200 with active=false, not a 404.
    _set_active(okta, scim_id, False)
    r = okta.read(f"/Users/{scim_id}")
    assert r.status_code == 200
    assert r.get_json()["active"] is False

    # Reactivate user in Okta, then verify.
    _set_active(okta, scim_id, True)
    r = okta.read(f"/Users/{scim_id}")
    assert r.status_code == 200
    assert r.get_json()["active"] is True
    assert r.get_json()["name"]["givenName"] == "Crudder"

    # Remove the assignment in Okta: unassign also sends active=false.
    _set_active(okta, scim_id, False)
    r = okta.read(f"/Users/{scim_id}")
    assert r.status_code == 200
    assert r.get_json()["active"] is False


# --- Okta Identity Governance discovery [OK1] ------------------------------------------------


def test_discovery_resource_types_then_schemas(okta: Okta) -> None:
    types = okta.get("/ResourceTypes")
    assert types.status_code == 200
    body = types.get_json()
    assert_list(body)
    by_name = {t["name"]: t for t in body["Resources"]}
    assert by_name["User"]["endpoint"] == "/Users"
    assert by_name["Group"]["endpoint"] == "/Groups"
    schemas = okta.get("/Schemas").get_json()
    assert_list(schemas)
    ids = {s["id"] for s in schemas["Resources"]}
    for kind in by_name.values():
        assert kind["schema"] in ids
        assert okta.get(f"/Schemas/{kind['schema']}").status_code == 200
