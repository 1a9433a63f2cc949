"""Hostile responses through the door. Each one is refused with a 4xx (never a 500), shows a
stable reason code, writes one ``login:denied`` event with that reason, and changes no user,
link, group or membership — and starts no session.

Edited responses come from ``tests/jit/saml_attacks.py``; wrong-but-validly-signed ones from
the demo IdP's keyword arguments (audience, recipient, times, algorithms, ...).
"""

from __future__ import annotations

import stat
import zlib
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from saml2.s_utils import decode_base64_and_inflate
from saml2.xmldsig import DIGEST_SHA1
from saml2.xmldsig import SIG_RSA_SHA1

import config
from app.clock import FrozenClock
from app.db import Database
from app.web.context import get_db
from jit.demo.idp import encode_response
from jit.sp import XmlSec1Backend
from tests.helpers.audit import events
from tests.helpers.clients import ScimClient
from tests.helpers.reads import snapshot
from tests.helpers.reads import user_by_name
from tests.helpers.reads import user_count
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import post_acs
from tests.helpers.saml import reason_of
from tests.helpers.saml import sp_login
from tests.helpers.saml import start_login
from tests.helpers.saml import with_idp_policy
from tests.jit import saml_attacks as attacks

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
VICTIM = "victim@example.com"
EVIL = attacks.EVIL_NAME_ID  # admin@example.com


@pytest.fixture(autouse=True)
def accounts(scim: ScimClient) -> None:
    """The people attacks aim at exist already: a victim, and an admin to impersonate."""
    for user_name in (VICTIM, EVIL):
        created = scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": user_name})
        assert created.status_code == 201
    assert scim.post("/Groups", json={"displayName": "admins"}).status_code == 201


def signed_xml(idp: DemoIdP, name_id: str = VICTIM, **kwargs: Any) -> str:
    attrs = okta_attributes(name_id, groups=["staff"])
    return idp.response_xml(name_id, attrs, **kwargs)


def refused(client: FlaskClient, db: Database, saml_response: str, reason: str, *,
            status: int | None = None, relay_state: str | None = None) -> Any:
    """POST the response and check everything a refusal must (and must not) do."""
    before = snapshot(db)
    denied_before = len(events(db, "login:denied"))
    successes_before = len(events(db, "login:success"))

    response = post_acs(client, saml_response, relay_state)

    body = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, body[:500])
    if status is not None:
        assert response.status_code == status
    assert reason_of(response) == reason, body[:800]
    assert "Location" not in response.headers
    denied = events(db, "login:denied")
    assert len(denied) == denied_before + 1
    assert denied[-1].reason == reason
    assert denied[-1].outcome == "denied"
    assert len(events(db, "login:success")) == successes_before
    assert snapshot(db) == before
    assert client.get("/me").status_code == 401
    return response


# -- signatures -------------------------------------------------------------------------------

