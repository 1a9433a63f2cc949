"""The SAML sign-in's authentication context: kept with the session from the signed assertion,
asked of by access policy (MFA, a recent sign-in), and stepped up with a fresh SP-initiated
login (ForceAuthn, RequestedAuthnContext) that comes back to where the person was."""

from __future__ import annotations

import base64
import html
import re
import zlib
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import config
from app.access.policy import DEFAULT_MFA_CONTEXTS
from app.clock import FrozenClock
from app.db import Database
from jit.demo.idp import AMR_CLAIM
from jit.demo.idp import ENTRA_MFA
from jit.demo.idp import ENTRA_SINGLE_FACTOR
from jit.demo.idp import MULTI_FACTOR
from jit.demo.idp import PASSWORD
from jit.demo.idp import create_idp_app
from jit.demo.idp import decode_response
from tests.helpers.access import POLICIES
from tests.helpers.access import AccessClient
from tests.helpers.access import make_group
from tests.helpers.access import make_user
from tests.helpers.access import personal_token
from tests.helpers.access import with_access
from tests.helpers.clients import BASE_URL
from tests.helpers.saml import ENTRA
from tests.helpers.saml import AuthnRequestInfo
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import post_acs
from tests.helpers.saml import reason_of
from tests.helpers.saml import start_login
from tests.helpers.saml import with_idp_policy
from tests.jit import saml_attacks

ADA = "ada@example.com"
BOB = "bob@example.com"
PAGE = "/access/new?group=prod-db-admins"  # where Ada was when policy refused her
REFERER = f"{BASE_URL}{PAGE}"
# The shared policies, plus one that wants a sign-in of the last hour, and approvers of payroll
# who signed in with MFA.
TEST_POLICIES: dict[str, Any] = {
    **POLICIES,
    "payroll": {**POLICIES["payroll"], "approver_require_mfa": True},
    "recent": {"groups": ["recent-*"], "approvers": ["sre-leads"], "reason": "optional",
               "max_sign_in_age": "1h"},
}


@pytest.fixture
def settings(settings: config.Settings) -> config.Settings:
    """The SAML app's settings with the access policies."""
    return with_access(settings, TEST_POLICIES)


@pytest.fixture
def clock(app: Flask, db: Database) -> FrozenClock:
    """The app's clock, frozen at the real now: the IdP signs AuthnInstants in real time."""
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    db.clock = frozen
    return frozen


@pytest.fixture
def people(db: Database, clock: FrozenClock) -> dict[str, str]:
    """Ada the engineer (may request), Bob and Cyd the SRE leads (approve), and the groups."""
    ada, bob, cyd = make_user(db, ADA), make_user(db, BOB), make_user(db, "cyd@example.com")
    make_group(db, "engineering", (ada,))
    make_group(db, "sre-leads", (bob, cyd))
    for name in ("prod-db-admins", "payroll-admins", "sandbox-1", "recent-1", "recent-2"):
        make_group(db, name)
    return {"ada": ada, "bob": bob, "cyd": cyd}


# -- helpers ------------------------------------------------------------------------------------

def sign_in(client: FlaskClient, idp: DemoIdP, name_id: str = ADA, *,
            attributes: dict[str, list[str]] | None = None, info: AuthnRequestInfo | None = None,
            **response_kwargs: Any) -> TestResponse:
    """Answer ``info`` (default: a plain SP-initiated login) as ``name_id``; 303 expected."""
    info = info or start_login(client, idp)
    response = post_acs(client, idp.response(
        name_id, attributes or okta_attributes(name_id), in_response_to=info.id,
        **response_kwargs), info.relay_state)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def session_auth(client: FlaskClient) -> Any:
    with client.session_transaction(base_url=BASE_URL) as session:
        return session.get("auth")


def csrf(client: FlaskClient) -> str:
    with client.session_transaction(base_url=BASE_URL) as session:
        token: str = session["csrf"]
    return token


def api_post(client: FlaskClient, path: str, body: dict[str, Any]) -> TestResponse:
    """POST to /api/access as the browser does from ``PAGE``: session cookie and CSRF token."""
    response: TestResponse = client.post(
        f"/api/access{path}", json=body,
        headers={"X-CSRF-Token": csrf(client), "Referer": REFERER})
    return response


