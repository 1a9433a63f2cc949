"""What a login may do, per IdP: deactivated users, creation, groups, IdP-initiated logins and
accounts that belong to another IdP. Every refusal changes nothing but the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import config
from app.db import Database
from tests.helpers.audit import events
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.reads import group_names
from tests.helpers.reads import links
from tests.helpers.reads import memberships
from tests.helpers.reads import snapshot
from tests.helpers.reads import user_by_name
from tests.helpers.reads import user_count
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import post_acs
from tests.helpers.saml import reason_of
from tests.helpers.saml import sp_login
from tests.helpers.saml import with_idp_policy

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ADA = "ada@example.com"


@pytest.fixture
def with_policy(make_app: Callable[..., Flask], settings: config.Settings, idp: DemoIdP
                ) -> Callable[..., FlaskClient]:
    """A browser for an app whose policy for IdP A is ``policy``."""

    def build(**policy: Any) -> FlaskClient:
        return make_app(with_idp_policy(settings, idp.entity_id, **policy)).test_client()

    return build


def login(client: FlaskClient, idp: DemoIdP, name_id: str = ADA, **attrs: Any) -> Any:
    return post_acs(client, idp.response(name_id, okta_attributes(name_id, **attrs)))


def scim_user(scim: ScimClient, user_name: str = ADA, **doc: Any) -> str:
    created = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": user_name, **doc})
    assert created.status_code == 201, created.get_data(as_text=True)
    user_id: str = created.get_json()["id"]
    return user_id


def scim_group(scim: ScimClient, name: str, *member_ids: str) -> str:
    created = scim.post("/Groups", json={
        "displayName": name, "members": [{"value": m} for m in member_ids]})
    assert created.status_code == 201, created.get_data(as_text=True)
    group_id: str = created.get_json()["id"]
    return group_id


def deactivate(scim: ScimClient, user_id: str) -> None:
    response = scim.patch(f"/Users/{user_id}", json=patch_op(
        {"op": "replace", "path": "active", "value": False}))
    assert response.status_code == 200, response.get_data(as_text=True)


def assert_denied(db: Database, response: Any, reason: str, status: int = 403) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert reason_of(response) == reason
    denied = events(db, "login:denied")
    assert denied, "no login:denied event"
    assert denied[-1].reason == reason
    assert denied[-1].outcome == "denied"


# -- deactivated users ------------------------------------------------------------------------

def test_deactivated_user_is_refused_without_any_write(client: FlaskClient, idp: DemoIdP,
                                                      db: Database, scim: ScimClient) -> None:
    scim_group(scim, "Engineering")
    scim_group(scim, "Admins")
    assert login(client, idp, groups=["Engineering"]).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    deactivate(scim, user.id)
    before = snapshot(db)
    successes = len(events(db, "login:success"))

    # New attributes and new groups: none of it may be written for a deactivated user.
    response = login(client, idp, first="Eve", last="Mallory", groups=["Admins"])

    assert_denied(db, response, "inactive")
    assert snapshot(db) == before
    after = user_by_name(db, ADA)
    assert after is not None and after.active is False
    assert after.version == user.version + 1  # the SCIM deactivation only
    assert memberships(db, user.id) == {"Engineering": idp.entity_id}
    assert len(events(db, "login:success")) == successes
    assert events(db, "jit:user:update") == []
    [denied] = events(db, "login:denied")
    assert denied.actor_id == idp.entity_id
    assert denied.target_label == ADA
    assert client.get("/me").status_code == 401  # the refused login started no session


def test_scim_deactivation_ends_an_existing_session(client: FlaskClient, idp: DemoIdP,
                                                    db: Database, scim: ScimClient) -> None:
    assert login(client, idp).status_code == 303
    assert client.get("/me").status_code == 200
    user = user_by_name(db, ADA)
    assert user is not None

    deactivate(scim, user.id)

    ended = client.get("/me")
    assert ended.status_code in (401, 403)
    assert client.get("/me").status_code == 401  # and it stays ended
    # Re-activation does not bring the old session back.
    scim.patch(f"/Users/{user.id}", json=patch_op(
        {"op": "replace", "path": "active", "value": True}))
    assert client.get("/me").status_code == 401


def test_scim_delete_ends_an_existing_session(client: FlaskClient, idp: DemoIdP, db: Database,
                                             scim: ScimClient) -> None:
    assert login(client, idp).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert scim.delete(f"/Users/{user.id}").status_code == 204
    assert client.get("/me").status_code in (401, 403)
    assert client.get("/me").status_code == 401


def test_jit_never_reactivates(client: FlaskClient, idp: DemoIdP, db: Database,
                               scim: ScimClient) -> None:
    # Deactivated in SCIM before their first SSO login: refused, and not even linked.
    user_id = scim_user(scim, active=False)
    for _ in range(2):
        assert_denied(db, login(client, idp), "inactive")
    user = user_by_name(db, ADA)
    assert user is not None and user.active is False
    assert links(db, user_id) == []
    assert events(db, "user:reactivate") == []
    # Once SCIM re-activates them, the login works.
    scim.patch(f"/Users/{user_id}", json=patch_op(
        {"op": "replace", "path": "active", "value": True}))
    assert login(client, idp).status_code == 303


def test_inactive_user_refused_on_sp_initiated_login_too(client: FlaskClient, idp: DemoIdP,
                                                         db: Database, scim: ScimClient) -> None:
    scim_user(scim, active=False)
    response = sp_login(client, idp, ADA, okta_attributes(ADA))
    assert_denied(db, response, "inactive")


# -- creation ---------------------------------------------------------------------------------

def test_create_users_false_refuses_unknown_users(with_policy: Callable[..., FlaskClient],
                                                  idp: DemoIdP, db: Database,
                                                  scim: ScimClient) -> None:
    client = with_policy(create_users=False)
    before = snapshot(db)

    assert_denied(db, login(client, idp), "not_provisioned")
    assert snapshot(db) == before
    assert user_count(db) == 0

    # A user SCIM created may still sign in (and gets linked).
    user_id = scim_user(scim, "grace@example.com")
    assert login(client, idp, "grace@example.com").status_code == 303
    assert links(db, user_id) == [(idp.entity_id, "grace@example.com")]


# -- groups -----------------------------------------------------------------------------------

def test_groups_mode_off_ignores_group_claims(with_policy: Callable[..., FlaskClient],
                                              idp: DemoIdP, db: Database,
                                              scim: ScimClient) -> None:
    client = with_policy(groups_mode="off", create_unknown_groups=True)
    scim_group(scim, "Engineering")
    assert login(client, idp, groups=["Engineering", "New"]).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert memberships(db, user.id) == {}
    assert group_names(db) == {"Engineering"}


def test_ignored_group_claims_are_named_in_the_login_event(
        with_policy: Callable[..., FlaskClient], idp: DemoIdP, db: Database, scim: ScimClient,
        caplog: pytest.LogCaptureFixture) -> None:
    """A fresh install drops unknown groups: the login event and the log say which and why."""
    client = with_policy(groups_mode="sync", create_unknown_groups=False,
                         default_groups=["Everyone"])
    scim_group(scim, "Engineering")
    with caplog.at_level("INFO", logger="frontdesk.jit"):
        assert login(client, idp, groups=["engineering", "Straße", "Äda-Team"]).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert set(memberships(db, user.id)) == {"Engineering"}
    assert group_names(db) == {"Engineering"}
    login_event = events(db, "login:success")[-1]
    assert login_event.changes == {"ignoredGroups": [None, [
        {"group": "Straße", "reason": "unknown_group"},
        {"group": "Äda-Team", "reason": "unknown_group"},
        {"group": "Everyone", "reason": "unknown_group"},
    ]]}
    assert ("group claims ignored: Straße (unknown_group), Äda-Team (unknown_group), "
            "Everyone (unknown_group)") in caplog.text

    # Groups mode off: every claim is ignored, and says so.
    client = with_policy(groups_mode="off", create_unknown_groups=True)
    assert login(client, idp, groups=["Engineering", "New"]).status_code == 303
    assert events(db, "login:success")[-1].changes == {"ignoredGroups": [None, [
        {"group": "Engineering", "reason": "groups_mode_off"},
        {"group": "New", "reason": "groups_mode_off"},
    ]]}

    # Nothing ignored: no ignoredGroups at all.
    client = with_policy(groups_mode="add")
    assert login(client, idp, groups=["ENGINEERING"]).status_code == 303
    assert events(db, "login:success")[-1].changes is None


def test_groups_mode_add_only_adds(with_policy: Callable[..., FlaskClient], idp: DemoIdP,
                                   db: Database, scim: ScimClient) -> None:
    client = with_policy(groups_mode="add")
    scim_group(scim, "Engineering")
    scim_group(scim, "Ops")
    assert login(client, idp, groups=["Engineering", "Ops"]).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert login(client, idp, groups=["Engineering"]).status_code == 303
    assert set(memberships(db, user.id)) == {"Engineering", "Ops"}
    assert events(db, "group:member:remove") == []


def test_groups_mode_sync_removes_only_what_this_idp_granted(
        with_policy: Callable[..., FlaskClient], idp: DemoIdP, db: Database,
        scim: ScimClient) -> None:
    client = with_policy(groups_mode="sync")
    user_id = scim_user(scim)
    scim_group(scim, "Engineering")
    scim_group(scim, "Ops")
    scim_group(scim, "Payroll", user_id)  # SCIM-made membership
    scim_group(scim, "Everyone", user_id)  # SCIM-made, and later also claimed by the IdP

    assert login(client, idp, groups=["Engineering", "Ops", "Everyone"]).status_code == 303
    assert memberships(db, user_id) == {"Engineering": idp.entity_id, "Ops": idp.entity_id,
                                        "Payroll": None, "Everyone": None}

    # The claim drops Ops and Everyone: only Ops was this IdP's to remove.
    assert login(client, idp, groups=["Engineering"]).status_code == 303
    assert memberships(db, user_id) == {"Engineering": idp.entity_id, "Payroll": None,
                                        "Everyone": None}
    [removed] = events(db, "group:member:remove")
    assert removed.target_label == "Ops"
    assert removed.actor_id == idp.entity_id

    # No groups attribute at all: nothing is removed.
    assert post_acs(client, idp.response(ADA, okta_attributes(ADA))).status_code == 303
    assert memberships(db, user_id) == {"Engineering": idp.entity_id, "Payroll": None,
                                        "Everyone": None}

    # An empty groups claim is "member of none of this IdP's groups".
    assert login(client, idp, groups=[]).status_code == 303
    assert memberships(db, user_id) == {"Payroll": None, "Everyone": None}


def test_create_unknown_groups(with_policy: Callable[..., FlaskClient], idp: DemoIdP,
                               db: Database, scim: ScimClient) -> None:
    scim_group(scim, "Engineering")
    refuse = with_policy(create_unknown_groups=False)
    assert login(refuse, idp, groups=["engineering", "Brand New"]).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert memberships(db, user.id) == {"Engineering": idp.entity_id}
    assert group_names(db) == {"Engineering"}

    create = with_policy(create_unknown_groups=True)
    assert login(create, idp, groups=["Engineering", "Brand New"]).status_code == 303
    assert group_names(db) == {"Engineering", "Brand New"}
    assert memberships(db, user.id) == {"Engineering": idp.entity_id,
                                        "Brand New": idp.entity_id}
    [created] = [e for e in events(db, "group:create") if e.actor_kind == "idp"]
    assert created.target_label == "Brand New"
    assert created.actor_id == idp.entity_id
    # SCIM sees the new group with its member.
    found = scim.get('/Groups?filter=displayName eq "Brand New"').get_json()
    assert [m["value"] for m in found["Resources"][0]["members"]] == [user.id]


def test_default_groups_for_new_users_only(with_policy: Callable[..., FlaskClient],
                                           idp: DemoIdP, db: Database,
                                           scim: ScimClient) -> None:
    scim_group(scim, "Everyone")
    client = with_policy(default_groups=["Everyone", "Not There"], groups_mode="sync")
    assert login(client, idp).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert memberships(db, user.id) == {"Everyone": idp.entity_id}
    assert group_names(db) == {"Everyone"}  # unknown default groups are not created

    existing = scim_user(scim, "grace@example.com")
    assert login(client, idp, "grace@example.com").status_code == 303
    assert memberships(db, existing) == {}


def test_default_groups_are_created_when_allowed(with_policy: Callable[..., FlaskClient],
                                                 idp: DemoIdP, db: Database) -> None:
    client = with_policy(default_groups=["Everyone"], create_unknown_groups=True,
                         groups_mode="off")
    assert login(client, idp, groups=["Ignored"]).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    assert set(memberships(db, user.id)) == {"Everyone"}
    assert group_names(db) == {"Everyone"}


# -- IdP-initiated ----------------------------------------------------------------------------

def test_idp_initiated_can_be_turned_off(with_policy: Callable[..., FlaskClient], idp: DemoIdP,
                                         db: Database) -> None:
    client = with_policy(allow_idp_initiated=False)
    before = snapshot(db)

    assert_denied(db, login(client, idp), "unsolicited")
    assert snapshot(db) == before
    assert user_count(db) == 0

    response = sp_login(client, idp, ADA, okta_attributes(ADA), next_path="/me")
    assert response.status_code == 303
    assert user_count(db) == 1


def test_idp_initiated_off_via_global_setting(make_app: Callable[..., Flask], idp: DemoIdP,
                                              db: Database) -> None:
    client = make_app(saml_allow_idp_initiated=False).test_client()
    assert_denied(db, login(client, idp), "unsolicited")
    assert sp_login(client, idp, ADA, okta_attributes(ADA)).status_code == 303


# -- accounts of another IdP ------------------------------------------------------------------

@pytest.fixture
def two_idps(make_app: Callable[..., Flask], two_idp_settings: config.Settings, idp_b: DemoIdP
             ) -> FlaskClient:
    settings = with_idp_policy(two_idp_settings, idp_b.entity_id, create_unknown_groups=True)
    return make_app(settings).test_client()


def test_user_of_idp_a_cannot_be_taken_over_by_idp_b(two_idps: FlaskClient, idp: DemoIdP,
                                                     idp_b: DemoIdP, db: Database) -> None:
    assert login(two_idps, idp).status_code == 303
    user = user_by_name(db, ADA)
    assert user is not None
    before = snapshot(db)

    for name_id in (ADA, ADA.upper()):
        response = post_acs(two_idps, idp_b.response(
            name_id, okta_attributes(name_id, first="Eve", groups=["Admins"])))
        assert_denied(db, response, "account_conflict")
    assert snapshot(db) == before
    assert links(db, user.id) == [(idp.entity_id, ADA)]
    assert two_idps.get("/me").status_code == 200  # still Ada's own session from IdP A
    assert "Signed in as Ada Lovelace" in two_idps.get("/me").get_data(as_text=True)


def test_idp_b_user_name_attribute_cannot_reach_idp_a_account(
        make_app: Callable[..., Flask], two_idp_settings: config.Settings, idp: DemoIdP,
        idp_b: DemoIdP, db: Database) -> None:
    settings = with_idp_policy(two_idp_settings, idp_b.entity_id, user_name_attribute="email")
    client = make_app(settings).test_client()
    assert login(client, idp).status_code == 303
    before = snapshot(db)

    response = post_acs(client, idp_b.response("b-00042", okta_attributes(ADA)))

    assert_denied(db, response, "account_conflict")
    assert snapshot(db) == before


def test_same_email_from_idp_b_is_never_linked(two_idps: FlaskClient, idp: DemoIdP,
                                               idp_b: DemoIdP, db: Database) -> None:
    assert login(two_idps, idp).status_code == 303
    ada = user_by_name(db, ADA)
    assert ada is not None

    # IdP B's person has another NameID but claims Ada's email address.
    response = post_acs(two_idps, idp_b.response("eve@b.example", okta_attributes(ADA)))

    assert response.status_code == 303
    eve = user_by_name(db, "eve@b.example")
    assert eve is not None and eve.id != ada.id
    assert links(db, ada.id) == [(idp.entity_id, ADA)]
    assert links(db, eve.id) == [(idp_b.entity_id, "eve@b.example")]
    assert "Signed in as" in two_idps.get("/me").get_data(as_text=True)
    assert "<td>eve@b.example</td>" in two_idps.get("/me").get_data(as_text=True)


def test_scim_user_linked_to_idp_a_is_not_claimed_by_idp_b(
        two_idps: FlaskClient, idp: DemoIdP, idp_b: DemoIdP, db: Database,
        scim: ScimClient) -> None:
    user_id = scim_user(scim)
    assert login(two_idps, idp).status_code == 303
    assert_denied(db, post_acs(two_idps, idp_b.response(ADA, okta_attributes(ADA))),
                  "account_conflict")
    assert links(db, user_id) == [(idp.entity_id, ADA)]
