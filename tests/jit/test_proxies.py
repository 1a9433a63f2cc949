"""SAML behind proxies: the ACS and redirects stay ours, the sign-in's source IP and the binding
cookie follow ``FRONTDESK_TRUSTED_PROXIES``; an untrusted peer's X-Forwarded-* change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.web.context import get_db
from tests.helpers.audit import events
from tests.helpers.saml import ACS_URL
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import sp_login
from tests.helpers.saml import start_login

CLIENT = "203.0.113.7"
PROXY = "10.0.0.2"
OUTSIDER = "192.0.2.50"
SPOOF = {"HTTP_X_FORWARDED_FOR": CLIENT, "HTTP_X_FORWARDED_PROTO": "http",
         "HTTP_X_FORWARDED_HOST": "evil.example"}


def behind(client: FlaskClient, peer: str, **headers: str) -> FlaskClient:
    """Every request of ``client`` comes from ``peer`` carrying ``headers`` (environ keys)."""
    client.environ_base.update({"REMOTE_ADDR": peer, **headers})
    return client


@pytest.mark.parametrize(("trusted", "peer", "source_ip"), [
    (("10.0.0.0/8",), PROXY, CLIENT),
    (("10.0.0.0/8",), OUTSIDER, OUTSIDER),
    ((), PROXY, PROXY),
    (("1",), PROXY, CLIENT),
])
def test_sp_initiated_sign_in_behind_a_proxy(make_app: Callable[..., Flask], idp: DemoIdP,
                                             trusted: tuple[str, ...], peer: str,
                                             source_ip: str) -> None:
    """A forwarded host never moves the ACS (the AuthnRequest names ours, the response addressed
    to it is accepted, the browser lands on our own path); the sign-in's event names the client
    only when the peer is a trusted proxy."""
    app = make_app(trusted_proxies=trusted)
    client = behind(app.test_client(), peer, **SPOOF)
    assert start_login(client, idp).acs_url == ACS_URL
    response = sp_login(client, idp, "äda@example.com", okta_attributes("äda@example.com"),
                        next_path="/me?tab=groups")
    assert response.status_code == 303
    assert response.headers["Location"] == "/me?tab=groups"
    signed_in = events(get_db(app), "login:success")[-1]
    assert signed_in.source_ip == source_ip


@pytest.mark.parametrize(("trusted", "peer", "secure"), [
    (("10.0.0.0/8",), PROXY, True),
    (("10.0.0.0/8",), OUTSIDER, False),
    ((), PROXY, False),
])
def test_binding_cookie_is_secure_when_a_trusted_proxy_ended_tls(
        make_app: Callable[..., Flask], idp: DemoIdP, trusted: tuple[str, ...], peer: str,
        secure: bool) -> None:
    app = make_app(base_url="http://frontdesk.internal", trusted_proxies=trusted)
    client = behind(FlaskClient(app, app.response_class), peer,
                    HTTP_X_FORWARDED_PROTO="https")
    response = client.get("/saml/login")
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("frontdesk_saml="))
    assert ("; Secure" in cookie) is secure
    assert ("SameSite=None" in cookie) is secure
