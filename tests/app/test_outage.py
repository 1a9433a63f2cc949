"""Database outages: while the database cannot be reached every door answers 503 with
``Retry-After`` (SCIM a §3.12 body, the JSON APIs their error, pages an HTML page), logs one
line with the request id and no traceback, and serves again by itself once it is back.

The PostgreSQL server is shared, so it is never stopped: the app reaches it through a real TCP
proxy (``tests/helpers/proxy.py``) that the test cuts and restores, or through a closed port.
On SQLite the database file cannot be opened (its folder is missing) until the test puts it back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

import config
from app.web.context import get_db
from app.web.factory import create_app
from tests.helpers.databases import DIALECTS
from tests.helpers.factories import USER_SCHEMA
from tests.helpers.factories import make_token
from tests.helpers.proxy import TcpProxy
from tests.helpers.servers import LiveServer

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json; charset=utf-8"


class Records(logging.Handler):
    """Every record the ``frontdesk`` loggers emit during a test (a real handler, added)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("frontdesk")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class Outage:
    """A database an app reaches through a switch: ``down()`` makes it unreachable, ``up()``
    brings it back. ``url`` is what the app is given."""

    url: str
    token: str  # a token with the scim, audit:read and access:read scopes, in the database

    def down(self) -> None:
        raise NotImplementedError

    def up(self) -> None:
        raise NotImplementedError


class ProxiedPostgres(Outage):
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        self.url = parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
            hide_password=False)

    def down(self) -> None:
        self.proxy.cut()

    def up(self) -> None:
        self.proxy.restore()


class MovedSqlite(Outage):
    """The app's SQLite file sits in a folder that is missing while the database is down.

    (Connections SQLite already has open keep working while a file is renamed, so the app
    starts with the database down: no connection can be open.)"""

    def __init__(self, source_url: str, folder: Path) -> None:
        self.stash = folder / "stash"
        self.live = folder / "live"
        self.stash.mkdir()
        source = sqlite3.connect(make_url(source_url).database or "")
        target = sqlite3.connect(self.stash / "frontdesk.db")
        with target:
            source.backup(target)
        source.close()
        target.close()
        self.url = f"sqlite:///{self.live / 'frontdesk.db'}"

    def down(self) -> None:
        if self.live.exists():
            shutil.move(self.live, self.stash)

    def up(self) -> None:
        shutil.move(self.stash, self.live)


@pytest.fixture
def outage(app: Flask, settings: config.Settings, tmp_path: Path) -> Iterator[Outage]:
    """A switchable copy of the test's (emptied) database holding a token: the same server
    through a proxy, or a copy of the SQLite file."""
    token = make_token(get_db(app), scopes=("scim", "audit:read", "access:read"))
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        moved = MovedSqlite(url, tmp_path)
        moved.token = token
        yield moved
        return
    proxied = ProxiedPostgres(url)
    proxied.token = token
    try:
        yield proxied
    finally:
        proxied.proxy.close()


@pytest.fixture
def make_outage_app(settings: config.Settings) -> Iterator[Callable[[str], Flask]]:
    """Build an app on its own engine (its own pool, as a server process has)."""
    built: list[Flask] = []

    def build(url: str) -> Flask:
        application = create_app(dataclasses.replace(settings, database_url=url))
        application.config["TESTING"] = True
        built.append(application)
        return application

    yield build
    for application in built:
        get_db(application).engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(client: FlaskClient, user_id: str = "00000000-0000-0000-0000-000000000001"
              ) -> FlaskClient:
    """A browser session that names a signed-in person: every page reads them from the DB."""
    with client.session_transaction() as session:
        session["uid"] = user_id
        session["csrf"] = "csrf-token"
    return client


def assert_scim_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"] == SCIM_JSON
    body = response.get_json(force=True)
    assert body == {"schemas": [ERROR], "status": "503", "detail": (
        "The database cannot be reached right now; nothing was changed. Try again in a few "
        "seconds.")}


def assert_page_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "The database cannot be reached right now" in text
    assert response.headers["X-Request-Id"] in text  # the id to quote is on the page
    assert "Traceback" not in text


def every_door(client: FlaskClient, token: str, records: Records) -> None:
    """Each door while the database is down: 503, Retry-After, one log line per request."""
    before = len(records.records)
    scim_get = client.get("/scim/v2/Users", headers=bearer(token))
    assert_scim_unavailable(scim_get)
    assert_scim_unavailable(client.post(
        "/scim/v2/Users", headers={**bearer(token), "Content-Type": "application/scim+json"},
        data=json.dumps({"schemas": [USER_SCHEMA], "userName": "Äda@example.com"})))
    # A wrong token cannot be told from a right one without the database: 503 too, not 401.
    assert_scim_unavailable(client.get("/scim/v2/Groups", headers=bearer("fd_wrong")))

    audit = client.get("/api/audit", headers=bearer(token))
    assert (audit.status_code, audit.headers["Retry-After"]) == (503, "5")
    assert audit.get_json() == {"status": 503, "detail": (
        "The database cannot be reached right now; nothing was changed. Try again in a few "
        "seconds.")}
    access = client.get("/api/access/requests", headers=bearer(token))
    assert (access.status_code, access.headers["Retry-After"]) == (503, "5")
    assert access.get_json()["error"] == "unavailable"

    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()["detail"]) == (503, "database unreachable")

    assert_page_unavailable(client.get("/admin/login/some-link-secret-that-is-long-enough"))
    assert_page_unavailable(signed_in(client).get("/access/"))
    assert_page_unavailable(client.get("/me"))

    warnings = records.records[before:]
    assert [r.getMessage() for r in warnings] == ["database unavailable"] * 8
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in warnings)
    ids = [r.fields["request_id"] for r in warnings]  # type: ignore[attr-defined]
    assert ids[0] == scim_get.headers["X-Request-Id"]
    assert len(set(ids)) == 8
    assert all(r.fields["error"].split(":")[0].endswith("OperationalError")  # type: ignore[attr-defined]
               for r in warnings)


