"""SAML against real gunicorn (2 workers) over real HTTP: a login, some attacks, and the races
that only several processes can produce — one response posted 50 times at once, and several
first logins of one new person at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import httpx

from app.db import Database
from jit.demo.idp import encode_response
from tests.helpers.audit import events
from tests.helpers.reads import links
from tests.helpers.reads import users
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.servers import LiveServer
from tests.jit import saml_attacks as attacks

ADA = "ada@example.com"


def post(server: LiveServer, saml_response: str, client: httpx.Client | None = None,
         relay_state: str | None = None) -> httpx.Response:
    data = {"SAMLResponse": saml_response}
    if relay_state is not None:
        data["RelayState"] = relay_state
    if client is not None:
        return client.post("/saml/acs", data=data)
    return httpx.post(f"{server.url}/saml/acs", data=data, timeout=30)


def page_reason(response: httpx.Response) -> str | None:
    marker = "Reason code: <code>"
    if marker not in response.text:
        return None
    return response.text.split(marker, 1)[1].split("</code>", 1)[0]


def at_once(n: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run ``call(i)`` for i < n on n threads released together."""
    barrier = threading.Barrier(n)

    def run(i: int) -> httpx.Response:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_sp_initiated_login_over_http(saml_live_server: LiveServer, live_idp: DemoIdP,
                                      db: Database) -> None:
    with httpx.Client(base_url=saml_live_server.url, timeout=30) as browser:
        start = browser.get("/saml/login", params={"next": "/me?x=1"})
        assert start.status_code == 302
        location = urlsplit(start.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == live_idp.sso_url
        info = live_idp.parse_authn_request(parse_qs(location.query)["SAMLRequest"][0])

        response = post(saml_live_server, live_idp.response(
            ADA, okta_attributes(ADA, groups=["eng"]), in_response_to=info.id), browser)

        assert response.status_code == 303, response.text
        assert response.headers["Location"] == "/me?x=1"
        me = browser.get("/me")
        assert me.status_code == 200
        assert "Signed in as Ada Lovelace" in me.text
    [user] = users(db)
    assert links(db, user.id) == [(live_idp.entity_id, ADA)]


def test_attacks_over_http(saml_live_server: LiveServer, live_idp: DemoIdP,
                           db: Database) -> None:
    signed = live_idp.response_xml(ADA, okta_attributes(ADA))
    cases: list[tuple[str, str, int]] = [
        (encode_response(attacks.strip_signatures(signed)), "signature", 400),
        (encode_response(attacks.xsw(signed, 4)), "malformed", 400),
        (encode_response(attacks.xxe(signed)), "doctype", 400),
        (encode_response(live_idp.response_xml(ADA, audience="https://other.example/sp")),
         "audience", 400),
        (attacks.oversized_body(2 * 2**20), "too_large", 413),
    ]
    for saml_response, reason, status in cases:
        response = post(saml_live_server, saml_response)
        assert (response.status_code, page_reason(response)) == (status, reason)

    # A chunked body (no Content-Length) far over every limit.
    body = ("SAMLResponse=" + attacks.oversized_body(2 * 2**20)).encode()
    chunked = httpx.post(f"{saml_live_server.url}/saml/acs", timeout=30,
                         content=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (chunked.status_code, page_reason(chunked)) == (413, "too_large")

    bomb = attacks.deflate_bomb()
    response = post(saml_live_server, bomb)  # never inflated: test_attacks proves it in-process
    assert (response.status_code, page_reason(response)) == (400, "malformed")

    assert users(db) == []
    assert [e.reason for e in events(db, "login:denied")] == [
        "signature", "malformed", "doctype", "audience", "too_large", "too_large", "malformed"]


def test_one_response_posted_50_times_at_once_logs_in_once(
        saml_live_server: LiveServer, live_idp: DemoIdP, db: Database) -> None:
    saml_response = live_idp.response(ADA, okta_attributes(ADA))

    with httpx.Client(base_url=saml_live_server.url, timeout=60,
                      limits=httpx.Limits(max_connections=50)) as client:
        responses = at_once(50, lambda _i: post(saml_live_server, saml_response, client))

    outcomes = Counter((r.status_code, page_reason(r)) for r in responses)
    assert outcomes == {(303, None): 1, (400, "replay"): 49}, outcomes
    assert len(users(db)) == 1
    assert len(events(db, "login:success")) == 1
    assert len(events(db, "jit:user:create")) == 1
    assert Counter(e.reason for e in events(db, "login:denied")) == {"replay": 49}


def test_concurrent_first_logins_of_one_person_create_one_user(
        saml_live_server: LiveServer, live_idp: DemoIdP, db: Database) -> None:
    n = 8
    saml_responses = [live_idp.response(ADA, okta_attributes(ADA)) for _ in range(n)]

    def login(i: int) -> httpx.Response:
        with httpx.Client(base_url=saml_live_server.url, timeout=60) as browser:
            return post(saml_live_server, saml_responses[i], browser)

    responses = at_once(n, login)

    statuses: Any = Counter((r.status_code, page_reason(r)) for r in responses)
    assert statuses == {(303, None): n}, statuses
    [user] = users(db)
    assert links(db, user.id) == [(live_idp.entity_id, ADA)]
    assert len(events(db, "jit:user:create")) == 1
    assert len(events(db, "login:success")) == n
    assert events(db, "login:denied") == []
