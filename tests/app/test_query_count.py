"""What a request costs in SQL statements: lists and searches a fixed number whatever the data
and page size, a membership change the same for a 10- and a 2 000-member group, and a group read
without members never touches ``memberships``.

Statements are counted with a ``before_cursor_execute`` listener on the app's engine (the write
sessions' engine shares its events).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event  # noqa: TID251 - counting statements needs the engine's events

from app import services
from app.audit.events import Actor
from app.db import Database
from app.models import User
from app.uow import UnitOfWork
from tests.helpers.audit import event_rows
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SETUP = Actor("test", "setup", "setup")


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Collect the SQL text of every statement sent while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def cost(db: Database, request: Any) -> list[str]:
    """The statements one request issues (the token's last-used stamp is written beforehand)."""
    with statements(db) as seen:
        response = request()
    assert response.status_code < 300, response.get_data(as_text=True)
    return seen


def _real(seen: list[str]) -> list[str]:
    """Statements that do work (SQLite's BEGIN is sent as a statement; PostgreSQL's is not)."""
    return [s for s in seen if s.upper() not in {"BEGIN", "BEGIN IMMEDIATE", "COMMIT",
                                                 "ROLLBACK"}]


def bulk_users(db: Database, prefix: str, n: int, groups: int = 0) -> list[str]:
    """Create ``n`` users through the service layer (fast setup, same write path)."""
    ids = []
    with UnitOfWork(db) as uow:
        for i in range(n):
            user = services.create_user(uow, {
                "userName": f"{prefix}{i:04d}",
                "name": {"givenName": "G", "familyName": f"F{i}"},
                "emails": [{"value": f"{prefix}{i}@example.com", "type": "work"},
                           {"value": f"{prefix}{i}@home.example", "type": "home"}],
            }, actor=SETUP)  # each call commits its own transaction
            ids.append(user.id)
    for g in range(groups):
        with UnitOfWork(db) as uow:
            services.create_group(uow, {"displayName": f"{prefix}-group-{g}"}, tuple(ids),
                                  actor=SETUP)
    return ids


def _lists(scim: ScimClient, count: int) -> dict[str, Any]:
    return {
        "users": lambda: scim.get(f"/Users?count={count}"),
        "users sorted": lambda: scim.get(f"/Users?count={count}&sortBy=emails.value"
                                         "&sortOrder=descending"),
        "users filtered": lambda: scim.get(
            f"/Users?count={count}&filter=" + 'emails[type eq "work"] and name.familyName pr'),
        "users without groups": lambda: scim.get(f"/Users?count={count}"
                                                 "&excludedAttributes=groups"),
        "groups": lambda: scim.get(f"/Groups?count={count}"),
        "groups without members": lambda: scim.get(f"/Groups?count={count}"
                                                   "&excludedAttributes=members"),
        "users search": lambda: scim.post("/Users/.search", json={
            "schemas": [SEARCH], "count": count, "filter": "userName pr"}),
        "root search": lambda: scim.post("/.search", json={"schemas": [SEARCH],
                                                           "count": count}),
    }


def measure(db: Database, scim: ScimClient, count: int) -> dict[str, int]:
    scim.get("/Users")  # the token's last-used stamp, once a minute, is not the list's cost
    return {name: len(_real(cost(db, call))) for name, call in _lists(scim, count).items()}


def test_list_cost_does_not_grow_with_data(scim: ScimClient, db: Database) -> None:
    bulk_users(db, "small", 5, groups=2)
    small = measure(db, scim, 100)
    bulk_users(db, "large", 55, groups=3)
    large = measure(db, scim, 100)
    assert large == small
    assert max(small.values()) <= 8, small


def test_list_cost_does_not_grow_with_page_size(scim: ScimClient, db: Database) -> None:
    bulk_users(db, "u", 60, groups=4)
    # Full pages of 10 and of 50 rows: the same statements, whatever the page holds.
    ten = measure(db, scim, 10)
    fifty = measure(db, scim, 50)
    assert ten == fifty
    assert max(ten.values()) <= 8, ten


def test_a_list_without_groups_never_reads_memberships(scim: ScimClient, db: Database) -> None:
    bulk_users(db, "u", 5, groups=1)
    scim.get("/Users")
    seen = cost(db, lambda: scim.get("/Users?excludedAttributes=groups"))
    assert not [s for s in seen if "memberships" in s.lower()]
    seen = cost(db, lambda: scim.get("/Users?attributes=userName"))
    assert not [s for s in seen if "memberships" in s.lower()]


def test_a_user_name_lookup_is_the_token_check_and_one_statement(scim: ScimClient,
                                                                 db: Database) -> None:
    """The IdPs' hottest request (before every create): the user and their groups come in one
    statement, whatever the filter's value; only the token check runs beside it."""
    ids = bulk_users(db, "u", 3, groups=2)
    scim.get("/Users")
    for i in range(3):
        seen = _real(cost(db, lambda i=i: scim.get(f'/Users?filter=userName eq "u{i:04d}"')))
        assert len(seen) == 2, seen
        assert "api_tokens" in seen[0]
    body = scim.get('/Users?filter=userName eq "U0002"').json
    assert [r["id"] for r in body["Resources"]] == [ids[2]]
    assert [g["display"] for g in body["Resources"][0]["groups"]] == ["u-group-0", "u-group-1"]


_FROM_MEMBERSHIPS = re.compile(r"\bfrom\s+memberships\b", re.IGNORECASE)


def _reads_members_by_group(statement: str) -> bool:
    """Whether ``statement`` reads memberships without naming the member(s) it wants."""
    lowered = statement.lower()
    if not lowered.startswith("select") and " select " not in lowered:
        return False
    if not _FROM_MEMBERSHIPS.search(statement):
        return False
    where = lowered.split(" where ", 1)[1] if " where " in lowered else ""
    return "member_id" not in where


def many_users(db: Database, n: int) -> list[str]:
    """Insert ``n`` plain users in one transaction (setup only: no audit events needed)."""
    with UnitOfWork(db) as uow:
        users = [User(user_name=f"many{i:05d}", user_name_key=f"many{i:05d}",
                      doc={"userName": f"many{i:05d}", "active": True}, active=True)
                 for i in range(n)]
        uow.session.add_all(users)
        uow.commit()
        return [u.id for u in users]


def test_adding_one_member_costs_the_same_for_any_group_size(scim: ScimClient, db: Database
                                                             ) -> None:
    members = many_users(db, 2000)
    small = scim.post("/Groups", json={"displayName": "Small",
                                       "members": [{"value": m} for m in members[:10]]})
    large = scim.post("/Groups", json={"displayName": "Large",
                                       "members": [{"value": m} for m in members]})
    assert small.status_code == large.status_code == 201
    newcomer_a, newcomer_b = bulk_users(db, "new", 2)
    scim.get("/Users?count=1")

    def add(group_id: str, user_id: str) -> Any:
        return lambda: scim.patch(f"/Groups/{group_id}", json=patch_op(
            {"op": "add", "path": "members", "value": [{"value": user_id}]}))

    def remove(group_id: str, user_id: str) -> Any:
        return lambda: scim.patch(f"/Groups/{group_id}", json=patch_op(
            {"op": "remove", "path": f'members[value eq "{user_id}"]'}))

    for make in (add, remove):
        for_small = cost(db, make(small.json["id"], newcomer_a))
        for_large = cost(db, make(large.json["id"], newcomer_b))
        assert len(for_small) == len(for_large), (for_small, for_large)
        for statement in for_small + for_large:
            assert not _reads_members_by_group(statement), statement
    # A nested group: the cycle check walks up through parents by member id only.
    parent = scim.post("/Groups", json={"displayName": "Parent",
                                        "members": [{"value": large.json["id"]}]})
    assert parent.status_code == 201
    nested = cost(db, add(large.json["id"], small.json["id"]))
    assert not [s for s in nested if _reads_members_by_group(s)], nested
    assert len(scim.get(f"/Groups/{large.json['id']}").json["members"]) == 2001


def test_group_read_without_members_never_touches_memberships(scim: ScimClient, db: Database
                                                              ) -> None:
    members = bulk_users(db, "m", 20)
    created = scim.post("/Groups", json={"displayName": "G",
                                         "members": [{"value": m} for m in members]})
    group_id = created.json["id"]
    scim.get("/Users?count=1")
    for request in (
        lambda: scim.get(f"/Groups/{group_id}?excludedAttributes=members"),
        lambda: scim.get(f"/Groups/{group_id}?attributes=displayName"),
        lambda: scim.get("/Groups?excludedAttributes=members"),
        lambda: scim.get("/Groups?filter=displayName eq \"G\"&excludedAttributes=members"),
    ):
        seen = cost(db, request)
        assert not [s for s in seen if "memberships" in s.lower()], seen
    with_members = cost(db, lambda: scim.get(f"/Groups/{group_id}"))
    assert len([s for s in with_members if "memberships" in s.lower()]) == 1


def last_seq(db: Database) -> int:
    return max((e["seq"] for e in event_rows(db)), default=0)


def _looks_up_member_names(statement: str) -> bool:
    """The one statement that fetches members' userNames/displayNames by id for the events."""
    low = statement.lower()
    return "users.user_name" in low and "groups.display_name" in low and "union all" in low


@pytest.mark.parametrize("shape", ["one operation", "an operation each"])
def test_membership_events_name_100_members_with_one_lookup(scim: ScimClient, db: Database,
                                                            shape: str) -> None:
    people = bulk_users(db, "Äda Strauß ", 100)
    names = {i: f"Äda Strauß {n:04d}" for n, i in enumerate(people)}
    sub = scim.post("/Groups", json={"displayName": "Straße"}).json["id"]
    group_id = scim.post("/Groups", json={"displayName": "Größe"}).json["id"]
    scim.get("/Users?count=1")
    values = [{"value": i} for i in [*people, sub]]
    ops = ([{"op": "add", "path": "members", "value": values}] if shape == "one operation"
           else [{"op": "add", "path": "members", "value": [v]} for v in values])
    seq = last_seq(db)
    seen = cost(db, lambda: scim.patch(f"/Groups/{group_id}", json=patch_op(*ops)))
    assert len([s for s in seen if _looks_up_member_names(s)]) == 1
    added = event_rows(db, seq)
    assert len(added) == 101
    assert {e["changes"]["member"][1]: e["changes"]["memberName"][1] for e in added} == {
        **names, sub: "Straße"}

    seq = last_seq(db)
    removals = [{"op": "remove", "path": f'members[value eq "{i}"]'} for i in people]
    seen = cost(db, lambda: scim.patch(f"/Groups/{group_id}", json=patch_op(*removals)))
    assert len([s for s in seen if _looks_up_member_names(s)]) == 1
    assert {e["changes"]["member"][0]: e["changes"]["memberName"][0]
            for e in event_rows(db, seq)} == names
