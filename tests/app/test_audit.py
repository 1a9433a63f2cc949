"""The audit log as SCIM writes leave it: one event per change, with who (the token), what, on
what, old → new, the request id and the source address; nothing for a write that changes
nothing; and ``frontdesk audit verify`` catching an edited, a deleted and reordered rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from app.audit import triggers
from app.db import Database
from tests.helpers.audit import event_rows
from tests.helpers.audit import verify
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op

IP = "203.0.113.9"


def last_seq(db: Database) -> int:
    all_events = event_rows(db)
    return int(all_events[-1]["seq"]) if all_events else 0


def token_id(db: Database, name: str = "okta") -> str:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, name FROM api_tokens").all()
    return next(str(r[0]) for r in rows if r[1] == name)


class Caller:
    """A SCIM client that sends a request id and comes from a fixed address."""

    def __init__(self, scim: ScimClient) -> None:
        self.scim = scim
        self.n = 0

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[Any, str]:
        self.n += 1
        request_id = f"req-{self.n:04d}"
        response = self.scim._call(method, path, body,
                                   headers={"X-Request-Id": request_id,
                                            "User-Agent": "Okta SCIM Client 1.0.0"},
                                   environ_base={"REMOTE_ADDR": IP})
        assert response.headers["X-Request-Id"] == request_id
        return response, request_id


@pytest.fixture
def call(scim: ScimClient) -> Caller:
    return Caller(scim)


def only_event(db: Database, after: int, request_id: str) -> dict[str, Any]:
    new = event_rows(db, after)
    assert len(new) == 1, new
    event = new[0]
    assert event["request_id"] == request_id
    assert event["source_ip"] == IP
    assert event["user_agent"] == "Okta SCIM Client 1.0.0"
    assert event["outcome"] == "success"
    return event


def test_user_lifecycle_events(call: Caller, db: Database) -> None:
    actor = token_id(db)
    start = last_seq(db)
    created, rid = call("POST", "/Users", {"userName": "bjensen", "title": "Guide",
                                           "name": {"givenName": "Barbara"}})
    assert created.status_code == 201
    user_id = created.json["id"]
    event = only_event(db, start, rid)
    assert (event["actor_kind"], event["actor_id"], event["actor_label"]) == ("token", actor,
                                                                              "okta")
    assert (event["action"], event["target_kind"], event["target_id"], event["target_label"]) == (
        "user:create", "user", user_id, "bjensen")
    assert event["changes"]["userName"] == [None, "bjensen"]
    assert event["changes"]["title"] == [None, "Guide"]
    assert event["changes"]["name.givenName"] == [None, "Barbara"]
    assert event["changes"]["active"] == [None, True]

    seq = last_seq(db)
    put, rid = call("PUT", f"/Users/{user_id}", {"userName": "bjensen", "title": "Lead",
                                                 "name": {"givenName": "Barbara"}})
    assert put.status_code == 200
    event = only_event(db, seq, rid)
    assert event["action"] == "user:update"
    assert event["actor_id"] == actor
    assert event["target_id"] == user_id
    assert event["changes"] == {"title": ["Guide", "Lead"]}

    seq = last_seq(db)
    patched, rid = call("PATCH", f"/Users/{user_id}", patch_op(
        {"op": "replace", "path": "name.givenName", "value": "Babs"},
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "emails", "value": [{"value": "b@x.com"}]}))
    assert patched.status_code == 200
    event = only_event(db, seq, rid)
    assert event["action"] == "user:update"
    assert event["changes"] == {"name.givenName": ["Barbara", "Babs"], "title": ["Lead", None],
                                "emails": [None, [{"value": "b@x.com"}]]}

    seq = last_seq(db)
    renamed, rid = call("PATCH", f"/Users/{user_id}", patch_op(
        {"op": "replace", "path": "userName", "value": "barbara"}))
    assert renamed.status_code == 200
    event = only_event(db, seq, rid)
    assert event["changes"] == {"userName": ["bjensen", "barbara"]}
    assert event["target_label"] == "barbara"

    seq = last_seq(db)
    off, rid = call("PATCH", f"/Users/{user_id}", patch_op(
        {"op": "replace", "path": "active", "value": False}))
    assert off.status_code == 200
    event = only_event(db, seq, rid)
    assert event["action"] == "user:deactivate"
    assert event["changes"] == {"active": [True, False]}

    seq = last_seq(db)
    on, rid = call("PUT", f"/Users/{user_id}", {**on_body(patched.json, "barbara"),
                                                "active": True})
    assert on.status_code == 200
    event = only_event(db, seq, rid)
    assert event["action"] == "user:reactivate"
    assert event["changes"] == {"active": [False, True]}

    seq = last_seq(db)
    deleted, rid = call("DELETE", f"/Users/{user_id}")
    assert deleted.status_code == 204
    event = only_event(db, seq, rid)
    assert (event["action"], event["target_id"], event["target_label"]) == (
        "user:delete", user_id, "barbara")
    assert event["actor_id"] == actor


def on_body(resource: dict[str, Any], user_name: str) -> dict[str, Any]:
    """A PUT body equal to ``resource`` (minus what the server owns), renamed."""
    body = {k: v for k, v in resource.items() if k not in {"id", "meta", "groups", "schemas"}}
    body["userName"] = user_name
    return body


def test_group_and_membership_events(call: Caller, db: Database, scim: ScimClient) -> None:
    actor = token_id(db)
    alice = scim.post("/Users", json={"userName": "alice"}).json["id"]
    bob = scim.post("/Users", json={"userName": "bob"}).json["id"]
    carol = scim.post("/Users", json={"userName": "carol"}).json["id"]

    seq = last_seq(db)
    created, rid = call("POST", "/Groups", {"displayName": "Guides",
                                            "members": [{"value": alice}, {"value": bob}]})
    assert created.status_code == 201
    group_id = created.json["id"]
    new = event_rows(db, seq)
    assert [e["action"] for e in new] == ["group:create", "group:member:add", "group:member:add"]
    assert all(e["request_id"] == rid and e["source_ip"] == IP and e["actor_id"] == actor
               and e["target_id"] == group_id and e["target_label"] == "Guides" for e in new)
    assert new[0]["changes"] == {"displayName": [None, "Guides"]}
    assert sorted(e["changes"]["member"][1] for e in new[1:]) == sorted([alice, bob])
    assert all(e["changes"]["member"][0] is None for e in new[1:])
    # Each event names its member (userName) beside the id.
    assert sorted(tuple(e["changes"]["memberName"]) for e in new[1:]) == [
        (None, "alice"), (None, "bob")]

    seq = last_seq(db)
    added, rid = call("PATCH", f"/Groups/{group_id}", patch_op(
        {"op": "add", "path": "members", "value": [{"value": carol}]}))
    assert added.status_code == 204
    event = only_event(db, seq, rid)
    assert (event["action"], event["target_id"], event["changes"]) == (
        "group:member:add", group_id, {"member": [None, carol], "memberName": [None, "carol"]})

    seq = last_seq(db)
    removed, rid = call("PATCH", f"/Groups/{group_id}", patch_op(
        {"op": "remove", "path": f'members[value eq "{alice}"]'}))
    assert removed.status_code == 204
    event = only_event(db, seq, rid)
    assert (event["action"], event["changes"]) == (
        "group:member:remove", {"member": [alice, None], "memberName": ["alice", None]})

    seq = last_seq(db)
    replaced, rid = call("PATCH", f"/Groups/{group_id}", patch_op(
        {"op": "replace", "path": "members", "value": [{"value": bob}, {"value": alice}]}))
    assert replaced.status_code == 204
    new = event_rows(db, seq)
    assert sorted((e["action"], json.dumps(e["changes"])) for e in new) == sorted([
        ("group:member:add", json.dumps({"member": [None, alice],
                                         "memberName": [None, "alice"]})),
        ("group:member:remove", json.dumps({"member": [carol, None],
                                            "memberName": ["carol", None]})),
    ])
    assert {e["request_id"] for e in new} == {rid}

    seq = last_seq(db)
    renamed, rid = call("PATCH", f"/Groups/{group_id}", patch_op(
        {"op": "replace", "path": "displayName", "value": "Tour Guides"}))
    assert renamed.status_code == 204
    event = only_event(db, seq, rid)
    assert (event["action"], event["changes"]) == (
        "group:update", {"displayName": ["Guides", "Tour Guides"]})

    seq = last_seq(db)
    deleted, rid = call("DELETE", f"/Groups/{group_id}")
    assert deleted.status_code == 204
    new = event_rows(db, seq)
    assert [e["action"] for e in new if e["action"] == "group:delete"] == ["group:delete"]
    assert all(e["request_id"] == rid for e in new)
    delete_event = next(e for e in new if e["action"] == "group:delete")
    assert (delete_event["target_id"], delete_event["target_label"]) == (group_id, "Tour Guides")


def test_deleting_a_member_user_is_one_event(call: Caller, db: Database, scim: ScimClient
                                             ) -> None:
    alice = scim.post("/Users", json={"userName": "alice"}).json["id"]
    group_id = scim.post("/Groups", json={"displayName": "G",
                                          "members": [{"value": alice}]}).json["id"]
    seq = last_seq(db)
    response, rid = call("DELETE", f"/Users/{alice}")
    assert response.status_code == 204
    event = only_event(db, seq, rid)
    assert event["action"] == "user:delete"
    assert event["changes"]["groups"] == [[group_id], None]


def test_generated_request_id_is_echoed_and_recorded(scim: ScimClient, db: Database) -> None:
    response = scim.post("/Users", json={"userName": "nobody-sent-an-id"})
    generated = response.headers["X-Request-Id"]
    assert generated
    assert event_rows(db)[-1]["request_id"] == generated
    bad = scim.post("/Users", json={"userName": "bad-id"},
                    headers={"X-Request-Id": "not valid; <script>"})
    assert bad.headers["X-Request-Id"] != "not valid; <script>"
    assert event_rows(db)[-1]["request_id"] == bad.headers["X-Request-Id"]


def test_failed_writes_leave_no_event(scim: ScimClient, db: Database) -> None:
    scim.post("/Users", json={"userName": "taken"})
    before = event_rows(db)
    assert scim.post("/Users", json={"userName": "TAKEN"}).status_code == 409
    assert scim.post("/Groups", json={"displayName": "G", "members": [
        {"value": "00000000-0000-0000-0000-000000000000"}]}).status_code == 400
    assert event_rows(db) == before


# --- no-op writes ------------------------------------------------------------------------


def test_writes_that_change_nothing_record_nothing(scim: ScimClient, db: Database) -> None:
    body = {"userName": "bjensen", "title": "Guide", "name": {"givenName": "B"},
            "emails": [{"value": "b@x.com", "type": "work"}]}
    user = scim.post("/Users", json=body).json
    path = f"/Users/{user['id']}"
    alice = scim.post("/Users", json={"userName": "alice"}).json["id"]
    group = scim.post("/Groups", json={"displayName": "G", "members": [{"value": alice}]}).json
    group_path = f"/Groups/{group['id']}"
    before = event_rows(db)
    same = [
        scim.put(path, json=body),
        scim.put(path, json={**body, "active": True}),
        scim.patch(path, json=patch_op({"op": "replace", "path": "title", "value": "Guide"})),
        scim.patch(path, json=patch_op({"op": "add", "value": {"name": {"givenName": "B"}}})),
        scim.patch(path, json=patch_op({"op": "remove", "path": "nickName"})),
        scim.patch(path, json=patch_op({"op": "replace", "path": "active", "value": True})),
        scim.patch(path, json=patch_op({"op": "add", "path": "emails",
                                        "value": [{"value": "b@x.com", "type": "work"}]})),
    ]
    for response in same:
        assert response.status_code == 200, response.json
        assert response.json["meta"]["version"] == user["meta"]["version"]
        assert response.json["meta"]["lastModified"] == user["meta"]["lastModified"]
        assert response.headers["ETag"] == user["meta"]["version"]
    group_same = [
        scim.patch(group_path, json=patch_op({"op": "add", "path": "members",
                                              "value": [{"value": alice}]})),
        scim.patch(group_path, json=patch_op({"op": "replace", "path": "displayName",
                                              "value": "G"})),
        scim.patch(group_path, json=patch_op({"op": "replace", "path": "members",
                                              "value": [{"value": alice}]})),
        scim.put(group_path, json={"displayName": "G", "members": [{"value": alice}]}),
        scim.put(group_path, json={"displayName": "G"}),
    ]
    for response in group_same:
        assert response.status_code in {200, 204}
        assert response.headers["ETag"] == group["meta"]["version"]
    assert event_rows(db) == before
    assert scim.get(path).json["meta"] == user["meta"]
    assert scim.get(group_path).json["meta"] == group["meta"]


# --- verify ------------------------------------------------------------------------------


def tamper(db: Database, *statements: str) -> None:
    """Change audit rows as someone with database access would: lift the guard, edit, restore."""
    with db.engine.begin() as conn:
        triggers.remove(conn.exec_driver_sql, db.dialect)
        for statement in statements:
            conn.exec_driver_sql(statement)
        triggers.install(conn.exec_driver_sql, db.dialect)


@pytest.fixture
def chain(scim: ScimClient, db: Database, runner: CliRunner) -> Database:
    for name in ("a", "b", "c", "d", "e"):
        assert scim.post("/Users", json={"userName": name}).status_code == 201
    code, output = verify(runner)
    assert code == 0, output
    assert "ok" in output and "6 events" in output  # the token, then five users
    return db


def test_verify_catches_an_edited_row(chain: Database, runner: CliRunner) -> None:
    tamper(chain, "UPDATE audit_events SET target_label = 'mallory' WHERE seq = 3")
    code, output = verify(runner)
    assert code != 0
    assert "#3" in output


def test_verify_catches_an_edited_change(chain: Database, runner: CliRunner) -> None:
    tamper(chain, "UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 4")
    code, output = verify(runner)
    assert code != 0
    assert "#4" in output


def test_verify_catches_a_deleted_row(chain: Database, runner: CliRunner) -> None:
    tamper(chain, "DELETE FROM audit_events WHERE seq = 2")
    code, output = verify(runner)
    assert code != 0
    assert "#2" in output


def test_verify_catches_reordered_rows(chain: Database, runner: CliRunner) -> None:
    tamper(chain,
           "UPDATE audit_events SET seq = 1000 WHERE seq = 2",
           "UPDATE audit_events SET seq = 2 WHERE seq = 3",
           "UPDATE audit_events SET seq = 3 WHERE seq = 1000")
    code, output = verify(runner)
    assert code != 0
    assert "#2" in output


def test_verify_is_ok_again_after_more_writes(chain: Database, runner: CliRunner,
                                              scim: ScimClient) -> None:
    assert scim.post("/Groups", json={"displayName": "More"}).status_code == 201
    code, output = verify(runner)
    assert code == 0
    assert "7 events" in output