def test_unsigned(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    refused(client, db, encode_response(signed_xml(idp, sign_assertion=False)), "signature")


@pytest.mark.parametrize("signed", ["assertion", "response", "both"])
def test_signature_stripped(client: FlaskClient, idp: DemoIdP, db: Database,
                            signed: str) -> None:
    xml = signed_xml(idp, sign_assertion=signed != "response",
                     sign_response=signed != "assertion")
    refused(client, db, encode_response(attacks.strip_signatures(xml)), "signature")


def test_signature_stripped_even_when_response_signature_only(
        make_app: Callable[..., Flask], settings: config.Settings, idp: DemoIdP,
        db: Database) -> None:
    client = make_app(with_idp_policy(settings, idp.entity_id,
                                      response_signature_only=True)).test_client()
    xml = signed_xml(idp, sign_assertion=False, sign_response=True)
    refused(client, db, encode_response(attacks.strip_signatures(xml)), "signature")
    refused(client, db, encode_response(signed_xml(idp, sign_assertion=False)), "signature")


def test_name_id_tampered_after_signing(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    refused(client, db, encode_response(attacks.tamper_name_id(signed_xml(idp), EVIL)),
            "signature")


def test_groups_tampered_after_signing(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    xml = attacks.tamper_attribute(signed_xml(idp), "groups", ["staff", "admins"])
    refused(client, db, encode_response(xml), "signature")


def test_resigned_with_an_untrusted_key(client: FlaskClient, idp: DemoIdP, db: Database,
                                        tmp_path: Path) -> None:
    key, cert = attacks.untrusted_keypair(tmp_path)
    xml = attacks.tamper_name_id(signed_xml(idp), EVIL)
    refused(client, db, encode_response(attacks.resign(xml, key, cert)), "signature")


def test_rogue_idp_with_the_trusted_entity_id(client: FlaskClient, rogue_idp: DemoIdP,
                                              db: Database) -> None:
    refused(client, db, rogue_idp.response(EVIL, okta_attributes(EVIL)), "signature")


@pytest.mark.parametrize("variant", attacks.XSW_VARIANTS)
def test_xml_signature_wrapping(client: FlaskClient, idp: DemoIdP, db: Database,
                                variant: int) -> None:
    if variant in (1, 2):
        xml = signed_xml(idp, sign_assertion=False, sign_response=True)
    else:
        xml = signed_xml(idp)
    refused(client, db, encode_response(attacks.xsw(xml, variant)), "malformed")
    assert user_by_name(db, EVIL) is not None and user_by_name(db, EVIL).last_login_at is None


@pytest.mark.parametrize("variant", [1, 2])
def test_response_signature_wrapping_when_response_signature_only(
        make_app: Callable[..., Flask], settings: config.Settings, idp: DemoIdP,
        db: Database, variant: int) -> None:
    client = make_app(with_idp_policy(settings, idp.entity_id,
                                      response_signature_only=True)).test_client()
    for sign_assertion in (False, True):
        xml = signed_xml(idp, sign_assertion=sign_assertion, sign_response=True)
        refused(client, db, encode_response(attacks.xsw(xml, variant)), "malformed")


def test_response_signature_only_is_refused_by_default(client: FlaskClient, idp: DemoIdP,
                                                       db: Database) -> None:
    xml = signed_xml(idp, sign_assertion=False, sign_response=True)
    refused(client, db, encode_response(xml), "signature")


def test_response_signature_only_accepted_when_configured_for_that_idp(
        make_app: Callable[..., Flask], two_idp_settings: config.Settings, idp: DemoIdP,
        idp_b: DemoIdP, db: Database) -> None:
    settings = with_idp_policy(two_idp_settings, idp.entity_id, response_signature_only=True)
    client = make_app(settings).test_client()
    response = post_acs(client, encode_response(
        signed_xml(idp, sign_assertion=False, sign_response=True)))
    assert response.status_code == 303
    user = user_by_name(db, VICTIM)
    assert user is not None and user.last_login_at is not None
    # Only for that IdP: IdP B still needs a signed assertion.
    other = client.application.test_client()
    refused(other, db, encode_response(
        signed_xml(idp_b, "b@b.example", sign_assertion=False, sign_response=True)),
        "signature")


# -- validity window --------------------------------------------------------------------------

def test_expired(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    now = datetime.now(UTC)
    refused(client, db, encode_response(signed_xml(
        idp, not_before=now - timedelta(minutes=20), not_on_or_after=now - timedelta(minutes=5))),
        "expired")
    refused(client, db, encode_response(signed_xml(idp, clock_shift=timedelta(hours=-1))),
            "expired")


def test_not_yet_valid_beyond_the_skew(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    now = datetime.now(UTC)
    refused(client, db, encode_response(signed_xml(
        idp, not_before=now + timedelta(minutes=5), not_on_or_after=now + timedelta(minutes=10))),
        "not_yet_valid")
    refused(client, db, encode_response(signed_xml(idp, clock_shift=timedelta(seconds=150))),
            "not_yet_valid")


@pytest.mark.parametrize("shift", [timedelta(seconds=30), timedelta(seconds=-30)])
def test_clock_differences_within_the_skew_are_accepted(client: FlaskClient, idp: DemoIdP,
                                                       db: Database, shift: timedelta) -> None:
    # Skew is 60 s: an IdP clock 30 s ahead, or an assertion that ran out 30 s ago, is fine.
    now = datetime.now(UTC)
    if shift > timedelta(0):
        xml = signed_xml(idp, clock_shift=shift)
    else:
        xml = signed_xml(idp, not_before=now - timedelta(minutes=5), not_on_or_after=now + shift)
    assert post_acs(client, encode_response(xml)).status_code == 303


def test_skew_is_configurable(make_app: Callable[..., Flask], idp: DemoIdP,
                              db: Database) -> None:
    client = make_app(saml_clock_skew_seconds=5).test_client()
    refused(client, db, encode_response(signed_xml(idp, clock_shift=timedelta(seconds=30))),
            "not_yet_valid")


# -- audience, recipient, destination, issuer -------------------------------------------------

@pytest.mark.parametrize("audience", ["https://other.example/saml/metadata", [],
                                      ["https://frontdesk.example.com/saml/metadata/x"]])
def test_wrong_or_missing_audience(client: FlaskClient, idp: DemoIdP, db: Database,
                                   audience: Any) -> None:
    refused(client, db, encode_response(signed_xml(idp, audience=audience)), "audience")


@pytest.mark.parametrize("recipient", ["https://other.example/saml/acs", "",
                                       "https://frontdesk.example.com/saml/acs/"])
def test_wrong_or_missing_recipient(client: FlaskClient, idp: DemoIdP, db: Database,
                                    recipient: str) -> None:
    refused(client, db, encode_response(signed_xml(idp, recipient=recipient)), "recipient")


@pytest.mark.parametrize("destination", ["https://other.example/saml/acs", "",
                                         "http://frontdesk.example.com/saml/acs"])
def test_wrong_or_missing_destination(client: FlaskClient, idp: DemoIdP, db: Database,
                                      destination: str) -> None:
    xml = signed_xml(idp, destination=destination, sign_response=True)
    refused(client, db, encode_response(xml), "destination")


def test_unknown_issuer(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    refused(client, db, encode_response(signed_xml(idp, issuer="https://evil.example/metadata")),
            "untrusted_issuer", status=403)


def test_issuer_of_another_trusted_idp_with_the_wrong_key(
        make_app: Callable[..., Flask], two_idp_settings: config.Settings, idp: DemoIdP,
        idp_b: DemoIdP, db: Database) -> None:
    client = make_app(two_idp_settings).test_client()
    # IdP B signs, but claims to be IdP A.
    refused(client, db, encode_response(signed_xml(idp_b, issuer=idp.entity_id)), "signature")


# -- replay and InResponseTo ------------------------------------------------------------------

def test_replay_is_refused(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    saml_response = encode_response(signed_xml(idp))
    assert post_acs(client, saml_response).status_code == 303
    other = client.application.test_client()
    refused(other, db, saml_response, "replay")


def test_replay_of_an_sp_initiated_response_is_refused(client: FlaskClient, idp: DemoIdP,
                                                       db: Database) -> None:
    info = start_login(client, idp)
    saml_response = idp.response(VICTIM, okta_attributes(VICTIM), in_response_to=info.id)
    assert post_acs(client, saml_response).status_code == 303
    client.post("/saml/logout", data={"csrf": client.get("/me").get_data(as_text=True)
                                      .split('name="csrf" value="', 1)[1].split('"', 1)[0]})
    refused(client, db, saml_response, "replay")


def test_unknown_in_response_to(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    start_login(client, idp)  # a real request exists, bound to this browser; not this one
    response = refused(client, db, encode_response(signed_xml(idp, in_response_to="id-forged")),
                       "in_response_to")
    assert "unknown" in response.get_data(as_text=True)


def test_reused_in_response_to(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    info = start_login(client, idp)
    cookie = client.get_cookie("frontdesk_saml", domain="frontdesk.example.com",
                               path="/saml/acs")
    assert cookie is not None
    assert post_acs(client, idp.response(VICTIM, in_response_to=info.id)).status_code == 303
    client.get("/me")
    # A second, fresh assertion for the same request, from the same browser (cookie kept).
    client.set_cookie("frontdesk_saml", cookie.value, domain="frontdesk.example.com",
                      path="/saml/acs")
    client.delete_cookie("frontdesk_session", domain="frontdesk.example.com")
    response = refused(client, db, idp.response(VICTIM, in_response_to=info.id),
                       "in_response_to")
    assert "reused" in response.get_data(as_text=True)


def test_in_response_to_of_another_browser(client: FlaskClient, idp: DemoIdP,
                                           db: Database) -> None:
    info = start_login(client, idp)
    saml_response = idp.response(VICTIM, okta_attributes(VICTIM), in_response_to=info.id)

    stranger = client.application.test_client()
    response = refused(stranger, db, saml_response, "in_response_to")  # no cookie at all
    assert "foreign" in response.get_data(as_text=True)
    start_login(stranger, idp)  # the stranger's own cookie, for its own request
    refused(stranger, db, idp.response(VICTIM, in_response_to=info.id), "in_response_to")

    # The request is still good for the browser that made it.
    assert post_acs(client, idp.response(VICTIM, in_response_to=info.id)).status_code == 303


def test_request_sent_to_one_idp_answered_by_another(
        make_app: Callable[..., Flask], two_idp_settings: config.Settings, idp: DemoIdP,
        idp_b: DemoIdP, db: Database) -> None:
    client = make_app(two_idp_settings).test_client()
    info = start_login(client, idp_b, choose=True)
    response = refused(client, db, idp.response(VICTIM, in_response_to=info.id),
                       "in_response_to")
    assert "foreign" in response.get_data(as_text=True)


def test_expired_request(make_app: Callable[..., Flask], idp: DemoIdP, db: Database) -> None:
    expiring = make_app(saml_request_ttl_seconds=60)
    clock = get_db(expiring).clock = FrozenClock()
    client = expiring.test_client()
    info = start_login(client, idp)
    cookie = client.get_cookie("frontdesk_saml", domain="frontdesk.example.com",
                               path="/saml/acs")
    assert cookie is not None
    clock.advance(timedelta(seconds=61))  # the stored request's expiry, not the cookie's
    client.set_cookie("frontdesk_saml", cookie.value, domain="frontdesk.example.com",
                      path="/saml/acs")
    response = refused(client, db, idp.response(VICTIM, in_response_to=info.id),
                       "in_response_to")
    assert "expired" in response.get_data(as_text=True)


def _without_response_in_response_to(xml: str, replacement: str = "") -> str:
    """Drop (or replace) InResponseTo on the unsigned Response element only; the signed
    Assertion's SubjectConfirmationData keeps its own."""
    head, sep, rest = xml.partition("<ns1:Issuer")
    assert sep and 'InResponseTo="' in head
    start = head.index(' InResponseTo="')
    end = head.index('"', start + len(' InResponseTo="'))
    new_attr = f' InResponseTo="{replacement}"' if replacement else ""
    return head[:start] + new_attr + head[end + 1:] + sep + rest


def test_stolen_sp_initiated_assertion_cannot_pass_as_idp_initiated(
        client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    info = start_login(client, idp)
    xml = signed_xml(idp, in_response_to=info.id)  # assertion signed, Response not

    stranger = client.application.test_client()
    refused(stranger, db, encode_response(_without_response_in_response_to(xml)),
            "in_response_to")


def test_stolen_assertion_cannot_answer_the_thiefs_own_request(
        client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    victim_request = start_login(client, idp)
    xml = signed_xml(idp, in_response_to=victim_request.id)

    thief = client.application.test_client()
    thief_request = start_login(thief, idp)
    forged = _without_response_in_response_to(xml, thief_request.id)
    refused(thief, db, encode_response(forged), "in_response_to")


# -- parser attacks ---------------------------------------------------------------------------

@pytest.mark.parametrize("attack", [attacks.add_doctype, attacks.xxe, attacks.billion_laughs])
def test_dtds_and_entities(client: FlaskClient, idp: DemoIdP, db: Database,
                           attack: Callable[[str], str]) -> None:
    refused(client, db, encode_response(attack(signed_xml(idp))), "doctype")


def test_sha1_signature_or_digest(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    refused(client, db, encode_response(signed_xml(idp, sign_alg=SIG_RSA_SHA1)), "algorithm")
    refused(client, db, encode_response(signed_xml(idp, digest_alg=DIGEST_SHA1)), "algorithm")
    refused(client, db, encode_response(
        signed_xml(idp, sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1, sign_response=True)),
        "algorithm")


def test_oversized_body(client: FlaskClient, settings: config.Settings, db: Database) -> None:
    limit = settings.saml_max_body_bytes
    # Just over the decoded limit; and far over it (refused before the form is parsed).
    just_over = attacks.oversized_body((limit + 64) // 3 * 4)
    refused(client, db, just_over, "too_large", status=413)
    refused(client, db, attacks.oversized_body(4 * limit), "too_large", status=413)
    refused(client, db, attacks.oversized_body(2 * 2**20), "too_large", status=413)


def test_deflate_bomb_is_refused_without_inflating(client: FlaskClient, db: Database,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """pysaml2 tries raw DEFLATE on POSTed bodies with no size limit; the SP must never let it.
    Any inflation in this process fails the test, so the proof needs no stopwatch."""
    def no_inflating(*_: Any, **__: Any) -> Any:
        raise AssertionError("a POSTed SAMLResponse was inflated")

    monkeypatch.setattr(zlib, "decompress", no_inflating)
    monkeypatch.setattr(zlib, "decompressobj", no_inflating)
    bomb = attacks.deflate_bomb()
    with pytest.raises(AssertionError, match="inflated"):  # the trap holds pysaml2's inflater
        decode_base64_and_inflate(bomb)
    refused(client, db, bomb, "malformed")


@pytest.mark.parametrize("value", ["!!!notbase64!!!", "PHg+PHg", "PHg+====", "PHg+\x00",
                                   "ÿØÿà", "PHg+" * 3 + "P", " "])
def test_malformed_base64(client: FlaskClient, db: Database, value: str) -> None:
    refused(client, db, value, "malformed")


def test_missing_saml_response(client: FlaskClient, db: Database) -> None:
    before = snapshot(db)
    for data in ({}, {"SAMLResponse": ""}, {"RelayState": "/me"}):
        response = client.post("/saml/acs", data=data)
        assert response.status_code == 400
        assert reason_of(response) == "malformed"
    assert snapshot(db) == before
    assert [e.reason for e in events(db, "login:denied")] == ["malformed"] * 3


@pytest.mark.parametrize("xml", [
    "<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'><unclosed>",
    "hello world",
    "<html><body>not saml</body></html>",
    "<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>",
    "<samlp:AuthnRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>",
    "<?xml version='1.0' encoding='UTF-8'?>\n<a>",
])
def test_malformed_xml(client: FlaskClient, db: Database, xml: str) -> None:
    refused(client, db, encode_response(xml), "malformed")


@pytest.mark.parametrize("name_id", ["", "   "])
def test_empty_name_id(client: FlaskClient, idp: DemoIdP, db: Database, name_id: str) -> None:
    refused(client, db, encode_response(idp.response_xml(name_id, okta_attributes(VICTIM))),
            "name_id")


def test_empty_name_id_resigned(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    xml = attacks.resign(attacks.empty_name_id(signed_xml(idp)), idp.key_path, idp.cert_path)
    refused(client, db, encode_response(xml), "name_id")


def test_name_id_with_control_characters(client: FlaskClient, idp: DemoIdP,
                                         db: Database) -> None:
    for name_id in ("victim\t@example.com", "victim\x7f@example.com", "vic\ntim@example.com",
                    "vic\x9btim@example.com"):
        refused(client, db, encode_response(signed_xml(idp, name_id)), "name_id")


def test_name_id_too_long(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    refused(client, db, encode_response(signed_xml(idp, "a" * 300 + "@example.com")),
            "name_id")


def _unsigned_response(idp: DemoIdP, inner: str) -> str:
    return (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
        ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0"'
        ' IssueInstant="2026-01-01T00:00:00Z"'
        ' Destination="https://frontdesk.example.com/saml/acs">'
        f"<saml:Issuer>{idp.entity_id}</saml:Issuer>{inner}</samlp:Response>"
    )


@pytest.mark.parametrize("code", ["Responder", "Requester", "VersionMismatch"])
def test_failed_sign_in_at_the_idp(client: FlaskClient, idp: DemoIdP, db: Database,
                                   code: str) -> None:
    # What Okta or Entra post when the person cancels or has no access: no assertion.
    xml = _unsigned_response(idp, (
        f'<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{code}">'
        '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/>'
        "</samlp:StatusCode><samlp:StatusMessage>cancelled</samlp:StatusMessage>"
        "</samlp:Status>"))
    refused(client, db, encode_response(xml), "idp_status")


def test_encrypted_assertion_is_unsupported(client: FlaskClient, idp: DemoIdP,
                                            db: Database) -> None:
    xml = _unsigned_response(idp, (
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        '</samlp:Status><saml:EncryptedAssertion><xenc:EncryptedData'
        ' xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>'))
    refused(client, db, encode_response(xml), "unsupported")


def test_acs_wants_a_form_post(client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    saml_response = encode_response(signed_xml(idp))
    in_url = client.get("/saml/acs", query_string={"SAMLResponse": saml_response})
    assert in_url.status_code == 405
    assert in_url.mimetype == "text/html"
    assert "must be POSTed, never sent in the URL" in in_url.get_data(as_text=True)
    response = client.post("/saml/acs", json={"SAMLResponse": saml_response})
    assert response.status_code == 400
    assert reason_of(response) == "malformed"
    assert user_count(db) == 2


def test_name_id_comment_injection_resolves_to_the_whole_text(
        client: FlaskClient, idp: DemoIdP, db: Database) -> None:
    # The IdP signed "victim@example.com.evil.test"; a naive SP reads "victim@example.com".
    signed_for = VICTIM + ".evil.test"
    xml = attacks.comment_in_name_id(signed_xml(idp, signed_for), VICTIM)
    victim_before = user_by_name(db, VICTIM)

    response = post_acs(client, encode_response(xml))

    # Frontdesk reads the whole text: it signs in the person the IdP vouched for.
    assert response.status_code == 303
    victim_after = user_by_name(db, VICTIM)
    assert victim_before is not None and victim_after is not None
    assert (victim_after.version, victim_after.last_login_at) == (victim_before.version, None)
    created = user_by_name(db, signed_for)
    assert created is not None and created.source == "jit"
    assert "<td>" + signed_for + "</td>" in client.get("/me").get_data(as_text=True)


# -- RelayState -------------------------------------------------------------------------------

@pytest.mark.parametrize("relay_state", [
    "https://evil.example", "https://evil.example/me", "//evil.example", "///evil.example",
    "/\\evil.example", "\\\\evil.example", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
    "\t//evil.example", " //evil.example", "/\t/evil.example", "/\r\n/evil.example",
    "/me\r\nSet-Cookie: x=1", "data:text/html,<script>alert(1)</script>", "evil.example",
    "https:evil.example", "/%0d%0aLocation:%20https://evil.example", "",
])
def test_relay_state_never_redirects_off_site(client: FlaskClient, idp: DemoIdP, db: Database,
                                              relay_state: str) -> None:
    response = post_acs(client, encode_response(signed_xml(idp)), relay_state)
    assert response.status_code == 303
    location = response.headers["Location"]
    if relay_state.startswith("/%0d"):
        assert location == relay_state  # percent-encoded: a harmless same-site path
    else:
        assert location == "/me"


def test_relay_state_same_site_path_is_followed(client: FlaskClient, idp: DemoIdP) -> None:
    response = post_acs(client, encode_response(signed_xml(idp)), "/me?tab=groups")
    assert response.headers["Location"] == "/me?tab=groups"


def test_relay_state_cannot_override_the_stored_next(client: FlaskClient, idp: DemoIdP) -> None:
    response = sp_login(client, idp, VICTIM, okta_attributes(VICTIM), next_path="/me?x=1")
    assert response.headers["Location"] == "/me?x=1"
    info = start_login(client, idp, next_path="/me?y=2")
    response = post_acs(client, idp.response(VICTIM, in_response_to=info.id),
                        "https://evil.example")
    assert response.headers["Location"] == "/me?y=2"


def test_no_attack_created_a_user(client: FlaskClient, db: Database) -> None:
    assert user_count(db) == 2


def test_xmlsec1_runs_without_the_system_ca_store(tmp_path: Path) -> None:
    """The SP's xmlsec1 child gets an empty OpenSSL trust store (it loaded every system CA per
    verification); the rest of the environment is passed on. A stand-in binary reports both."""
    fake = tmp_path / "xmlsec1"
    fake.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "xmlsec1 1.3.0"; exit 0; fi\n'
                    'echo "file=$SSL_CERT_FILE dir=$SSL_CERT_DIR path=${PATH:+set}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    out, err, _ = XmlSec1Backend(str(fake))._run_xmlsec([str(fake), "--verify"], [])
    assert out.strip() == "file=/dev/null dir=/dev/null path=set"
    assert err == ""