def served(client: FlaskClient, token: str, user_name: str) -> None:
    """Each door once the database is back: the first request of each succeeds."""
    listed = client.get("/scim/v2/Users", headers=bearer(token),
                        query_string={"filter": f'userName eq "{user_name}"'})
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert listed.get_json()["totalResults"] == 0
    created = client.post(
        "/scim/v2/Users", headers={**bearer(token), "Content-Type": "application/scim+json"},
        data=json.dumps({"schemas": [USER_SCHEMA], "userName": user_name}))
    assert created.status_code == 201, created.get_data(as_text=True)
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/audit", headers=bearer(token)).status_code == 200
    # A session for someone the database does not know ends, as before the outage.
    assert signed_in(client).get("/me").status_code == 401


def test_unreachable_database_answers_503_then_resumes_by_itself(
        outage: Outage, make_outage_app: Callable[[str], Flask], records: Records) -> None:
    token = outage.token
    outage.down()
    client = make_outage_app(outage.url).test_client()
    every_door(client, token, records)

    outage.up()
    served(client, token, "Äda@example.com")
    assert not [r for r in records.records if r.exc_info is not None]


# SQLite has no server whose restart kills a pooled connection (an open file stays readable).
@pytest.mark.parametrize("database_url", [d for d in DIALECTS if d == "postgresql"],
                         indirect=True)
def test_a_cut_while_connections_are_pooled_costs_no_request_after_recovery(
        outage: Outage, make_outage_app: Callable[[str], Flask], records: Records) -> None:
    """Pooled connections die with the server; the first request after it is back still
    succeeds (pre-ping on checkout replaces a dead connection)."""
    token = outage.token
    client = make_outage_app(outage.url).test_client()
    assert client.get("/scim/v2/Users", headers=bearer(token)).status_code == 200

    outage.down()  # the pool holds connections the server side has now closed
    outage.up()    # ... and is back before anyone noticed
    served(client, token, "Äda@example.com")

    outage.down()
    every_door(client, token, records)
    outage.up()
    served(client, token, "Strauß@example.com")
    assert not [r for r in records.records if r.exc_info is not None]


def get_status(url: str, token: str, request_id: str) -> tuple[int, str | None, Any]:
    request = urllib.request.Request(url, headers={  # noqa: S310
        **bearer(token), "X-Request-Id": request_id})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers.get("Retry-After"), json.loads(
                response.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.headers.get("Retry-After"), json.loads(refused.read())


def test_under_gunicorn_an_outage_is_503_without_a_traceback_and_passes(
        outage: Outage, settings: config.Settings) -> None:
    """Real gunicorn starts on a reachable database (the start checks it), which then goes
    away: SCIM answers 503 with Retry-After and a §3.12 body, the log holds one JSON line with
    the request id and no traceback; once the database is back the next request succeeds."""
    outage.up()
    server = LiveServer(dataclasses.replace(settings, database_url=outage.url), workers=1,
                        env={"FRONTDESK_JOBS_INTERVAL_SECONDS": "0"})
    try:
        outage.down()
        status, retry_after, body = get_status(f"{server.url}/scim/v2/Users", outage.token,
                                               "outage-1")
        assert (status, retry_after, body["status"]) == (503, "5", "503")
        outage.up()
        status, retry_after, body = get_status(f"{server.url}/scim/v2/Users", outage.token,
                                               "after-1")
        assert (status, retry_after, body["totalResults"]) == (200, None, 0)
    finally:
        server.stop()
    log = server.log
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    unavailable = [line for line in lines if line["msg"] == "database unavailable"]
    assert len(unavailable) == 1, log
    assert unavailable[0]["request_id"] == "outage-1"
    assert unavailable[0]["level"] == "warning"


@pytest.mark.parametrize("database_url", [d for d in DIALECTS if d == "postgresql"],
                         indirect=True)
def test_a_server_that_never_answers_is_503_after_the_connect_timeout(
        outage: Outage, make_outage_app: Callable[[str], Flask], records: Records) -> None:
    """Packets dropped instead of refused: connecting gives up after ``CONNECT_TIMEOUT``
    (5 s) instead of holding the request until gunicorn kills the worker."""
    assert isinstance(outage, ProxiedPostgres)
    outage.proxy.stall()
    client = make_outage_app(outage.url).test_client()
    assert_scim_unavailable(client.get("/scim/v2/Users", headers=bearer(outage.token)))
    [line] = [r for r in records.records if r.getMessage() == "database unavailable"]
    assert "timeout" in line.fields["error"]  # type: ignore[attr-defined]
    outage.up()
    served(client, outage.token, "Äda@example.com")
