"""``FRONTDESK_TRUSTED_PROXIES``: X-Forwarded-* believed from trusted proxies only.

Through the doors: a SCIM write's audit ``sourceIp``, its ``meta.location`` and ``Location``,
the admin session cookie; the peer is set with the test client's ``environ_base``. The walk
itself is also checked as a function, and once over real HTTP under gunicorn.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask import request
from flask.testing import FlaskClient

import config
from app.db import Database
from app.web.context import get_db
from app.web.proxies import forwarded_client
from config.proxies import ProxySettingError
from config.proxies import ProxyTrust
from config.proxies import parse_trusted_proxies
from tests.helpers.audit import events
from tests.helpers.clients import BASE_URL
from tests.helpers.clients import SCIM_HEADERS
from tests.helpers.console import login_link
from tests.helpers.factories import make_token
from tests.helpers.servers import LiveServer

CLIENT = "203.0.113.7"
SPOOFED = "198.51.100.66"
PROXY = "10.0.0.2"
OUTSIDER = "192.0.2.50"  # a peer that is no proxy of ours, sending the same headers


def scim_create(app: Flask, peer: str, headers: dict[str, str], user_name: str
                ) -> tuple[dict[str, Any], str, str | None]:
    """POST a user from ``peer`` with ``headers``; return the body, Location and the audit
    event's source IP."""
    db = get_db(app)
    token = make_token(db)
    client = app.test_client()
    response = client.post("/scim/v2/Users", json={"userName": user_name},
                           headers={**SCIM_HEADERS, "Authorization": f"Bearer {token}",
                                    **headers},
                           environ_base={"REMOTE_ADDR": peer})
    assert response.status_code == 201, response.get_data(as_text=True)
    created = events(db, "user:create")[-1]
    return response.get_json(), response.headers["Location"], created.source_ip


FORWARDED = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "http",
             "X-Forwarded-Host": "evil.example"}


