"""Grants beside an IdP that pushes groups by SCIM: the IdP's full push, its empty "Push now",
Entra's replace and its removals rewrite only the standing memberships the IdP owns. Grants are
separate rows: the IdP never sees them, never removes them, and a grant hides nothing it pushed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from app.access import service
from app.access.principal import Principal
from app.access.queries import effective_memberships
from app.audit.events import Actor
from app.clock import FrozenClock
from app.db import Database
from app.uow import UnitOfWork
from app.web.context import get_access_config
from tests.access.conftest import Cast
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op


def grant_to(app: Flask, db: Database, user_id: str, name: str) -> None:
    """Give ``user_id`` a one-hour grant of prod-db-readers (they are on call: auto-approved)."""
    who = Principal(Actor("user", user_id, name), "session", user_id, name)
    with UnitOfWork(db) as uow:
        request, decision = service.request_access(
            uow, get_access_config(app), who,
            service.Ask(group="prod-db-readers", duration=timedelta(hours=1), reason="on call",
                        ticket="INC-9"))
    assert decision.outcome == "auto_approved"


def sources(db: Database, user_id: str, clock: FrozenClock) -> list[tuple[str, str]]:
    with db.read_session() as session:
        return [(m.group, m.source) for m in effective_memberships(session, user_id,
                                                                   clock.now())
                if m.group == "prod-db-readers"]


def members_seen_by_idp(scim: ScimClient, group_id: str) -> list[str]:
    body: dict[str, Any] = scim.get(f"/Groups/{group_id}").get_json()
    return sorted(m["value"] for m in body.get("members", []))


def test_okta_full_push_and_empty_push_now_leave_a_grant_alone(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock, scim: ScimClient) -> None:
    grant_to(app, db, cast.dee, "dee")
    # The IdP sees only what it pushed: the grant holder is not a member to it.
    assert members_seen_by_idp(scim, cast.readers) == []
    # Okta full push: replace members with its own list (ada).
    pushed = scim.patch(f"/Groups/{cast.readers}", patch_op(
        {"op": "replace", "path": "members", "value": [{"value": cast.ada}]}))
    assert pushed.status_code == 204
    assert members_seen_by_idp(scim, cast.readers) == [cast.ada]
    assert sources(db, cast.dee, clock) == [("prod-db-readers", "grant")]
    # dee is also pushed by the IdP: both reasons count, the IdP sees its own.
    scim.patch(f"/Groups/{cast.readers}", patch_op(
        {"op": "add", "path": "members", "value": [{"value": cast.dee}]}))
    assert sources(db, cast.dee, clock) == [("prod-db-readers", "grant"),
                                            ("prod-db-readers", "scim")]
    # "Push now" on an empty group: replace members []. The IdP's rows go; the grant stays.
    emptied = scim.patch(f"/Groups/{cast.readers}", patch_op(
        {"op": "replace", "path": "members", "value": []}))
    assert emptied.status_code == 204
    assert members_seen_by_idp(scim, cast.readers) == []
    assert sources(db, cast.dee, clock) == [("prod-db-readers", "grant")]
    # AIW apps PUT the whole group: same rule.
    put = scim.put(f"/Groups/{cast.readers}", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "prod-db-readers", "members": [{"value": cast.ada}]})
    assert put.status_code == 200
    assert sources(db, cast.dee, clock) == [("prod-db-readers", "grant")]
    # The grant ending takes nothing the IdP pushed: ada stays.
    clock.advance(timedelta(hours=1))
    assert sources(db, cast.dee, clock) == []
    assert members_seen_by_idp(scim, cast.readers) == [cast.ada]
    assert sources(db, cast.ada, clock) == [("prod-db-readers", "scim")]


def test_entra_replace_and_remove_leave_a_grant_alone(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock, scim: ScimClient) -> None:
    scim.patch(f"/Groups/{cast.readers}", patch_op(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": cast.dee}]}))
    grant_to(app, db, cast.dee, "dee")
    # Entra removes the member it added: the grant still counts.
    removed = scim.patch(f"/Groups/{cast.readers}", patch_op(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": cast.dee}]}))
    assert removed.status_code == 204
    assert sources(db, cast.dee, clock) == [("prod-db-readers", "grant")]
    # Entra's Replace with a partial list.
    replaced = scim.patch(f"/Groups/{cast.readers}", patch_op(
        {"op": "Replace", "path": "members", "value": [{"value": cast.ada}]}))
    assert replaced.status_code == 204
    assert sources(db, cast.dee, clock) == [("prod-db-readers", "grant")]
    # The user's SCIM groups are the IdP's view too: no grant in them.
    user = scim.get(f"/Users/{cast.dee}").get_json()
    assert "prod-db-readers" not in [g["display"] for g in user.get("groups", [])]