def follow_step_up(client: FlaskClient, idp: DemoIdP, url: str) -> tuple[AuthnRequestInfo, str]:
    """GET the step-up URL; return what the IdP reads of the AuthnRequest, and its XML."""
    response = client.get(url)
    assert response.status_code == 302, response.get_data(as_text=True)
    params = parse_qs(urlsplit(response.headers["Location"]).query)
    saml_request = params["SAMLRequest"][0]
    xml = zlib.decompress(base64.b64decode(saml_request), -15).decode("utf-8")
    info = idp.parse_authn_request(saml_request, params.get("RelayState", [None])[0])
    return info, xml


def ask_db_admin(client: FlaskClient) -> TestResponse:
    return api_post(client, "/requests", {"group": "prod-db-admins", "duration": "PT30M"})


# -- MFA step-up ----------------------------------------------------------------------------------

def test_okta_style_step_up_to_mfa_then_the_request_succeeds(
        client: FlaskClient, idp: DemoIdP, people: dict[str, str]) -> None:
    sign_in(client, idp)  # password only: PasswordProtectedTransport
    auth = session_auth(client)
    assert auth["idp"] == idp.entity_id and auth["contexts"] == [PASSWORD]
    assert datetime.fromisoformat(auth["authn_instant"]) <= datetime.now(UTC)

    refused = ask_db_admin(client)
    assert refused.status_code == 403
    body = refused.get_json()
    assert body["error"] == "mfa_required"
    step_up = urlsplit(body["step_up"])
    assert step_up.path == "/saml/login"
    assert parse_qs(step_up.query) == {"step_up": ["mfa"], "next": [PAGE]}

    info, xml = follow_step_up(client, idp, body["step_up"])
    assert info.force_authn and 'ForceAuthn="true"' in xml
    assert info.requested_contexts == DEFAULT_MFA_CONTEXTS
    assert info.comparison == "exact" and 'Comparison="exact"' in xml
    assert info.wants_mfa

    back = sign_in(client, idp, info=info, authn_context=MULTI_FACTOR)
    assert back.headers["Location"] == PAGE  # back where she was
    assert session_auth(client)["contexts"] == [MULTI_FACTOR]

    created = ask_db_admin(client)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["state"] == "pending"
    assert created.get_json()["auth_context"]["contexts"] == [MULTI_FACTOR]
    assert created.get_json()["auth_context"]["idp"] == idp.entity_id


def test_entra_style_amr_claim_counts_as_mfa(client: FlaskClient, idp: DemoIdP,
                                             people: dict[str, str]) -> None:
    def entra(methods: list[str]) -> dict[str, list[str]]:
        return {ENTRA["email"]: [ADA], ENTRA["displayName"]: ["Ada Lovelace"],
                AMR_CLAIM: methods}

    sign_in(client, idp, attributes=entra([ENTRA_SINGLE_FACTOR]),
            authn_context=ENTRA_SINGLE_FACTOR, attribute_name_format=None)
    assert session_auth(client)["contexts"] == [ENTRA_SINGLE_FACTOR]
    refused = ask_db_admin(client)
    assert (refused.status_code, refused.get_json()["error"]) == (403, "mfa_required")

    info, _ = follow_step_up(client, idp, refused.get_json()["step_up"])
    assert info.force_authn and info.requested_contexts == DEFAULT_MFA_CONTEXTS
    sign_in(client, idp, info=info, attributes=entra([ENTRA_SINGLE_FACTOR, ENTRA_MFA]),
            authn_context=ENTRA_SINGLE_FACTOR, attribute_name_format=None)
    created = ask_db_admin(client)
    assert created.status_code == 201, created.get_json()
    # The class ref, then the claim's values, each once.
    assert created.get_json()["auth_context"]["contexts"] == [ENTRA_SINGLE_FACTOR, ENTRA_MFA]


def test_a_step_up_the_idp_does_not_satisfy_changes_nothing(
        client: FlaskClient, idp: DemoIdP, people: dict[str, str]) -> None:
    sign_in(client, idp)
    info, _ = follow_step_up(client, idp, ask_db_admin(client).get_json()["step_up"])
    sign_in(client, idp, info=info)  # the IdP answered, but without MFA
    again = ask_db_admin(client)
    assert (again.status_code, again.get_json()["error"]) == (403, "mfa_required")
    assert "step_up" in again.get_json()