@pytest.mark.parametrize(("trusted", "peer", "headers", "source_ip"), [
    # nobody trusted (the default): the peer, whatever the headers say
    ((), PROXY, FORWARDED, PROXY),
    # networks: a trusted peer's header is believed, an outsider's is not
    (("10.0.0.0/8",), PROXY, FORWARDED, CLIENT),
    (("10.0.0.0/8",), OUTSIDER, FORWARDED, OUTSIDER),
    # a client's own X-Forwarded-For, appended to by our proxies: the rightmost untrusted wins
    (("10.0.0.0/8", "127.0.0.1"), "127.0.0.1",
     {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}, 10.9.9.9"}, CLIENT),
    # a hop count: the n-th address from the right
    (("1",), "127.0.0.1", {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}"}, CLIENT),
    (("2",), "127.0.0.1", {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}, 10.9.9.9"}, CLIENT),
    # too few entries for the count: nothing is believed
    (("2",), "127.0.0.1", {"X-Forwarded-For": CLIENT}, "127.0.0.1"),
    # garbage where an address should be is never stored
    (("1",), "127.0.0.1", {"X-Forwarded-For": "x" * 80}, "127.0.0.1"),
    (("10.0.0.0/8",), PROXY, {"X-Forwarded-For": "not-an-ip"}, PROXY),
    # IPv6 peers and clients
    (("fd00::/8",), "fd00::2", {"X-Forwarded-For": "2001:db8::7"}, "2001:db8::7"),
])
def test_audit_source_ip(make_app: Callable[..., Flask], trusted: tuple[str, ...], peer: str,
                         headers: dict[str, str], source_ip: str) -> None:
    app = make_app(trusted_proxies=trusted)
    _, _, recorded = scim_create(app, peer, headers, "Äda@example.com")
    assert recorded == source_ip


@pytest.mark.parametrize("trusted", [(), ("1",), ("10.0.0.0/8",)])
def test_locations_are_the_base_url_whatever_is_forwarded(make_app: Callable[..., Flask],
                                                          trusted: tuple[str, ...]) -> None:
    """meta.location and Location name FRONTDESK_BASE_URL: a forwarded (or spoofed) host or
    scheme never changes a URL an IdP stores."""
    app = make_app(trusted_proxies=trusted)
    body, location, _ = scim_create(app, PROXY, {**FORWARDED, "Host": "evil.example"},
                                    "Strauß@example.com")
    expected = f"{BASE_URL}/scim/v2/Users/{body['id']}"
    assert body["meta"]["location"] == expected
    assert location == expected


def admin_cookie(client: FlaskClient, runner: CliRunner, peer: str, headers: dict[str, str]
                 ) -> str:
    """Sign in with a login link; return the session's Set-Cookie header."""
    response = client.get(login_link(runner), headers=headers, environ_base={"REMOTE_ADDR": peer})
    assert response.status_code == 303
    cookie: str = response.headers["Set-Cookie"]
    assert cookie.startswith("frontdesk_session=")
    return cookie


@pytest.mark.parametrize(("trusted", "peer", "secure"), [
    (("10.0.0.0/8",), PROXY, True),  # TLS ended at our proxy: the browser spoke https
    (("10.0.0.0/8",), OUTSIDER, False),  # anyone can claim https
    ((), PROXY, False),
    (("1",), PROXY, True),
])
def test_session_cookie_is_secure_when_a_trusted_proxy_says_https(
        make_app: Callable[..., Flask], runner: CliRunner, trusted: tuple[str, ...], peer: str,
        secure: bool) -> None:
    app = make_app(base_url="http://frontdesk.internal", trusted_proxies=trusted)
    cookie = admin_cookie(app.test_client(), runner, peer, {"X-Forwarded-Proto": "https"})
    assert ("; Secure" in cookie) is secure


def test_an_https_base_url_keeps_cookies_secure(make_app: Callable[..., Flask],
                                                runner: CliRunner) -> None:
    """A proxy that says http cannot take Secure away from an https deployment."""
    app = make_app(trusted_proxies=("1",))
    cookie = admin_cookie(app.test_client(), runner, PROXY, {"X-Forwarded-Proto": "http"})
    assert "; Secure" in cookie


def test_a_refused_login_link_names_the_forwarded_client(make_app: Callable[..., Flask],
                                                         db: Database) -> None:
    app = make_app(trusted_proxies=("10.0.0.0/8",))
    response = app.test_client().get("/admin/login/not-a-real-link-secret-000",
                                     headers={"X-Forwarded-For": CLIENT},
                                     environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code == 403
    denied = events(db, "admin:login:denied")[-1]
    assert (denied.source_ip, denied.actor_label) == (CLIENT, CLIENT)


# -- the setting and the walk -----------------------------------------------------------------

@pytest.mark.parametrize(("values", "hops", "networks"), [
    ((), 0, []),
    (("0",), 0, []),
    (("1",), 1, []),
    ((" 2 ",), 2, []),
    (("10.0.0.0/8", "127.0.0.1"), 0, ["10.0.0.0/8", "127.0.0.1/32"]),
    (("10.1.2.3/8", "::1"), 0, ["10.0.0.0/8", "::1/128"]),
])
def test_parse(values: tuple[str, ...], hops: int, networks: list[str]) -> None:
    trust = parse_trusted_proxies(values)
    assert trust.hops == hops
    assert [str(n) for n in trust.networks] == networks
    assert trust.enabled is bool(hops or networks)


@pytest.mark.parametrize("values", [("11",), ("1", "10.0.0.1"), ("proxy.internal",),
                                    ("10.0.0.0/33",), ("-1",)])
def test_parse_refuses(values: tuple[str, ...]) -> None:
    with pytest.raises(ProxySettingError):
        parse_trusted_proxies(values)


TRUST = ProxyTrust(networks=parse_trusted_proxies(("10.0.0.0/8",)).networks)


@pytest.mark.parametrize(("peer", "chain", "expected"), [
    ("10.0.0.1", [], ("10.0.0.1", 1)),  # a proxy that forwarded nothing: itself
    ("10.0.0.1", [CLIENT], (CLIENT, 1)),
    ("10.0.0.1", [SPOOFED, CLIENT, "10.0.0.3"], (CLIENT, 2)),
    ("10.0.0.1", ["10.0.0.4", "10.0.0.3"], ("10.0.0.4", 3)),  # all ours: the leftmost
    ("10.0.0.1", [CLIENT, "garbage", "10.0.0.3"], ("10.0.0.3", 2)),
    ("10.0.0.1", [" 2001:db8::1 "], ("2001:db8::1", 1)),
])
def test_rightmost_untrusted_walk(peer: str, chain: list[str], expected: tuple[str, int]
                                  ) -> None:
    found = forwarded_client(peer, chain, TRUST)
    assert found is not None
    assert (str(found[0]), found[1]) == expected


@pytest.mark.parametrize("peer", [OUTSIDER, "", "unix:/run/x.sock"])
def test_an_untrusted_peer_is_never_walked(peer: str) -> None:
    assert forwarded_client(peer, [CLIENT], TRUST) is None


def test_forwarded_proto_and_host_from_trusted_networks(make_app: Callable[..., Flask]) -> None:
    """The scheme, host and address a request sees: from the outermost trusted proxy of a
    chain of two (as ProxyFix takes them), invalid values ignored, an outsider's ignored."""
    app = make_app(trusted_proxies=("10.0.0.0/8",))
    seen: dict[str, str] = {}

    @app.get("/_proxy_probe")
    def probe() -> str:
        seen.update(scheme=request.scheme, host=request.host, ip=str(request.remote_addr))
        return "ok"

    client = app.test_client()
    client.get("/_proxy_probe", environ_base={"REMOTE_ADDR": PROXY}, headers={
        "X-Forwarded-For": f"{CLIENT}, 10.0.0.9", "X-Forwarded-Proto": "https, http",
        "X-Forwarded-Host": "frontdesk.example.com, internal:8000"})
    assert seen == {"scheme": "https", "host": "frontdesk.example.com", "ip": CLIENT}
    client.get("/_proxy_probe", environ_base={"REMOTE_ADDR": PROXY}, headers={
        "X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "gopher",
        "X-Forwarded-Host": "a b/c"})
    assert seen == {"scheme": "http", "host": "localhost", "ip": CLIENT}
    client.get("/_proxy_probe", environ_base={"REMOTE_ADDR": OUTSIDER}, headers={
        "X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example"})
    assert seen == {"scheme": "http", "host": "localhost", "ip": OUTSIDER}


# -- over real HTTP -----------------------------------------------------------------------------

def live_create(server: LiveServer, token: str, user_name: str, forwarded_for: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - our own server's http URL
        f"{server.url}/scim/v2/Users", method="POST",
        data=json.dumps({"userName": user_name}).encode(),
        headers={**SCIM_HEADERS, "Authorization": f"Bearer {token}",
                 "X-Forwarded-For": forwarded_for})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our server
        assert response.status == 201


@pytest.mark.parametrize(("trusted", "source_ip"), [("127.0.0.1", CLIENT),
                                                    ("10.0.0.0/8", "127.0.0.1")])
def test_under_gunicorn(settings: config.Settings, db: Database,
                        start_server: Callable[[config.Settings], LiveServer], trusted: str,
                        source_ip: str) -> None:
    """gunicorn's peer is 127.0.0.1: trusted, the header names the client; not, it is ignored."""
    server = start_server(dataclasses.replace(settings, trusted_proxies=(trusted,)))
    live_create(server, make_token(db), "Äda@example.com", f"{SPOOFED}, {CLIENT}")
    assert events(db, "user:create")[-1].source_ip == source_ip
