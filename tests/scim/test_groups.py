"""/Groups through HTTP: members, projection, membership PATCH, versions, nesting, uniqueness,
delete (RFC 7643 §4.2, RFC 7644 §3.5.2)."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from app.db import Database
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.reads import count

BASE = "https://frontdesk.example.com/scim/v2"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
MISSING = "00000000-0000-0000-0000-000000000000"


def snapshot(db: Database) -> tuple[int, ...]:
    return tuple(count(db, t) for t in ("users", "groups", "memberships", "audit_events"))


def user(scim: ScimClient, name: str, **attrs: Any) -> str:
    response = scim.post("/Users", json={"userName": name, **attrs})
    assert response.status_code == 201, response.json
    user_id: str = response.json["id"]
    return user_id


def group(scim: ScimClient, name: str, *members: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": name}
    if members:
        body["members"] = [{"value": m} for m in members]
    response = scim.post("/Groups", json=body)
    assert response.status_code == 201, response.json
    result: dict[str, Any] = response.json
    return result


def member_ids(scim: ScimClient, group_id: str) -> list[str]:
    body = scim.get(f"/Groups/{group_id}").json
    return sorted(m["value"] for m in body.get("members", []))


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- create and read ---------------------------------------------------------------------


def test_create_with_members(scim: ScimClient) -> None:
    alice = user(scim, "alice", displayName="Alice A")
    bob = user(scim, "bob")
    response = scim.post("/Groups", json={
        "schemas": [GROUP], "displayName": "Tour Guides", "externalId": "g-1",
        "members": [{"value": alice, "display": "ignored"}, {"value": bob, "type": "User"}],
    })
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"] == f"{BASE}/Groups/{body['id']}"
    assert response.headers["ETag"] == body["meta"]["version"]
    assert body["meta"]["resourceType"] == "Group"
    assert body["meta"]["location"] == f"{BASE}/Groups/{body['id']}"
    assert body["displayName"] == "Tour Guides"
    assert body["externalId"] == "g-1"
    members = {m["value"]: m for m in body["members"]}
    # members.display is computed (the sent one is ignored) and returned on request only.
    assert members[alice] == {"value": alice, "type": "User", "$ref": f"{BASE}/Users/{alice}"}
    assert scim.get(f"/Groups/{body['id']}").json == body
    asked = scim.get(f"/Groups/{body['id']}?attributes=members").json
    shown = {m["value"]: m for m in asked["members"]}
    assert shown[alice] == {"value": alice, "type": "User", "display": "Alice A",
                            "$ref": f"{BASE}/Users/{alice}"}
    assert shown[bob]["display"] == "bob"


def test_create_without_members(scim: ScimClient) -> None:
    body = group(scim, "Empty")
    assert "members" not in body
    assert scim.get(f"/Groups/{body['id']}").json == body


def test_get_with_and_without_members(scim: ScimClient) -> None:
    alice = user(scim, "alice")
    created = group(scim, "Tour Guides", alice)
    full = scim.get(f"/Groups/{created['id']}").json
    assert [m["value"] for m in full["members"]] == [alice]
    slim = scim.get(f"/Groups/{created['id']}?excludedAttributes=members")
    assert slim.status_code == 200
    assert "members" not in slim.json
    assert slim.json["displayName"] == "Tour Guides"
    assert slim.json["meta"] == full["meta"]
    assert slim.headers["ETag"] == full["meta"]["version"]
    only = scim.get(f"/Groups/{created['id']}?attributes=displayName").json
    assert set(only) == {"schemas", "id", "displayName"}
    listed = scim.get("/Groups?excludedAttributes=members").json
    assert "members" not in listed["Resources"][0]


def test_get_unknown_group_is_404(scim: ScimClient) -> None:
    response = scim.get(f"/Groups/{MISSING}")
    assert response.status_code == 404
    assert response.json["schemas"] == [ERROR]


# --- membership PATCH --------------------------------------------------------------------


def test_membership_patch_answers_204(scim: ScimClient) -> None:
    alice, bob = user(scim, "alice"), user(scim, "bob")
    created = group(scim, "Tour Guides", alice)
    response = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "add", "path": "members", "value": [{"value": bob}]}))
    assert response.status_code == 204
    assert response.data == b""
    after = scim.get(f"/Groups/{created['id']}")
    assert response.headers["ETag"] == after.headers["ETag"]
    assert member_ids(scim, created["id"]) == sorted([alice, bob])

    removed = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "remove", "path": f'members[value eq "{alice}"]'}))
    assert removed.status_code == 204
    assert member_ids(scim, created["id"]) == [bob]


def test_membership_patch_with_attributes_answers_200_with_resource(scim: ScimClient) -> None:
    alice = user(scim, "alice")
    created = group(scim, "Tour Guides")
    response = scim.patch(f"/Groups/{created['id']}?attributes=members,displayName",
                          json=patch_op({"op": "add", "path": "members",
                                         "value": [{"value": alice}]}))
    assert response.status_code == 200
    assert response.json["displayName"] == "Tour Guides"
    assert [m["value"] for m in response.json["members"]] == [alice]
    assert "meta" not in response.json
    excluded = scim.patch(f"/Groups/{created['id']}?excludedAttributes=members",
                          json=patch_op({"op": "replace", "path": "displayName",
                                         "value": "Guides"}))
    assert excluded.status_code == 200
    assert excluded.json["displayName"] == "Guides"
    assert "members" not in excluded.json
    full = scim.get(f"/Groups/{created['id']}")
    assert excluded.json["meta"] == full.json["meta"]
    assert excluded.headers["ETag"] == full.headers["ETag"]


def test_membership_change_bumps_version_and_last_modified(scim: ScimClient,
                                                           db: Database) -> None:
    clock = db.clock = FrozenClock()  # lastModified moves only when told
    alice = user(scim, "alice")
    created = group(scim, "Tour Guides")
    clock.advance(timedelta(seconds=1))
    scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "add", "path": "members", "value": [{"value": alice}]}))
    added = scim.get(f"/Groups/{created['id']}").json
    assert added["meta"]["version"] != created["meta"]["version"]
    assert parse_time(added["meta"]["lastModified"]) > parse_time(created["meta"]["lastModified"])
    assert added["meta"]["created"] == created["meta"]["created"]
    clock.advance(timedelta(seconds=1))
    scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "remove", "path": "members", "value": [{"value": alice}]}))
    removed = scim.get(f"/Groups/{created['id']}").json
    assert removed["meta"]["version"] not in {added["meta"]["version"],
                                              created["meta"]["version"]}
    assert parse_time(removed["meta"]["lastModified"]) > parse_time(added["meta"]["lastModified"])


def test_membership_patch_that_changes_nothing_keeps_the_version(scim: ScimClient,
                                                                 db: Database) -> None:
    alice = user(scim, "alice")
    created = group(scim, "Tour Guides", alice)
    before = snapshot(db)
    again = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "add", "path": "members", "value": [{"value": alice}]}))
    assert again.status_code == 204
    gone = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "remove", "path": f'members[value eq "{MISSING}"]'}))
    assert gone.status_code == 204
    after = scim.get(f"/Groups/{created['id']}").json
    assert after["meta"]["version"] == created["meta"]["version"]
    assert snapshot(db) == before


def test_unknown_member_is_400_and_nothing_is_written(scim: ScimClient, db: Database) -> None:
    alice, bob = user(scim, "alice"), user(scim, "bob")
    created = group(scim, "Tour Guides", alice)
    before = snapshot(db)
    response = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "add", "path": "members", "value": [{"value": bob}, {"value": MISSING}]}))
    assert response.status_code == 400
    assert response.json["schemas"] == [ERROR]
    assert response.json["status"] == "400"
    assert response.json["scimType"] == "invalidValue"
    assert MISSING in response.json["detail"]
    assert snapshot(db) == before
    assert member_ids(scim, created["id"]) == [alice]
    assert scim.get(f"/Groups/{created['id']}").json["meta"] == created["meta"]

    # A rename in the same request is rolled back with the membership change.
    mixed = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "replace", "path": "displayName", "value": "Renamed"},
        {"op": "add", "path": "members", "value": [{"value": MISSING}]}))
    assert mixed.status_code == 400
    assert scim.get(f"/Groups/{created['id']}").json["displayName"] == "Tour Guides"
    assert snapshot(db) == before


def test_create_with_unknown_member_is_400_and_nothing_is_written(scim: ScimClient,
                                                                  db: Database) -> None:
    alice = user(scim, "alice")
    before = snapshot(db)
    response = scim.post("/Groups", json={"displayName": "G",
                                          "members": [{"value": alice}, {"value": MISSING}]})
    assert response.status_code == 400
    assert snapshot(db) == before
    assert scim.get("/Groups").json["totalResults"] == 0


def test_put_sets_members_exactly(scim: ScimClient) -> None:
    alice, bob, carol = user(scim, "alice"), user(scim, "bob"), user(scim, "carol")
    created = group(scim, "Tour Guides", alice, bob)
    response = scim.put(f"/Groups/{created['id']}", json={
        "displayName": "Tour Guides", "members": [{"value": bob}, {"value": carol}]})
    assert response.status_code == 200
    assert sorted(m["value"] for m in response.json["members"]) == sorted([bob, carol])
    assert scim.get(f"/Groups/{created['id']}").json == response.json
    empty = scim.put(f"/Groups/{created['id']}", json={"displayName": "Tour Guides",
                                                        "members": []})
    assert empty.status_code == 200
    assert "members" not in empty.json


def test_replace_members_by_patch(scim: ScimClient) -> None:
    alice, bob = user(scim, "alice"), user(scim, "bob")
    created = group(scim, "Tour Guides", alice)
    response = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "replace", "path": "members", "value": [{"value": bob}]}))
    assert response.status_code == 204
    assert member_ids(scim, created["id"]) == [bob]
    cleared = scim.patch(f"/Groups/{created['id']}", json=patch_op(
        {"op": "remove", "path": "members"}))
    assert cleared.status_code == 204
    assert member_ids(scim, created["id"]) == []


def test_user_lists_its_groups(scim: ScimClient) -> None:
    alice = user(scim, "alice")
    a = group(scim, "A", alice)
    b = group(scim, "B", alice)
    groups = scim.get(f"/Users/{alice}").json["groups"]
    assert [g["value"] for g in groups] == [a["id"], b["id"]]
    assert all(g["type"] == "direct" for g in groups)


# --- nesting -----------------------------------------------------------------------------


def test_nested_groups(scim: ScimClient) -> None:
    alice = user(scim, "alice")
    inner = group(scim, "Inner", alice)
    outer = group(scim, "Outer", inner["id"])
    members = scim.get(f"/Groups/{outer['id']}?attributes=members").json["members"]
    assert members == [{"value": inner["id"], "type": "Group", "display": "Inner",
                        "$ref": f"{BASE}/Groups/{inner['id']}"}]
    found = scim.get(f'/Groups?filter=members.value eq "{inner["id"]}"').json
    assert [r["id"] for r in found["Resources"]] == [outer["id"]]


def test_cycles_are_refused(scim: ScimClient, db: Database) -> None:
    a = group(scim, "A")
    b = group(scim, "B", a["id"])
    c = group(scim, "C", b["id"])
    before = snapshot(db)
    for target, member in ((a, c), (a, a), (b, c)):
        response = scim.patch(f"/Groups/{target['id']}", json=patch_op(
            {"op": "add", "path": "members", "value": [{"value": member["id"]}]}))
        assert response.status_code == 400, (target["displayName"], member["displayName"])
        assert response.json["scimType"] == "invalidValue"
    put = scim.put(f"/Groups/{a['id']}", json={"displayName": "A",
                                                "members": [{"value": c["id"]}]})
    assert put.status_code == 400
    assert snapshot(db) == before
    assert member_ids(scim, a["id"]) == []


def test_deleting_a_nested_group_removes_it_from_its_parents(scim: ScimClient) -> None:
    inner = group(scim, "Inner")
    outer = group(scim, "Outer", inner["id"])
    assert scim.delete(f"/Groups/{inner['id']}").status_code == 204
    after = scim.get(f"/Groups/{outer['id']}").json
    assert "members" not in after
    assert after["meta"]["version"] != outer["meta"]["version"]


# --- uniqueness --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "shouted", "mixed"), [
    ("Tour Guides", "TOUR guides", "tour GUIDES"),
    ("Äda Fans", "äDA FANS", "ÄDA fans"),
    ("Strauß Quartet", "STRAUß QUARTET", "strauß quartet"),
])
def test_display_name_unique_case_insensitively(scim: ScimClient, db: Database, name: str,
                                                shouted: str, mixed: str) -> None:
    group(scim, name)
    other = group(scim, "Other")
    before = snapshot(db)
    response = scim.post("/Groups", json={"displayName": shouted})
    assert response.status_code == 409
    assert response.json["scimType"] == "uniqueness"
    assert response.json["status"] == "409"
    renamed = scim.patch(f"/Groups/{other['id']}", json=patch_op(
        {"op": "replace", "path": "displayName", "value": mixed}))
    assert renamed.status_code == 409
    assert renamed.json["scimType"] == "uniqueness"
    put = scim.put(f"/Groups/{other['id']}", json={"displayName": name})
    assert put.status_code == 409
    assert snapshot(db) == before
    assert scim.get(f"/Groups/{other['id']}").json == other


# --- delete ------------------------------------------------------------------------------


def test_delete_group(scim: ScimClient, db: Database) -> None:
    alice = user(scim, "alice")
    created = group(scim, "Tour Guides", alice)
    response = scim.delete(f"/Groups/{created['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert scim.get(f"/Groups/{created['id']}").status_code == 404
    assert scim.delete(f"/Groups/{created['id']}").status_code == 404
    assert count(db, "memberships") == 0
    assert scim.get(f"/Users/{alice}").status_code == 200
    assert "groups" not in scim.get(f"/Users/{alice}").json
    # The name is free again.
    assert scim.post("/Groups", json={"displayName": "tour guides"}).status_code == 201