def test_an_approval_steps_up_too(client: FlaskClient, idp: DemoIdP, db: Database,
                                  people: dict[str, str]) -> None:
    ada = AccessClient(client, personal_token(db, ADA))
    request_id = ada.post("/requests", {"group": "payroll-admins"}).get_json()["id"]
    sign_in(client, idp, BOB, attributes=okta_attributes(BOB, "Bob", "Lead"))
    refused = api_post(client, f"/requests/{request_id}/approve", {"reason": "ok"})
    assert (refused.status_code, refused.get_json()["error"]) == (403, "mfa_required")
    info, _ = follow_step_up(client, idp, refused.get_json()["step_up"])
    sign_in(client, idp, BOB, attributes=okta_attributes(BOB, "Bob", "Lead"), info=info,
            authn_context=MULTI_FACTOR)
    approved = api_post(client, f"/requests/{request_id}/approve", {"reason": "ok"})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["reviews"][0]["auth_context"]["contexts"] == [MULTI_FACTOR]


def test_a_token_gets_no_step_up(client: FlaskClient, db: Database,
                                 people: dict[str, str]) -> None:
    ada = AccessClient(client, personal_token(db, ADA))
    refused = ada.post("/requests", {"group": "prod-db-admins"})
    assert (refused.status_code, refused.get_json()["error"]) == (403, "mfa_required")
    assert "step_up" not in refused.get_json()  # signing in again would not change a token


def test_without_a_same_origin_referer_the_step_up_returns_to_me(
        client: FlaskClient, idp: DemoIdP, people: dict[str, str]) -> None:
    sign_in(client, idp)
    for referer in ("https://evil.example/access", "http://frontdesk.example.com/access", ""):
        refused = client.post("/api/access/requests", json={"group": "prod-db-admins"},
                              headers={"X-CSRF-Token": csrf(client), "Referer": referer})
        assert refused.get_json()["step_up"] == "/saml/login?step_up=mfa"


def test_per_idp_policy_can_leave_requested_authn_context_out(
        make_app: Any, settings: config.Settings, idp: DemoIdP,
        people: dict[str, str]) -> None:
    client = make_app(with_idp_policy(settings, idp.entity_id,
                                      requested_authn_context=False)).test_client()
    info, xml = follow_step_up(client, idp, "/saml/login?step_up=mfa")
    assert info.force_authn and info.requested_contexts == ()
    assert "RequestedAuthnContext" not in xml


def test_configured_mfa_contexts_are_what_a_step_up_asks_for(
        make_app: Any, settings: config.Settings, idp: DemoIdP,
        people: dict[str, str]) -> None:
    custom = "urn:example:ac:hardware-key"
    with_mfa = with_access(settings, TEST_POLICIES, mfa={idp.entity_id: [custom]})
    client = make_app(with_mfa).test_client()
    info, _ = follow_step_up(client, idp, f"/saml/login?step_up=mfa&next={PAGE}")
    assert info.requested_contexts == (custom,)
    assert sign_in(client, idp, info=info, authn_context=custom).headers["Location"] == PAGE
    created = ask_db_admin(client)
    assert created.status_code == 201, created.get_json()


def test_step_up_keeps_next_safe_and_refuses_unknown_kinds(client: FlaskClient,
                                                           idp: DemoIdP) -> None:
    info, _ = follow_step_up(client, idp, "/saml/login?step_up=mfa&next=//evil.example/x")
    assert sign_in(client, idp, info=info, authn_context=MULTI_FACTOR
                   ).headers["Location"] == "/me"
    refused = client.get("/saml/login?step_up=everything")
    assert refused.status_code == 400 and reason_of(refused) == "unknown_step_up"
    plain = start_login(client, idp)  # an ordinary sign-in forces nothing
    assert not plain.force_authn and plain.requested_contexts == ()


# -- a recent sign-in -----------------------------------------------------------------------------

def test_an_old_sign_in_is_refused_and_a_fresh_one_accepted(
        client: FlaskClient, idp: DemoIdP, clock: FrozenClock, people: dict[str, str]) -> None:
    sign_in(client, idp)
    assert api_post(client, "/requests", {"group": "recent-1"}).status_code == 201
    clock.advance(timedelta(minutes=61))  # the same session, an hour later
    refused = api_post(client, "/requests", {"group": "recent-2"})
    assert (refused.status_code, refused.get_json()["error"]) == (403, "sign_in_too_old")
    assert parse_qs(urlsplit(refused.get_json()["step_up"]).query) == {
        "step_up": ["fresh"], "next": [PAGE]}

    info, xml = follow_step_up(client, idp, refused.get_json()["step_up"])
    assert info.force_authn and 'ForceAuthn="true"' in xml
    assert info.requested_contexts == ()  # the session had no MFA to keep
    clock.set(datetime.now(UTC))
    sign_in(client, idp, info=info)
    assert api_post(client, "/requests", {"group": "recent-2"}).status_code == 201


