"""Activity, recorded through the public doors: a SAML sign-in, a personal token's use, an
access request and an approval count; an IdP's SCIM write and a refused sign-in never do. A
write is at most once a minute per user, and never moves the SCIM version (the IdP's ETag)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

import config
from app.clock import FrozenClock
from app.db import Database
from app.web.context import get_db
from tests.helpers.access import AccessClient
from tests.helpers.access import app_token
from tests.helpers.access import make_group
from tests.helpers.access import personal_token
from tests.helpers.access import with_access
from tests.helpers.clients import BASE_URL
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.lifecycle import make_user
from tests.helpers.lifecycle import user
from tests.helpers.pages import sign_in
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import reason_of
from tests.helpers.saml import sp_login


def test_a_saml_sign_in_is_activity_a_refused_one_is_not(client: FlaskClient, db: Database,
                                                         clock: FrozenClock, idp: DemoIdP
                                                         ) -> None:
    ada = make_user(db, "äda@example.com", source="jit")
    assert user(db, ada).last_activity_at is None  # never signed in: counts from creation
    clock.advance(timedelta(days=3))
    response = sp_login(client, idp, "äda@example.com", okta_attributes("äda@example.com"))
    assert response.status_code == 303, response.get_data(as_text=True)
    row = user(db, ada)
    assert (row.last_activity_at, row.last_activity_kind) == (clock.now(), "sign_in")

    strauss = make_user(db, "Strauß@example.com", source="jit", active=False)
    clock.advance(timedelta(days=1))
    refused = sp_login(client, idp, "Strauß@example.com", okta_attributes("Strauß@example.com"))
    assert (refused.status_code, reason_of(refused)) == (403, "inactive")
    assert (user(db, strauss).last_activity_at, user(db, strauss).last_activity_kind) == (
        None, None)


def test_a_personal_tokens_use_is_activity_once_a_minute(client: FlaskClient, db: Database,
                                                         clock: FrozenClock) -> None:
    ada = make_user(db, "äda@example.com")
    api = AccessClient(client, personal_token(db, "äda@example.com"))
    version = user(db, ada).version
    assert api.get("/memberships").status_code == 200
    first = clock.now()
    assert (user(db, ada).last_activity_at, user(db, ada).last_activity_kind) == (first, "token")
    clock.advance(timedelta(seconds=59))
    assert api.get("/memberships").status_code == 200
    assert user(db, ada).last_activity_at == first  # within the minute: no write
    clock.advance(timedelta(seconds=1))
    assert api.get("/memberships").status_code == 200
    assert user(db, ada).last_activity_at == clock.now()
    assert user(db, ada).version == version  # the IdP's ETag does not move

    # A service token (bound to nobody) reading about äda is not her activity.
    reader = AccessClient(client, app_token(db))
    clock.advance(timedelta(minutes=5))
    assert reader.get("/memberships", user="äda@example.com").status_code == 200
    assert user(db, ada).last_activity_at == clock.now() - timedelta(minutes=5)


def test_an_idps_scim_write_is_never_activity(db: Database, scim: ScimClient,
                                              clock: FrozenClock) -> None:
    created = scim.post("/Users", {"userName": "Strauß@example.com", "active": True})
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    clock.advance(timedelta(days=2))
    patched = scim.patch(f"/Users/{user_id}", patch_op(
        {"op": "replace", "value": {"displayName": "Johann Strauß", "active": True}}))
    assert patched.status_code == 200, patched.get_json()
    put = scim.put(f"/Users/{user_id}", {"userName": "Strauß@example.com", "active": True,
                                         "displayName": "J. Strauß"})
    assert put.status_code == 200, put.get_json()
    assert (user(db, user_id).last_activity_at, user(db, user_id).last_activity_kind) == (
        None, None)


def test_an_access_request_and_an_approval_are_activity(
        make_app: Callable[..., Flask], settings: config.Settings, clock: FrozenClock,
        app: Flask) -> None:
    access_app = make_app(with_access(settings))
    db = get_db(access_app)
    db.clock = clock
    ada = make_user(db, "äda@example.com")
    bob = make_user(db, "bob@example.com")
    make_group(db, "engineering", (ada,))
    make_group(db, "sre-leads", (bob,))
    make_group(db, "prod-db-readers")
    requester = sign_in(access_app.test_client(), ada, base_url=BASE_URL)
    created = requester.post("/api/access/requests", json={
        "group": "prod-db-readers", "duration": "PT1H", "reason": "INC-7", "ticket": "INC-7"},
        headers={"X-CSRF-Token": requester.csrf})  # type: ignore[attr-defined]
    assert created.status_code == 201, created.get_json()
    assert (user(db, ada).last_activity_at, user(db, ada).last_activity_kind) == (
        clock.now(), "access_request")
    assert user(db, bob).last_activity_at is None

    clock.advance(timedelta(minutes=30))  # within the request's pending time (1h)
    approver = sign_in(access_app.test_client(), bob, base_url=BASE_URL)
    approved = approver.post(f"/api/access/requests/{created.get_json()['id']}/approve",
                             json={"reason": "ok"},
                             headers={"X-CSRF-Token": approver.csrf})  # type: ignore[attr-defined]
    assert approved.status_code == 200, approved.get_json()
    assert (user(db, bob).last_activity_at, user(db, bob).last_activity_kind) == (
        clock.now(), "access_approval")
    assert user(db, ada).last_activity_at == clock.now() - timedelta(minutes=30)
