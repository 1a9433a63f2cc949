"""/Users through HTTP: create, read, replace, patch, delete, uniqueness, the enterprise
extension, read-only and write-only attributes (RFC 7643 §4.1, RFC 7644 §3.3-§3.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from app.db import Database
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.reads import count
from tests.helpers.reads import rows

BASE = "https://frontdesk.example.com/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def create(scim: ScimClient, user_name: str = "bjensen@example.com", **attrs: Any) -> Any:
    response = scim.post("/Users", json={"schemas": [USER], "userName": user_name, **attrs})
    assert response.status_code == 201, response.json
    return response.json


def make_group(scim: ScimClient, name: str, *member_ids: str) -> dict[str, Any]:
    response = scim.post("/Groups", json={"displayName": name,
                                          "members": [{"value": m} for m in member_ids]})
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- create ------------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_meta(scim: ScimClient) -> None:
    response = scim.post("/Users", json={
        "schemas": [USER], "userName": "bjensen@example.com", "externalId": "ext-1",
        "name": {"givenName": "Barbara", "familyName": "Jensen"}, "displayName": "Babs",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    })
    assert response.status_code == 201
    assert response.mimetype == "application/scim+json"
    body = response.json
    user_id = body["id"]
    assert response.headers["Location"] == f"{BASE}/Users/{user_id}"
    meta = body["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"] == f"{BASE}/Users/{user_id}"
    assert response.headers["ETag"] == meta["version"]
    assert meta["version"].startswith('W/"')
    created, modified = parse_time(meta["created"]), parse_time(meta["lastModified"])
    assert created.tzinfo is not None
    assert created == modified
    assert body["schemas"] == [USER]
    assert body["userName"] == "bjensen@example.com"
    assert body["externalId"] == "ext-1"
    assert body["active"] is True
    assert body["name"] == {"givenName": "Barbara", "familyName": "Jensen"}
    assert body["emails"] == [{"value": "bjensen@example.com", "type": "work", "primary": True}]


def test_get_returns_what_create_returned(scim: ScimClient) -> None:
    created = scim.post("/Users", json={"userName": "bjensen", "title": "Tour Guide",
                                        "name": {"formatted": "Ms. Barbara J Jensen III"}})
    fetched = scim.get(f"/Users/{created.json['id']}")
    assert fetched.status_code == 200
    assert fetched.json == created.json
    assert fetched.headers["ETag"] == created.headers["ETag"]


def test_get_unknown_user_is_404(scim: ScimClient) -> None:
    response = scim.get("/Users/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json["schemas"] == [ERROR]
    assert response.json["status"] == "404"


# --- PUT ---------------------------------------------------------------------------------


def test_put_replaces_the_whole_resource(scim: ScimClient) -> None:
    user = create(scim, "bjensen", title="Tour Guide", nickName="Babs",
                  name={"givenName": "Barbara", "familyName": "Jensen"})
    response = scim.put(f"/Users/{user['id']}", json={
        "schemas": [USER], "userName": "bjensen", "name": {"givenName": "Barb"},
    })
    assert response.status_code == 200
    body = response.json
    assert body["name"] == {"givenName": "Barb"}
    assert "title" not in body
    assert "nickName" not in body
    assert body["id"] == user["id"]
    assert body["meta"]["created"] == user["meta"]["created"]
    assert body["meta"]["version"] != user["meta"]["version"]
    assert response.headers["ETag"] == body["meta"]["version"]
    assert parse_time(body["meta"]["lastModified"]) >= parse_time(user["meta"]["lastModified"])
    assert scim.get(f"/Users/{user['id']}").json == body


def test_put_without_active_keeps_a_deactivated_user_deactivated(scim: ScimClient) -> None:
    user = create(scim, "bjensen", active=False)
    assert user["active"] is False
    response = scim.put(f"/Users/{user['id']}", json={"userName": "bjensen", "title": "Guide"})
    assert response.status_code == 200
    assert response.json["active"] is False
    assert scim.get(f"/Users/{user['id']}").json["active"] is False


def test_put_without_active_keeps_an_active_user_active(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    response = scim.put(f"/Users/{user['id']}", json={"userName": "bjensen", "title": "Guide"})
    assert response.json["active"] is True


def test_put_can_deactivate_and_reactivate(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    off = scim.put(f"/Users/{user['id']}", json={"userName": "bjensen", "active": False})
    assert off.json["active"] is False
    on = scim.put(f"/Users/{user['id']}", json={"userName": "bjensen", "active": True})
    assert on.json["active"] is True


def test_put_unknown_user_is_404(scim: ScimClient) -> None:
    response = scim.put("/Users/nope", json={"userName": "x"})
    assert response.status_code == 404


# --- PATCH -------------------------------------------------------------------------------


def test_patch_answers_200_with_the_resource(scim: ScimClient) -> None:
    user = create(scim, "bjensen", name={"givenName": "Barbara"})
    response = scim.patch(f"/Users/{user['id']}", json=patch_op(
        {"op": "replace", "path": "name.givenName", "value": "Babs"},
        {"op": "add", "path": "title", "value": "Guide"},
    ))
    assert response.status_code == 200
    body = response.json
    assert body["name"]["givenName"] == "Babs"
    assert body["title"] == "Guide"
    assert body["meta"]["version"] != user["meta"]["version"]
    assert response.headers["ETag"] == body["meta"]["version"]
    assert scim.get(f"/Users/{user['id']}").json == body


def test_patch_respects_the_attributes_parameter(scim: ScimClient) -> None:
    user = create(scim, "bjensen", title="Guide", name={"givenName": "Barbara"})
    response = scim.patch(f"/Users/{user['id']}?attributes=title",
                          json=patch_op({"op": "replace", "path": "title", "value": "Lead"}))
    assert response.status_code == 200
    assert response.json["title"] == "Lead"
    assert "name" not in response.json
    assert "userName" not in response.json
    assert response.json["id"] == user["id"]


def test_patch_respects_excluded_attributes(scim: ScimClient) -> None:
    user = create(scim, "bjensen", title="Guide", name={"givenName": "Barbara"})
    response = scim.patch(f"/Users/{user['id']}?excludedAttributes=name",
                          json=patch_op({"op": "replace", "path": "title", "value": "Lead"}))
    assert response.status_code == 200
    assert "name" not in response.json
    assert response.json["title"] == "Lead"


def test_patch_deactivate_then_reactivate(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    off = scim.patch(f"/Users/{user['id']}",
                     json=patch_op({"op": "replace", "path": "active", "value": False}))
    assert off.status_code == 200
    assert off.json["active"] is False
    # Entra's shape: no path, a value object with a string boolean.
    on = scim.patch(f"/Users/{user['id']}",
                    json=patch_op({"op": "Replace", "value": {"active": "True"}}))
    assert on.status_code == 200
    assert on.json["active"] is True


def test_patch_unknown_user_is_404(scim: ScimClient) -> None:
    response = scim.patch("/Users/nope",
                          json=patch_op({"op": "replace", "path": "title", "value": "x"}))
    assert response.status_code == 404


# --- DELETE ------------------------------------------------------------------------------


def test_delete_answers_204_removes_memberships_then_404(scim: ScimClient, db: Database
                                                         ) -> None:
    user = create(scim, "bjensen", emails=[{"value": "b@example.com"}])
    other = create(scim, "other")
    group = make_group(scim, "Tour Guides", user["id"], other["id"])
    assert count(db, "memberships") == 2
    assert user["id"] in {r[0] for r in rows(db, "SELECT user_id FROM user_values")}
    response = scim.delete(f"/Users/{user['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert scim.get(f"/Users/{user['id']}").status_code == 404
    assert scim.delete(f"/Users/{user['id']}").status_code == 404
    assert count(db, "memberships") == 1
    members = scim.get(f"/Groups/{group['id']}").json["members"]
    assert [m["value"] for m in members] == [other["id"]]
    found = scim.get(f'/Groups?filter=members.value eq "{user["id"]}"').json
    assert found["totalResults"] == 0
    # The user's indexed values go with them.
    assert user["id"] not in {r[0] for r in rows(db, "SELECT user_id FROM user_values")}


def test_delete_bumps_the_version_of_groups_the_user_left(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    group = make_group(scim, "Tour Guides", user["id"])
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    after = scim.get(f"/Groups/{group['id']}").json
    assert after["meta"]["version"] != group["meta"]["version"]
    assert "members" not in after


def test_delete_user_frees_the_user_name(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    again = create(scim, "BJensen")
    assert again["id"] != user["id"]


# --- uniqueness --------------------------------------------------------------------------


@pytest.mark.parametrize(("taken", "attempt"), [("bjensen@example.com", "BJensen@Example.COM"),
                                               ("Äda@example.com", "äDA@example.com"),
                                               ("STRAUß", "strauß")])
def test_user_name_is_unique_case_insensitively(scim: ScimClient, db: Database, taken: str,
                                                attempt: str) -> None:
    create(scim, taken)
    users, events = count(db, "users"), count(db, "audit_events")
    response = scim.post("/Users", json={"userName": attempt})
    assert response.status_code == 409
    assert response.json["scimType"] == "uniqueness"
    assert response.json["status"] == "409"
    assert response.json["schemas"] == [ERROR]
    assert response.mimetype == "application/scim+json"
    assert (count(db, "users"), count(db, "audit_events")) == (users, events)


def test_put_rename_onto_a_taken_user_name_is_409(scim: ScimClient, db: Database) -> None:
    create(scim, "alice")
    bob = create(scim, "bob")
    events = count(db, "audit_events")
    response = scim.put(f"/Users/{bob['id']}", json={"userName": "ALICE"})
    assert response.status_code == 409
    assert response.json["scimType"] == "uniqueness"
    assert scim.get(f"/Users/{bob['id']}").json == bob
    assert count(db, "audit_events") == events


def test_patch_rename_onto_a_taken_user_name_is_409(scim: ScimClient, db: Database) -> None:
    create(scim, "alice")
    bob = create(scim, "bob")
    events = count(db, "audit_events")
    response = scim.patch(f"/Users/{bob['id']}",
                          json=patch_op({"op": "replace", "path": "userName", "value": "Alice"}))
    assert response.status_code == 409
    assert response.json["scimType"] == "uniqueness"
    assert scim.get(f"/Users/{bob['id']}").json == bob
    assert count(db, "audit_events") == events


@pytest.mark.parametrize(("name", "renamed"), [("bjensen", "BJensen"), ("äda", "ÄDA"),
                                              ("strauß", "STRAUß")])
def test_rename_changing_only_case_is_allowed(scim: ScimClient, name: str, renamed: str) -> None:
    user = create(scim, name)
    response = scim.patch(f"/Users/{user['id']}",
                          json=patch_op({"op": "replace", "path": "userName", "value": renamed}))
    assert response.status_code == 200
    assert response.json["userName"] == renamed
    found = scim.get("/Users", query_string={"filter": f'userName eq "{name}"'}).json
    assert [r["id"] for r in found["Resources"]] == [user["id"]]


# --- enterprise extension ----------------------------------------------------------------


def test_enterprise_extension_round_trip_with_manager(scim: ScimClient) -> None:
    boss = create(scim, "boss")
    response = scim.post("/Users", json={
        "schemas": [USER, ENT], "userName": "bjensen",
        ENT: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal",
              "division": "Theme Park", "department": "Tour Operations",
              "manager": {"value": boss["id"], "displayName": "ignored: read-only"}},
    })
    assert response.status_code == 201, response.json
    body = response.json
    assert ENT in body["schemas"]
    ext = body[ENT]
    assert ext["employeeNumber"] == "701984"
    assert ext["department"] == "Tour Operations"
    assert ext["manager"]["value"] == boss["id"]
    assert scim.get(f"/Users/{body['id']}").json == body

    patched = scim.patch(f"/Users/{body['id']}", json=patch_op(
        {"op": "replace", "path": f"{ENT}:department", "value": "Rides"},
        {"op": "replace", "path": f"{ENT}:manager", "value": {"value": "m-2"}},
    ))
    assert patched.status_code == 200, patched.json
    assert patched.json[ENT]["department"] == "Rides"
    assert patched.json[ENT]["manager"]["value"] == "m-2"
    assert patched.json[ENT]["employeeNumber"] == "701984"
    assert scim.get(f"/Users/{body['id']}").json == patched.json

    found = scim.get(f'/Users?filter={ENT}:manager.value eq "m-2"').json
    assert [r["id"] for r in found["Resources"]] == [body["id"]]


def test_enterprise_extension_removed_by_put(scim: ScimClient) -> None:
    user = create(scim, "bjensen", schemas=[USER, ENT], **{ENT: {"department": "Tour"}})
    assert user[ENT] == {"department": "Tour"}
    response = scim.put(f"/Users/{user['id']}", json={"schemas": [USER], "userName": "bjensen"})
    assert response.status_code == 200
    assert ENT not in response.json
    assert ENT not in response.json["schemas"]


# --- active:false ------------------------------------------------------------------------


def test_deactivated_user_is_still_readable_and_findable(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    scim.patch(f"/Users/{user['id']}",
               json=patch_op({"op": "replace", "path": "active", "value": False}))
    fetched = scim.get(f"/Users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json["active"] is False
    by_name = scim.get('/Users?filter=userName eq "bjensen"').json
    assert by_name["totalResults"] == 1
    assert by_name["Resources"][0]["active"] is False
    inactive = scim.get("/Users?filter=active eq false").json
    assert [r["id"] for r in inactive["Resources"]] == [user["id"]]
    assert scim.get("/Users?filter=active eq true").json["totalResults"] == 0
    assert scim.get("/Users").json["totalResults"] == 1


# --- what a write returns is what the next read returns ----------------------------------


def test_writes_keep_groups_and_multi_valued_attributes(scim: ScimClient) -> None:
    user = create(scim, "bjensen", emails=[{"value": "b@x.com", "type": "work"}],
                  phoneNumbers=[{"value": "555", "type": "work"}],
                  addresses=[{"streetAddress": "1 Main", "type": "work"}])
    group = make_group(scim, "Tour Guides", user["id"])
    got = scim.get(f"/Users/{user['id']}").json
    assert got["groups"] == [{"value": group["id"], "display": "Tour Guides", "type": "direct",
                              "$ref": f"{BASE}/Groups/{group['id']}"}]
    responses = [
        scim.put(f"/Users/{user['id']}", json={"userName": "bjensen", "nickName": "B",
                                               "emails": [{"value": "B@Y.com"}]}),
        scim.patch(f"/Users/{user['id']}", json=patch_op(
            {"op": "add", "path": "emails", "value": [{"value": "c@z.com", "type": "home"}]})),
        scim.patch(f"/Users/{user['id']}", json=patch_op(
            {"op": "remove", "path": "nickName"})),
    ]
    for response in responses:
        assert response.status_code == 200, response.json
    final = scim.get(f"/Users/{user['id']}").json
    assert final == responses[-1].json
    assert "nickName" not in final
    assert final["emails"] == [{"value": "B@Y.com"}, {"value": "c@z.com", "type": "home"}]
    assert final["groups"][0]["value"] == group["id"]


def test_each_response_matches_the_get_that_follows(scim: ScimClient) -> None:
    user = create(scim, "bjensen")
    writes = [
        lambda: scim.put(f"/Users/{user['id']}", json={"userName": "bjensen", "title": "T"}),
        lambda: scim.patch(f"/Users/{user['id']}", json=patch_op(
            {"op": "add", "value": {"displayName": "Babs", "name": {"familyName": "J"}}})),
        lambda: scim.patch(f"/Users/{user['id']}", json=patch_op(
            {"op": "replace", "path": "active", "value": False})),
    ]
    for write in writes:
        response = write()
        assert response.status_code == 200, response.json
        follow = scim.get(f"/Users/{user['id']}")
        assert follow.json == response.json
        assert follow.headers["ETag"] == response.headers["ETag"]


# --- read-only and write-only input ------------------------------------------------------


def test_read_only_input_is_ignored(scim: ScimClient) -> None:
    group = make_group(scim, "Admins")
    response = scim.post("/Users", json={
        "schemas": [USER], "id": "chosen-by-client", "userName": "bjensen",
        "meta": {"created": "2001-01-01T00:00:00Z", "version": 'W/"99"', "resourceType": "X"},
        "groups": [{"value": group["id"], "display": "Admins"}],
    })
    assert response.status_code == 201, response.json
    body = response.json
    assert body["id"] != "chosen-by-client"
    assert not body["meta"]["created"].startswith("2001")
    assert body["meta"]["resourceType"] == "User"
    assert "groups" not in body
    assert scim.get("/Users/chosen-by-client").status_code == 404
    assert "members" not in scim.get(f"/Groups/{group['id']}").json

    put = scim.put(f"/Users/{body['id']}", json={
        "id": "other", "userName": "bjensen", "meta": {"version": 'W/"99"'},
        "groups": [{"value": group["id"]}],
    })
    assert put.status_code == 200
    assert put.json["id"] == body["id"]
    assert "groups" not in put.json
    assert put.json["meta"]["version"] == body["meta"]["version"]  # nothing changed


def test_password_is_accepted_and_never_returned(scim: ScimClient, db: Database) -> None:
    secret = "t1meMa$heen-Sup3r"  # noqa: S105 - test data
    response = scim.post("/Users", json={"userName": "bjensen", "password": secret})
    assert response.status_code == 201, response.json
    assert "password" not in response.json
    user_id = response.json["id"]
    assert "password" not in scim.get(f"/Users/{user_id}").json
    put = scim.put(f"/Users/{user_id}", json={"userName": "bjensen", "password": secret + "2"})
    assert put.status_code == 200
    assert "password" not in put.json
    patched = scim.patch(f"/Users/{user_id}", json=patch_op(
        {"op": "replace", "path": "password", "value": secret + "3"}))
    assert patched.status_code == 200, patched.json
    assert "password" not in patched.json
    listed = scim.get("/Users?attributes=password,userName").json
    assert all("password" not in r for r in listed["Resources"])
    assert scim.get('/Users?filter=password eq "x"').status_code == 400
    # Nothing stored anywhere, audit log included.
    for table in ("users", "user_values", "audit_events"):
        assert secret not in repr(rows(db, f"SELECT * FROM {table}"))  # noqa: S608
