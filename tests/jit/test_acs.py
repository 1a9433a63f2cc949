"""Happy paths through the door: real signed responses POSTed to /saml/acs, SP-initiated
logins through /saml/login, SP metadata, the IdP chooser, and SCIM/JIT convergence."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

import pytest
from defusedxml.ElementTree import fromstring
from flask import Flask
from flask.testing import FlaskClient
from saml2.data import schemas
from saml2.xml.schema import _create_xml_schema_validator

import config
from app.db import Database
from tests.helpers.audit import events
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.console import csrf_of
from tests.helpers.reads import links
from tests.helpers.reads import memberships
from tests.helpers.reads import user_by_name
from tests.helpers.reads import user_count
from tests.helpers.reads import users
from tests.helpers.saml import ACS_URL
from tests.helpers.saml import ENTRA
from tests.helpers.saml import SP_ENTITY_ID
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import post_acs
from tests.helpers.saml import reason_of
from tests.helpers.saml import sp_login
from tests.helpers.saml import start_login

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
MD_NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata"}


# -- first login ------------------------------------------------------------------------------

def test_idp_initiated_first_login_creates_the_user(client: FlaskClient, idp: DemoIdP,
                                                    db: Database) -> None:
    saml_response = idp.response("ada@example.com", okta_attributes("ada@example.com"))

    response = post_acs(client, saml_response)

    assert response.status_code == 303
    assert response.headers["Location"] == "/me"
    [user] = users(db)
    assert user.user_name == "ada@example.com"
    assert user.source == "jit"
    assert user.active is True
    assert user.display_name == "Ada Lovelace"
    assert user.doc["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert user.doc["emails"] == [{"value": "ada@example.com", "type": "work", "primary": True}]
    assert user.last_login_at is not None
    assert links(db, user.id) == [(idp.entity_id, "ada@example.com")]
    [create] = events(db, "jit:user:create")
    [success] = events(db, "login:success")
    for event in (create, success):
        assert (event.actor_kind, event.actor_id) == ("idp", idp.entity_id)
        assert (event.target_kind, event.target_id) == ("user", user.id)
        assert event.outcome == "success"
    assert create.seq < success.seq
    assert create.changes is not None and create.changes["userName"] == [None, "ada@example.com"]
    assert events(db, "login:denied") == []


def test_session_shows_the_user_and_groups_and_signs_out_with_csrf_only(
        client: FlaskClient, idp: DemoIdP, scim: ScimClient) -> None:
    assert scim.post("/Groups", json={"displayName": "Engineering"}).status_code == 201
    assert client.get("/me").status_code == 401

    response = post_acs(client, idp.response(
        "ada@example.com", okta_attributes("ada@example.com", groups=["Engineering"])))
    assert response.status_code == 303

    me = client.get("/me")
    page = me.get_data(as_text=True)
    assert me.status_code == 200
    assert "Signed in as Ada Lovelace" in page
    assert "<td>ada@example.com</td>" in page
    assert "<td>Engineering</td>" in page
    assert idp.entity_id in page

    refused = client.post("/saml/logout", data={})
    assert refused.status_code == 400
    assert reason_of(refused) == "csrf"
    assert client.post("/saml/logout", data={"csrf": "forged"}).status_code == 400
    assert client.get("/me").status_code == 200  # still signed in

    assert client.post("/saml/logout", data={"csrf": csrf_of(page)}).status_code == 200
    assert client.get("/me").status_code == 401


def test_a_new_login_replaces_the_previous_session(client: FlaskClient, idp: DemoIdP) -> None:
    assert post_acs(client, idp.response("ada@example.com",
                                         okta_attributes("ada@example.com"))).status_code == 303
    first = csrf_of(client.get("/me").get_data(as_text=True))
    assert post_acs(client, idp.response(
        "grace@example.com", okta_attributes("grace@example.com", "Grace", "Hopper"))
    ).status_code == 303
    page = client.get("/me").get_data(as_text=True)
    assert "Signed in as Grace Hopper" in page
    assert csrf_of(page) != first  # a fresh session, not the old one with a new user id


def test_entra_claim_uris_work_without_configuration(client: FlaskClient, idp: DemoIdP,
                                                    db: Database) -> None:
    object_id = "5f1c8c1e-0b7a-4c55-9d7e-2f4e8c3a9b10"
    attributes = {
        ENTRA["email"]: ["grace@contoso.com"],
        ENTRA["givenName"]: ["Grace"],
        ENTRA["surname"]: ["Hopper"],
        ENTRA["displayName"]: ["Grace Hopper"],
        ENTRA["objectId"]: [object_id],
    }
    # Entra sends no NameFormat on its attributes and a persistent-looking NameID.
    response = post_acs(client, idp.response("grace@contoso.com", attributes,
                                             attribute_name_format=None))

    assert response.status_code == 303
    user = user_by_name(db, "grace@contoso.com")
    assert user is not None
    assert user.external_id == object_id
    assert user.display_name == "Grace Hopper"
    assert user.doc["name"] == {"givenName": "Grace", "familyName": "Hopper"}
    assert user.doc["emails"][0]["value"] == "grace@contoso.com"


def test_okta_names_are_matched_case_insensitively(client: FlaskClient, idp: DemoIdP,
                                                  db: Database) -> None:
    attributes = {"EMAIL": ["lin@example.com"], "FirstName": ["Lin"], "lastname": ["Chen"]}
    assert post_acs(client, idp.response("lin@example.com", attributes)).status_code == 303
    user = user_by_name(db, "lin@example.com")
    assert user is not None
    assert user.doc["name"] == {"givenName": "Lin", "familyName": "Chen"}
    assert user.doc["emails"][0]["value"] == "lin@example.com"


def test_unknown_attributes_are_ignored(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    attributes = {**okta_attributes("ada@example.com"), "favouriteColour": ["green"],
                  "userName": ["root"], "active": ["false"]}
    assert post_acs(client, idp.response("ada@example.com", attributes)).status_code == 303
    user = user_by_name(db, "ada@example.com")
    assert user is not None and user.active is True
    assert "favouriteColour" not in user.doc
    assert user_by_name(db, "root") is None


# -- later logins -----------------------------------------------------------------------------

def test_second_login_updates_mapped_fields_only(client: FlaskClient, idp: DemoIdP,
                                                 db: Database, scim: ScimClient) -> None:
    assert post_acs(client, idp.response(
        "ada@example.com", okta_attributes("ada@example.com"))).status_code == 303
    user = user_by_name(db, "ada@example.com")
    assert user is not None
    # Fields the IdP does not send, set by SCIM: a later login must leave them alone.
    patched = scim.patch(f"/Users/{user.id}", json=patch_op(
        {"op": "add", "path": "nickName", "value": "Countess"},
        {"op": "add", "path": "title", "value": "Analyst"}))
    assert patched.status_code == 200, patched.get_data(as_text=True)
    before = user_by_name(db, "ada@example.com")
    assert before is not None

    response = post_acs(client, idp.response(
        "ada@example.com", okta_attributes("ada@example.com", last="King")))

    assert response.status_code == 303
    after = user_by_name(db, "ada@example.com")
    assert after is not None
    assert after.version == before.version + 1
    assert after.doc["name"] == {"givenName": "Ada", "familyName": "King"}
    assert after.doc["nickName"] == "Countess"
    assert after.doc["title"] == "Analyst"
    assert after.display_name == "Ada King"
    [update] = events(db, "jit:user:update")
    assert update.actor_id == idp.entity_id
    assert update.changes == {"name.familyName": ["Lovelace", "King"],
                              "displayName": ["Ada Lovelace", "Ada King"]}
    assert user_count(db) == 1
    assert len(events(db, "login:success")) == 2


def test_second_login_without_changes_writes_no_update(client: FlaskClient, idp: DemoIdP,
                                                       db: Database) -> None:
    attributes = okta_attributes("ada@example.com")
    assert post_acs(client, idp.response("ada@example.com", attributes)).status_code == 303
    before = user_by_name(db, "ada@example.com")
    assert before is not None

    assert post_acs(client, idp.response("ada@example.com", attributes)).status_code == 303

    after = user_by_name(db, "ada@example.com")
    assert after is not None
    assert after.version == before.version
    assert after.doc == before.doc
    assert events(db, "jit:user:update") == []
    assert len(events(db, "login:success")) == 2
    assert after.last_login_at is not None and before.last_login_at is not None
    assert after.last_login_at >= before.last_login_at


def test_login_without_attributes_changes_nothing(client: FlaskClient, idp: DemoIdP,
                                                 db: Database) -> None:
    assert post_acs(client, idp.response(
        "ada@example.com", okta_attributes("ada@example.com"))).status_code == 303
    before = user_by_name(db, "ada@example.com")
    assert post_acs(client, idp.response("ada@example.com", {})).status_code == 303
    after = user_by_name(db, "ada@example.com")
    assert before is not None and after is not None
    assert (after.doc, after.version) == (before.doc, before.version)


# -- SCIM and JIT on one user store -----------------------------------------------------------

def test_scim_created_user_is_linked_on_first_login(client: FlaskClient, idp: DemoIdP,
                                                    db: Database, scim: ScimClient) -> None:
    created = scim.post("/Users", json={
        "schemas": [USER_SCHEMA], "userName": "Ada@Example.com", "externalId": "okta-00u1",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
    })
    assert created.status_code == 201
    user_id = created.get_json()["id"]

    response = post_acs(client, idp.response("ada@example.com",
                                             okta_attributes("ada@example.com")))

    assert response.status_code == 303
    [user] = users(db)
    assert user.id == user_id
    assert user.source == "scim"
    assert user.user_name == "Ada@Example.com"  # the identity key is never rewritten
    assert user.external_id == "okta-00u1"
    assert links(db, user_id) == [(idp.entity_id, "ada@example.com")]
    assert events(db, "jit:user:create") == []
    [success] = events(db, "login:success")
    assert success.target_id == user_id
    # And SCIM sees what the login brought (the mapped email).
    fetched = scim.get(f"/Users/{user_id}").get_json()
    assert fetched["emails"][0]["value"] == "ada@example.com"


def test_jit_user_then_scim_create_with_same_user_name_is_a_conflict(
        client: FlaskClient, idp: DemoIdP, db: Database, scim: ScimClient) -> None:
    assert post_acs(client, idp.response("ada@example.com",
                                         okta_attributes("ada@example.com"))).status_code == 303

    for user_name in ("ada@example.com", "ADA@EXAMPLE.COM"):
        conflict = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": user_name})
        assert conflict.status_code == 409
        assert conflict.get_json()["scimType"] == "uniqueness"

    assert user_count(db) == 1
    found = scim.get('/Users?filter=userName eq "ada@example.com"').get_json()
    assert found["totalResults"] == 1
    assert found["Resources"][0]["userName"] == "ada@example.com"


def test_scim_and_jit_converge_on_one_user(client: FlaskClient, idp: DemoIdP, db: Database,
                                          scim: ScimClient) -> None:
    created = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": "ada@example.com"})
    user_id = created.get_json()["id"]
    for _ in range(2):
        assert post_acs(client, idp.response(
            "ada@example.com", okta_attributes("ada@example.com"))).status_code == 303
    scim.patch(f"/Users/{user_id}", json=patch_op(
        {"op": "replace", "path": "displayName", "value": "Countess Lovelace"}))
    assert post_acs(client, idp.response(
        "ada@example.com", okta_attributes("ada@example.com"))).status_code == 303

    assert [u.id for u in users(db)] == [user_id]
    assert links(db, user_id) == [(idp.entity_id, "ada@example.com")]
    # The IdP's displayName claim wins at the next login: it is a mapped field.
    assert scim.get(f"/Users/{user_id}").get_json()["displayName"] == "Ada Lovelace"


# -- SP-initiated -----------------------------------------------------------------------------

def test_sp_initiated_login_lands_on_next(client: FlaskClient, idp: DemoIdP,
                                          db: Database) -> None:
    response = sp_login(client, idp, "ada@example.com", okta_attributes("ada@example.com"),
                        next_path="/me?x=1")

    assert response.status_code == 303
    assert response.headers["Location"] == "/me?x=1"
    assert user_count(db) == 1
    assert client.get("/me?x=1").status_code == 200


def test_sp_initiated_login_without_next_lands_on_me(client: FlaskClient, idp: DemoIdP) -> None:
    response = sp_login(client, idp, "ada@example.com", okta_attributes("ada@example.com"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/me"


def test_login_sets_a_secure_binding_cookie_for_the_acs_only(client: FlaskClient,
                                                             idp: DemoIdP) -> None:
    response = client.get("/saml/login")
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("frontdesk_saml="))
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert {"secure", "httponly", "path", "samesite"} <= parts
    assert "Path=/saml/acs" in cookie
    assert "SameSite=None" in cookie


def test_an_unsafe_next_falls_back_to_me(client: FlaskClient, idp: DemoIdP) -> None:
    response = sp_login(client, idp, "ada@example.com", okta_attributes("ada@example.com"),
                        next_path="https://evil.example/phish")
    assert response.status_code == 303
    assert response.headers["Location"] == "/me"


# -- metadata and IdP choice ------------------------------------------------------------------

def test_metadata_is_valid_sp_metadata(client: FlaskClient) -> None:
    response = client.get("/saml/metadata")

    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    xml = response.get_data(as_text=True)
    assert xml.startswith("<")
    validator = _create_xml_schema_validator(
        str(files(schemas).joinpath("saml-schema-metadata-2.0.xsd")))
    validator.validate(xml)  # raises on anything the SAML metadata schema refuses
    root = fromstring(xml)
    assert root.get("entityID") == SP_ENTITY_ID
    sp = root.find("md:SPSSODescriptor", MD_NS)
    assert sp is not None
    assert sp.get("WantAssertionsSigned") == "true"
    [acs] = sp.findall("md:AssertionConsumerService", MD_NS)
    assert acs.get("Location") == ACS_URL
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    # It advertises only the algorithms it accepts: no MD5, no SHA-1. (Algorithm attributes, not
    # the whole text: the certificate's base64 holds "md5" or "sha1" by chance in some keys.)
    algorithms = [e.get("Algorithm", "") for e in root.iter() if e.get("Algorithm")]
    assert algorithms, "the metadata advertises its signing and digest algorithms"
    assert not [a for a in algorithms if "sha1" in a.lower() or "md5" in a.lower()], algorithms


def test_several_idps_show_a_chooser_and_idp_picks_one(
        make_app: Callable[..., Flask], two_idp_settings: config.Settings, idp: DemoIdP,
        idp_b: DemoIdP, db: Database) -> None:
    client = make_app(two_idp_settings).test_client()

    chooser = client.get("/saml/login?next=/me")
    assert chooser.status_code == 200
    page = chooser.get_data(as_text=True)
    assert idp.entity_id in page and idp_b.entity_id in page

    response = sp_login(client, idp_b, "bob@b.example", okta_attributes("bob@b.example", "Bob"),
                        choose=True, next_path="/me")
    assert response.status_code == 303
    user = user_by_name(db, "bob@b.example")
    assert user is not None
    assert links(db, user.id) == [(idp_b.entity_id, "bob@b.example")]

    # IdP-initiated logins from either IdP work too.
    assert post_acs(client, idp.response("ada@example.com",
                                         okta_attributes("ada@example.com"))).status_code == 303
    assert user_count(db) == 2


def test_unknown_idp_is_a_400(make_app: Callable[..., Flask], two_idp_settings: config.Settings,
                             client: FlaskClient) -> None:
    for c in (client, make_app(two_idp_settings).test_client()):
        response = c.get("/saml/login?idp=https://evil.example/metadata")
        assert response.status_code == 400
        assert reason_of(response) == "unknown_idp"
        assert "frontdesk_saml" not in response.headers.get("Set-Cookie", "")


def test_one_idp_redirects_straight_to_it(client: FlaskClient, idp: DemoIdP) -> None:
    info = start_login(client, idp)
    assert info.issuer == SP_ENTITY_ID
    assert info.acs_url == ACS_URL


def test_not_configured_says_so(make_app: Callable[..., Flask]) -> None:
    client = make_app(saml_idp_metadata=()).test_client()
    assert client.get("/saml/login").status_code == 503
    response = client.post("/saml/acs", data={"SAMLResponse": "PHg+"})
    assert response.status_code == 503


def test_a_browser_get_on_the_acs_gets_a_page_that_says_what_it_is(client: FlaskClient,
                                                                  db: Database) -> None:
    before = len(events(db))
    response = client.get("/saml/acs", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>Sign-in responses arrive here</h1>" in body
    assert "Assertion Consumer Service" in body
    assert '<a href="/saml/login">Sign in</a>' in body
    # Anything but GET, HEAD and POST is still refused, and a GET writes nothing.
    assert client.head("/saml/acs").status_code == 200
    assert client.put("/saml/acs").status_code == 405
    assert len(events(db)) == before


@pytest.mark.parametrize(("existing", "groups"), [
    ("Engineering", ["Engineering"]),
    ("Engineering", ["engineering", "ENGINEERING"]),
    ("Äda Fans", ["äDA fans", "ÄDA FANS"]),
    ("Strauß Quartet", ["STRAUß QUARTET"]),
])
def test_group_claims_join_existing_groups(client: FlaskClient, idp: DemoIdP, db: Database,
                                           scim: ScimClient, existing: str, groups: list[str]
                                           ) -> None:
    assert scim.post("/Groups", json={"displayName": existing}).status_code == 201
    assert post_acs(client, idp.response(
        "ada@example.com", okta_attributes("ada@example.com", groups=groups))).status_code == 303
    user = user_by_name(db, "ada@example.com")
    assert user is not None
    assert memberships(db, user.id) == {existing: idp.entity_id}
    [add] = events(db, "group:member:add")
    assert add.actor_id == idp.entity_id