def test_an_idp_session_of_two_hours_ago_is_too_old(client: FlaskClient, idp: DemoIdP,
                                                    people: dict[str, str]) -> None:
    # An IdP that signs in from its own session says when the person really authenticated.
    sign_in(client, idp, authn_context=MULTI_FACTOR,
            authn_instant=datetime.now(UTC) - timedelta(hours=2))
    refused = api_post(client, "/requests", {"group": "recent-1"})
    assert (refused.status_code, refused.get_json()["error"]) == (403, "sign_in_too_old")
    # A fresh sign-in of a session that had MFA asks for MFA again: it must not lose it.
    info, _ = follow_step_up(client, idp, refused.get_json()["step_up"])
    assert info.force_authn and info.requested_contexts == DEFAULT_MFA_CONTEXTS


# -- only the signed assertion speaks -------------------------------------------------------------

def test_a_tampered_class_ref_breaks_the_signature(client: FlaskClient, idp: DemoIdP,
                                                   people: dict[str, str]) -> None:
    info = start_login(client, idp)
    xml = idp.response_xml(ADA, okta_attributes(ADA), in_response_to=info.id)
    forged = xml.replace(PASSWORD, MULTI_FACTOR)
    assert forged != xml
    refused = post_acs(client, base64.b64encode(forged.encode()).decode())
    assert refused.status_code == 400 and reason_of(refused) == "signature"
    assert session_auth(client) is None


def test_an_amr_claim_added_to_the_signed_assertion_breaks_the_signature(
        client: FlaskClient, idp: DemoIdP, people: dict[str, str]) -> None:
    info = start_login(client, idp)
    xml = idp.response_xml(ADA, okta_attributes(ADA, **{AMR_CLAIM: [ENTRA_SINGLE_FACTOR]}),
                           in_response_to=info.id)
    forged = saml_attacks.tamper_attribute(xml, AMR_CLAIM, [ENTRA_SINGLE_FACTOR, ENTRA_MFA])
    refused = post_acs(client, base64.b64encode(forged.encode()).decode())
    assert refused.status_code == 400 and reason_of(refused) == "signature"
    assert session_auth(client) is None


def test_context_in_the_unsigned_envelope_is_ignored(client: FlaskClient, idp: DemoIdP,
                                                     people: dict[str, str]) -> None:
    """Only the assertion is signed: whatever sits beside it in the Response says nothing."""
    info = start_login(client, idp)
    xml = idp.response_xml(ADA, okta_attributes(ADA), in_response_to=info.id)
    smuggled = (
        '<samlp:Extensions xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
        f'<saml:AuthnStatement AuthnInstant="2999-01-01T00:00:00Z"><saml:AuthnContext>'
        f"<saml:AuthnContextClassRef>{MULTI_FACTOR}</saml:AuthnContextClassRef>"
        "</saml:AuthnContext></saml:AuthnStatement>"
        f'<saml:Attribute Name="{AMR_CLAIM}"><saml:AttributeValue>{ENTRA_MFA}'
        "</saml:AttributeValue></saml:Attribute></samlp:Extensions>")
    issuer_end = xml.index("</ns1:Issuer>") + len("</ns1:Issuer>")
    forged = xml[:issuer_end] + smuggled + xml[issuer_end:]
    response = post_acs(client, base64.b64encode(forged.encode()).decode())
    assert response.status_code == 303  # pysaml2 lets Extensions by; the assertion decides
    assert session_auth(client)["contexts"] == [PASSWORD]
    assert datetime.fromisoformat(session_auth(client)["authn_instant"]) <= datetime.now(UTC)
    assert ask_db_admin(client).get_json()["error"] == "mfa_required"


def test_an_unsigned_assertion_claiming_mfa_is_refused(client: FlaskClient, idp: DemoIdP,
                                                       people: dict[str, str]) -> None:
    info = start_login(client, idp)
    refused = post_acs(client, idp.response(ADA, okta_attributes(ADA), in_response_to=info.id,
                                            authn_context=MULTI_FACTOR, sign_assertion=False))
    assert refused.status_code == 400 and reason_of(refused) == "signature"
    assert session_auth(client) is None


# -- the demo IdP's pages ---------------------------------------------------------------------

def hidden_fields(page: str) -> dict[str, str]:
    return {html.unescape(n): html.unescape(v) for n, v in re.findall(
        r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)}


