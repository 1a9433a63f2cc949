"""Throttling of failed authentication: per source address, shared through the database.

Bad bearer tokens (SCIM, /api) and bad console login links are answered 401/403 up to the limit
(20 a minute by default), then 429 with ``Retry-After`` until the window ends; a valid credential
always passes. Time moves through the database's clock (``FrozenClock``), never by sleeping.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import config
from app.audit.events import AuditAction
from app.clock import FrozenClock
from app.db import Database
from app.jobs import run_due
from app.models import AuthFailure
from app.throttle import BEARER
from app.throttle import LOGIN_LINK
from app.throttle import Limit
from app.throttle import add_failure_listener
from app.throttle import record_failure
from app.throttle import remove_failure_listener
from app.web.context import get_db
from tests.helpers.audit import events
from tests.helpers.console import login_link
from tests.helpers.factories import make_token
from tests.helpers.servers import LiveServer

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WRONG = "fd_000000000000_" + "x" * 43  # well-formed, unknown
OTHER_SOURCE = {"REMOTE_ADDR": "192.0.2.7"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clock(db: Database) -> FrozenClock:
    frozen = FrozenClock(START)
    db.clock = frozen
    return frozen


def rows(db: Database) -> list[tuple[str, str, int]]:
    with db.read_session() as session:
        found = session.execute(select(AuthFailure.kind, AuthFailure.source,
                                       AuthFailure.failures).order_by(AuthFailure.kind))
        return [tuple(row) for row in found]  # type: ignore[misc]


def test_a_thousand_wrong_tokens_are_401_then_429_and_a_valid_token_still_works(
        client: FlaskClient, db: Database, token: str, clock: FrozenClock) -> None:
    answers = [client.get("/scim/v2/Users", headers=bearer(WRONG)) for _ in range(1000)]
    assert [r.status_code for r in answers] == [401] * 20 + [429] * 980
    assert answers[19].get_json() == {
        "schemas": [ERROR], "status": "401",
        "detail": "the token is not valid (unknown, revoked or malformed)"}
    throttled = answers[20]
    assert throttled.headers["Retry-After"] == "60"
    assert throttled.headers["Content-Type"] == "application/scim+json; charset=utf-8"
    assert throttled.get_json() == {
        "schemas": [ERROR], "status": "429",
        "detail": "too many failed authentications from this address; try again later"}
    assert "Retry-After" not in answers[19].headers
    # Counting stops at the limit: refusals past it are answered from a read.
    assert rows(db) == [(BEARER, "127.0.0.1", 20)]

    # The IdP's valid token is never throttled, from the same address, in the same window.
    valid = client.get("/scim/v2/Users", headers=bearer(token))
    assert valid.status_code == 200, valid.get_data(as_text=True)

    clock.advance(timedelta(seconds=59))
    late = client.get("/scim/v2/Users", headers=bearer(WRONG))
    assert (late.status_code, late.headers["Retry-After"]) == (429, "1")
    clock.advance(timedelta(seconds=1))  # the window has ended: a new one starts
    assert client.get("/scim/v2/Users", headers=bearer(WRONG)).status_code == 401
    assert rows(db) == [(BEARER, "127.0.0.1", 1)]


def test_the_count_is_per_source_address(client: FlaskClient, db: Database,
                                         clock: FrozenClock) -> None:
    for _ in range(21):
        client.get("/scim/v2/Users", headers=bearer(WRONG))
    assert client.get("/scim/v2/Users", headers=bearer(WRONG)).status_code == 429
    other = client.get("/scim/v2/Users", headers=bearer(WRONG), environ_base=OTHER_SOURCE)
    assert other.status_code == 401
    assert rows(db) == [(BEARER, "127.0.0.1", 20), (BEARER, "192.0.2.7", 1)]


def test_two_app_instances_on_one_database_share_the_count(
        app: Flask, make_app: Callable[..., Flask], token: str, clock: FrozenClock) -> None:
    other = make_app()  # a second instance: its own Database handle, the same database
    get_db(other).clock = clock
    clients = [app.test_client(), other.test_client()]
    statuses = [clients[i % 2].get("/scim/v2/Users", headers=bearer(WRONG)).status_code
                for i in range(30)]
    assert statuses == [401] * 20 + [429] * 10
    assert [c.get("/scim/v2/Users", headers=bearer(token)).status_code
            for c in clients] == [200, 200]


def test_scim_and_the_apis_count_together_and_answer_in_their_own_format(
        client: FlaskClient, db: Database, clock: FrozenClock) -> None:
    statuses = []
    for i in range(21):
        path = ("/scim/v2/Users", "/api/audit", "/api/access/requests")[i % 3]
        statuses.append(client.get(path, headers=bearer(WRONG)).status_code)
    assert statuses == [401] * 20 + [429]
    audit = client.get("/api/audit", headers=bearer(WRONG))
    assert (audit.status_code, audit.headers["Retry-After"]) == (429, "60")
    assert audit.get_json() == {
        "status": 429,
        "detail": "too many failed authentications from this address; try again later"}
    access = client.get("/api/access/requests", headers=bearer(WRONG))
    assert (access.status_code, access.headers["Retry-After"]) == (429, "60")
    assert access.get_json()["error"] == "too_many_requests"
    # A malformed Authorization header is a failed attempt too.
    basic = client.get("/scim/v2/Users", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 429


def test_no_credential_at_all_is_not_counted(client: FlaskClient, db: Database,
                                             clock: FrozenClock) -> None:
    assert {client.get("/scim/v2/Users").status_code for _ in range(30)} == {401}
    assert rows(db) == []


def test_a_limit_of_zero_turns_the_throttle_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(auth_failure_limit=0).test_client()
    assert {client.get("/scim/v2/Users", headers=bearer(WRONG)).status_code
            for _ in range(30)} == {401}


def test_login_links_are_throttled_and_a_valid_link_still_works(
        client: FlaskClient, db: Database, runner: CliRunner, clock: FrozenClock) -> None:
    bad = [client.get(f"/admin/login/guess-{i:04d}-Äda-Strauß") for i in range(25)]
    assert [r.status_code for r in bad] == [403] * 20 + [429] * 5
    assert "Too many attempts" in bad[20].get_data(as_text=True)
    assert bad[20].headers["Retry-After"] == "60"
    assert bad[20].mimetype == "text/html"
    # The first twenty are audited; a flood past the limit is only logged.
    assert len(events(db, AuditAction.ADMIN_LOGIN_DENIED)) == 20
    assert rows(db) == [(LOGIN_LINK, "127.0.0.1", 20)]
    # Bearer failures are counted apart: the console's guesses do not lock out the IdP.
    assert client.get("/scim/v2/Users", headers=bearer(WRONG)).status_code == 401

    good = client.get(login_link(runner))
    assert (good.status_code, good.headers["Location"]) == (303, "/admin/audit")


def test_failures_are_logged_without_the_credential(
        client: FlaskClient, clock: FrozenClock) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logging.getLogger("frontdesk").addHandler(handler)
    try:
        for _ in range(21):
            client.get("/scim/v2/Users", headers=bearer(WRONG))
    finally:
        logging.getLogger("frontdesk").removeHandler(handler)
    failed = [r for r in seen if r.getMessage() == "authentication failed"]
    assert len(failed) == 21
    fields = [r.fields for r in failed]  # type: ignore[attr-defined]
    assert [f["throttled"] for f in fields] == [False] * 20 + [True]
    assert fields[0]["kind"] == BEARER and fields[0]["ip"] == "127.0.0.1"
    assert all(f["request_id"] for f in fields)
    assert not any(WRONG in json.dumps(f) or "xxxxxxxx" in json.dumps(f) for f in fields)


def test_a_listener_sees_every_failure(client: FlaskClient, clock: FrozenClock) -> None:
    """The hook a failed-authentication counter (metrics) counts from."""
    heard: list[tuple[str, bool]] = []

    def listener(kind: str, throttled: bool) -> None:
        heard.append((kind, throttled))

    add_failure_listener(listener)
    try:
        for _ in range(22):
            client.get("/scim/v2/Users", headers=bearer(WRONG))
        client.get("/admin/login/not-a-link")
    finally:
        remove_failure_listener(listener)
    assert heard == [(BEARER, False)] * 20 + [(BEARER, True)] * 2 + [(LOGIN_LINK, False)]


def test_concurrent_failures_are_each_counted_once(db: Database, clock: FrozenClock) -> None:
    """The upsert has no read-modify-write race: 8 threads x 25 failures count 200."""
    limit = Limit(10_000, timedelta(minutes=1))
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            for _ in range(25):
                record_failure(db, BEARER, "198.51.100.1", limit)
        except BaseException as err:  # noqa: BLE001 - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert rows(db) == [(BEARER, "198.51.100.1", 200)]


def test_the_jobs_prune_ended_windows_only(client: FlaskClient, db: Database,
                                           clock: FrozenClock) -> None:
    client.get("/scim/v2/Users", headers=bearer(WRONG))
    clock.advance(timedelta(seconds=30))
    client.get("/scim/v2/Users", headers=bearer(WRONG), environ_base=OTHER_SOURCE)
    assert run_due(db).throttle_pruned == 0
    clock.advance(timedelta(seconds=30))  # the first window ends now, the second in 30 s
    assert run_due(db).throttle_pruned == 1
    assert rows(db) == [(BEARER, "192.0.2.7", 1)]
    clock.advance(timedelta(seconds=30))
    assert run_due(db).throttle_pruned == 1
    assert rows(db) == []


def test_the_limits_are_read_from_the_environment() -> None:
    settings = config.load(environ={"FRONTDESK_AUTH_FAILURE_LIMIT": "5",
                                    "FRONTDESK_AUTH_FAILURE_WINDOW_SECONDS": "3600"})
    assert (settings.auth_failure_limit, settings.auth_failure_window_seconds) == (5, 3600)
    assert (config.Settings().auth_failure_limit,
            config.Settings().auth_failure_window_seconds) == (20, 60)


@pytest.fixture
def gunicorn(app: Flask, settings: config.Settings) -> Iterator[LiveServer]:
    """Two gunicorn workers, 5 failures an hour (a window no test run outlasts)."""
    server = LiveServer(settings, workers=2, env={
        "FRONTDESK_AUTH_FAILURE_LIMIT": "5", "FRONTDESK_AUTH_FAILURE_WINDOW_SECONDS": "3600",
        "FRONTDESK_JOBS_INTERVAL_SECONDS": "0"})
    yield server
    server.stop()


def status_of(url: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=bearer(token))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, None
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.headers.get("Retry-After")


def test_gunicorn_workers_share_the_count(gunicorn: LiveServer, db: Database) -> None:
    """Each request on a new connection, to whichever worker accepts it: the count is one."""
    token = make_token(db)
    answers = [status_of(f"{gunicorn.url}/scim/v2/Users", WRONG) for _ in range(12)]
    assert [status for status, _ in answers] == [401] * 5 + [429] * 7
    assert all(retry is not None and 0 < int(retry) <= 3600 for _, retry in answers[5:])
    assert status_of(f"{gunicorn.url}/scim/v2/Users", token) == (200, None)
    assert rows(db) == [(BEARER, "127.0.0.1", 5)]

