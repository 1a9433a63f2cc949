"""Races against real gunicorn (two worker processes): no lost writes, no duplicate users, and an
audit chain that stays whole."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from click.testing import CliRunner

from app.db import Database
from tests.helpers.audit import verify
from tests.helpers.clients import patch_op
from tests.helpers.reads import rows
from tests.helpers.servers import LiveServer

SCIM = "application/scim+json"


def client(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/scim/v2", timeout=60,
                        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM,
                                 "Accept": SCIM})


def parallel(n: int, fn: Any, *args_list: Any) -> list[Any]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, *args_list))


def test_parallel_member_adds_to_one_group(live_server: LiveServer, token: str, db: Database,
                                           runner: CliRunner) -> None:
    with client(live_server, token) as http:
        users = [http.post("/Users", json={"userName": f"user{i:02d}"}) for i in range(50)]
        assert {u.status_code for u in users} == {201}
        group = http.post("/Groups", json={"displayName": "Crowd"})
        assert group.status_code == 201
        group_id = group.json()["id"]

    def add(user_id: str) -> int:
        with client(live_server, token) as own:
            response = own.patch(f"/Groups/{group_id}", json=patch_op(
                {"op": "add", "path": "members", "value": [{"value": user_id}]}))
            return response.status_code

    statuses = parallel(25, add, [u.json()["id"] for u in users])
    assert statuses == [204] * 50

    with client(live_server, token) as http:
        body = http.get(f"/Groups/{group_id}").json()
        assert sorted(m["value"] for m in body["members"]) == sorted(u.json()["id"] for u in users)
        assert body["meta"]["version"] == 'W/"51"'
        found = http.get("/Users", params={"filter": f'groups.value eq "{group_id}"'}).json()
        assert found["totalResults"] == 50
    events = rows(db, "SELECT action, target_id FROM audit_events WHERE action = "
                      "'group:member:add'")
    assert len(events) == 50
    assert {target for _, target in events} == {group_id}
    code, output = verify(runner)
    assert code == 0, output
    assert int(rows(db, "SELECT count(*) FROM memberships")[0][0]) == 50


def test_parallel_creates_of_one_name(live_server: LiveServer, token: str, db: Database,
                                           runner: CliRunner) -> None:
    for attempt in range(5):
        names = [f"Racer{attempt}@Example.com", f"racer{attempt}@example.COM"]

        def create(name: str) -> httpx.Response:
            with client(live_server, token) as own:
                return own.post("/Users", json={"userName": name})

        responses = parallel(2, create, names)
        assert sorted(r.status_code for r in responses) == [201, 409], [
            r.text for r in responses]
        conflict = next(r for r in responses if r.status_code == 409)
        assert conflict.json()["scimType"] == "uniqueness"
        assert conflict.headers["content-type"].startswith(SCIM)
    assert int(rows(db, "SELECT count(*) FROM users")[0][0]) == 5
    for attempt in range(3):
        def create_group(name: str) -> httpx.Response:
            with client(live_server, token) as own:
                return own.post("/Groups", json={"displayName": name})

        responses = parallel(2, create_group, [f"Team {attempt}", f"TEAM {attempt}"])
        assert sorted(r.status_code for r in responses) == [201, 409], [
            r.text for r in responses]
    assert int(rows(db, "SELECT count(*) FROM groups")[0][0]) == 3
    actions = Counter(a for (a,) in rows(db, "SELECT action FROM audit_events"))
    assert actions["user:create"] == 5
    assert actions["group:create"] == 3
    code, output = verify(runner)
    assert code == 0, output


def test_parallel_patches_to_one_user_lose_nothing(live_server: LiveServer, token: str,
                                                   db: Database, runner: CliRunner) -> None:
    with client(live_server, token) as http:
        created = http.post("/Users", json={"userName": "busy"})
        assert created.status_code == 201
        user_id = created.json()["id"]

    def add_email(i: int) -> int:
        with client(live_server, token) as own:
            response = own.patch(f"/Users/{user_id}", json=patch_op(
                {"op": "add", "path": "emails",
                 "value": [{"value": f"busy{i:02d}@example.com", "type": "other"}]}))
            return response.status_code

    def set_field(i: int) -> int:
        field = ["title", "nickName", "profileUrl", "locale", "timezone", "userType"][i % 6]
        with client(live_server, token) as own:
            response = own.patch(f"/Users/{user_id}", json=patch_op(
                {"op": "replace", "path": field, "value": f"v{i}"}))
            return response.status_code

    assert parallel(20, add_email, range(30)) == [200] * 30
    assert parallel(6, set_field, range(6)) == [200] * 6
    with client(live_server, token) as http:
        user = http.get(f"/Users/{user_id}").json()
    assert sorted(e["value"] for e in user["emails"]) == [
        f"busy{i:02d}@example.com" for i in range(30)]
    for i, field in enumerate(["title", "nickName", "profileUrl", "locale", "timezone",
                               "userType"]):
        assert user[field] == f"v{i}"
    assert user["meta"]["version"] == 'W/"37"'
    updates = rows(db, "SELECT count(*) FROM audit_events WHERE action = 'user:update'")
    assert int(updates[0][0]) == 36
    with client(live_server, token) as http:
        found = http.get("/Users", params={"filter": 'emails.value eq "busy29@example.com"'})
        assert found.json()["totalResults"] == 1
    code, output = verify(runner)
    assert code == 0, output


def test_adding_a_member_while_it_is_deleted_leaves_no_dangling_membership(
        live_server: LiveServer, token: str, db: Database, runner: CliRunner) -> None:
    with client(live_server, token) as http:
        groups = [http.post("/Groups", json={"displayName": f"G{i}"}).json()["id"]
                  for i in range(4)]
        users = [http.post("/Users", json={"userName": f"doomed{i:02d}"}).json()["id"]
                 for i in range(20)]

    def add(args: tuple[str, str]) -> int:
        group_id, user_id = args
        with client(live_server, token) as own:
            return own.patch(f"/Groups/{group_id}", json=patch_op(
                {"op": "add", "path": "members", "value": [{"value": user_id}]})).status_code

    def delete(user_id: str) -> int:
        with client(live_server, token) as own:
            return own.delete(f"/Users/{user_id}").status_code

    def race(user_id: str) -> list[int]:
        with ThreadPoolExecutor(max_workers=5) as pool:
            adds = [pool.submit(add, (g, user_id)) for g in groups]
            gone = pool.submit(delete, user_id)
            return [f.result() for f in adds] + [gone.result()]

    outcomes = parallel(4, race, users)
    for statuses in outcomes:
        assert statuses[-1] == 204
        assert set(statuses[:-1]) <= {204, 400}
    dangling = rows(db, "SELECT m.group_id, m.member_id FROM memberships m "
                        "LEFT JOIN users u ON u.id = m.member_id WHERE u.id IS NULL")
    assert dangling == []
    with client(live_server, token) as http:
        for group_id in groups:
            assert "members" not in http.get(f"/Groups/{group_id}").json()
    code, output = verify(runner)
    assert code == 0, output


def test_reciprocal_nesting_at_once_never_makes_a_cycle(live_server: LiveServer, token: str,
                                                        db: Database) -> None:
    with client(live_server, token) as http:
        pairs = [(http.post("/Groups", json={"displayName": f"A{i}"}).json()["id"],
                  http.post("/Groups", json={"displayName": f"B{i}"}).json()["id"])
                 for i in range(12)]

    def nest(args: tuple[str, str]) -> httpx.Response:
        parent, child = args
        with client(live_server, token) as own:
            return own.patch(f"/Groups/{parent}", json=patch_op(
                {"op": "add", "path": "members", "value": [{"value": child}]}))

    jobs = [job for a, b in pairs for job in ((a, b), (b, a))]
    responses = parallel(8, nest, jobs)
    for response in responses:
        assert response.status_code in {204, 400}, response.text
        if response.status_code == 400:
            assert response.json()["scimType"] == "invalidValue"
    edges = {(str(g), str(m)) for g, m in rows(db, "SELECT group_id, member_id FROM memberships")}
    for a, b in pairs:
        assert not {(a, b), (b, a)} <= edges, "a cycle was created"
        assert {(a, b), (b, a)} & edges, "neither nesting was applied"