def test_demo_idp_pages_honour_force_authn_and_requested_context(
        client: FlaskClient, idp: DemoIdP, people: dict[str, str]) -> None:
    sign_in(client, idp)
    location = urlsplit(client.get("/saml/login?step_up=mfa&next=/me").headers["Location"])
    browser = create_idp_app(idp).test_client()
    form = browser.get(f"{location.path}?{location.query}").get_data(as_text=True)
    assert "fresh sign-in" in form and "ForceAuthn" in form and MULTI_FACTOR in form
    assert 'name="mfa" type="checkbox" value="on" checked' in form  # MFA asked for: ticked
    assert 'name="session_age"' not in form  # ForceAuthn: no earlier sign-in to reuse
    fields = hidden_fields(form)

    # Without MFA the IdP cannot answer the RequestedAuthnContext: a failed sign-in, unsigned.
    answer = hidden_fields(browser.post("/sso", data={
        "email": ADA, "style": "okta", **fields}).get_data(as_text=True))
    xml = decode_response(answer["SAMLResponse"])
    assert "NoAuthnContext" in xml and "Assertion" not in xml
    refused = post_acs(client, answer["SAMLResponse"], answer.get("RelayState"))
    assert reason_of(refused) == "idp_status"
    assert session_auth(client)["contexts"] == [PASSWORD]  # the old session is untouched

    # With MFA, Entra style: the method claim says multipleauthn; back to /me, which says so.
    answer = hidden_fields(browser.post("/sso", data={
        "email": ADA, "style": "entra", "mfa": "on", **fields}).get_data(as_text=True))
    back = post_acs(client, answer["SAMLResponse"], answer.get("RelayState"))
    assert (back.status_code, back.headers["Location"]) == (303, "/me")
    assert session_auth(client)["contexts"] == [ENTRA_SINGLE_FACTOR, ENTRA_MFA]
    assert "with multi-factor authentication" in client.get("/me").get_data(as_text=True)


def test_demo_idp_session_age_back_dates_the_authn_instant(
        client: FlaskClient, idp: DemoIdP, people: dict[str, str]) -> None:
    browser = create_idp_app(idp).test_client()
    assert 'name="session_age"' in browser.get("/").get_data(as_text=True)
    answer = hidden_fields(browser.post("/sso", data={
        "email": ADA, "style": "okta", "mfa": "on", "session_age": "90"}).get_data(as_text=True))
    assert post_acs(client, answer["SAMLResponse"]).status_code == 303
    instant = datetime.fromisoformat(session_auth(client)["authn_instant"])
    assert timedelta(minutes=89) < datetime.now(UTC) - instant < timedelta(minutes=92)
    assert session_auth(client)["contexts"] == [MULTI_FACTOR]
    refused = api_post(client, "/requests", {"group": "recent-1"})
    assert refused.get_json()["error"] == "sign_in_too_old"
    assert browser.post("/sso", data={"email": ADA, "session_age": "-5"}).status_code == 400


# -- /me -----------------------------------------------------------------------------------------

def membership_rows(page: str) -> list[tuple[str, ...]]:
    table = page.split('<table id="memberships">', 1)[1].split("</table>", 1)[0]
    return [tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in cells)
            for cells in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>",
                                    table)]


def test_me_lists_standing_groups_and_live_grants_until_they_end(
        client: FlaskClient, idp: DemoIdP, db: Database, clock: FrozenClock,
        people: dict[str, str]) -> None:
    ada = AccessClient(client, personal_token(db, ADA))
    bob = AccessClient(client, personal_token(db, BOB))
    asked = ada.post("/requests", {"group": "sandbox-1", "duration": "PT2H"})
    assert bob.post(f"/requests/{asked.get_json()['id']}/approve", {}).status_code == 200
    ends = clock.now() + timedelta(hours=2)
    sign_in(client, idp, attributes=okta_attributes(ADA, groups=["payroll-admins"]))

    page = client.get("/me").get_data(as_text=True)
    assert membership_rows(page) == [
        ("engineering", "from your directory", ""),
        ("payroll-admins", "from sign-in", ""),
        ("sandbox-1", "access grant", f"{ends:%Y-%m-%d %H:%M} UTC"),
    ]
    assert "without multi-factor authentication" in page
    assert "/saml/login?step_up=mfa" in page  # offers to sign in again with MFA

    clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert ("sandbox-1", "access grant", f"{ends:%Y-%m-%d %H:%M} UTC") in membership_rows(
        client.get("/me").get_data(as_text=True))
    clock.advance(timedelta(seconds=1))  # the grant's end: gone at the next request, no sweeper
    assert membership_rows(client.get("/me").get_data(as_text=True)) == [
        ("engineering", "from your directory", ""),
        ("payroll-admins", "from sign-in", ""),
    ]
