"""``GET /api/audit`` through HTTP: every filter, newest-first cursor pages that hold still while
events are written, limits, errors as JSON 400s, and who may read (audit:read tokens, admins).
"""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient

from app.cli.main import main as frontdesk
from app.db import Database
from tests.helpers.audit import seed
from tests.helpers.clients import ScimClient
from tests.helpers.factories import create_user
from tests.helpers.factories import make_token

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
HTTPS = "https://frontdesk.example.com"


class Reader:
    """GET /api/audit with an audit:read token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, **query: Any) -> Any:
        return self.client.get("/api/audit", query_string=query, headers=self.headers)

    def events(self, **query: Any) -> list[dict[str, Any]]:
        response = self.get(**query)
        assert response.status_code == 200, response.get_json()
        events: list[dict[str, Any]] = response.get_json()["events"]
        return events


def reader(client: FlaskClient, db: Database) -> Reader:
    return Reader(client, make_token(db, "siem", ("audit:read",)))


def deactivate(scim: ScimClient, user_id: str) -> None:
    response = scim.patch(f"/Users/{user_id}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert response.status_code == 200


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- filters ----------------------------------------------------------------------------------

def test_events_come_newest_first_with_every_field(client: FlaskClient, db: Database,
                                                   scim: ScimClient) -> None:
    ada = create_user(scim, "ada@example.com")
    api = reader(client, db)

    body = api.get().get_json()

    assert body["next"] is None
    events = body["events"]
    assert [e["action"] for e in events] == ["token:create", "user:create", "token:create"]
    assert [e["seq"] for e in events] == [3, 2, 1]
    user_event = events[1]
    assert user_event["target"] == {"kind": "user", "id": ada, "label": "ada@example.com"}
    assert user_event["actor"]["kind"] == "token" and user_event["actor"]["label"] == "okta"
    assert user_event["outcome"] == "success"
    assert user_event["changes"]["userName"] == [None, "ada@example.com"]
    assert user_event["occurredAt"].endswith("Z")
    assert set(user_event) >= {"id", "requestId", "sourceIp", "userAgent", "hash", "prevHash"}
    assert events[2]["hash"] == user_event["prevHash"]


def test_filter_by_actor_kind_and_id(client: FlaskClient, db: Database, scim: ScimClient,
                                     runner: CliRunner) -> None:
    create_user(scim, "ada@example.com")
    assert runner.invoke(frontdesk, ["tokens", "create", "other"]).exit_code == 0
    api = reader(client, db)
    okta_id = api.events(action="user:create")[0]["actor"]["id"]

    assert {e["action"] for e in api.events(actor_kind="cli")} == {"token:create"}
    assert [e["action"] for e in api.events(actor_id=okta_id)] == ["user:create"]
    assert [e["action"] for e in api.events(actor=f"token:{okta_id}")] == ["user:create"]
    assert [e["action"] for e in api.events(actor=okta_id)] == ["user:create"]
    assert api.events(actor_kind="cli", actor_id=okta_id) == []


def test_filter_by_action_exact_and_prefix(client: FlaskClient, db: Database,
                                           scim: ScimClient) -> None:
    ada = create_user(scim, "ada@example.com")
    deactivate(scim, ada)
    scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Staff",
                          "members": [{"value": ada}]})
    api = reader(client, db)

    assert [e["action"] for e in api.events(action="user:create")] == ["user:create"]
    assert [e["action"] for e in api.events(action="user:")] == ["user:deactivate",
                                                                "user:create"]
    assert [e["action"] for e in api.events(action="group:*")] == ["group:member:add",
                                                                  "group:create"]
    assert [e["action"] for e in api.events(action="group:member:")] == ["group:member:add"]
    assert api.events(action="user") == []  # exact: no such action
    assert api.events(action="us%:") == []  # LIKE wildcards are literal


def test_filter_by_target_kind_id_and_user_name(client: FlaskClient, db: Database,
                                               scim: ScimClient) -> None:
    ada = create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")
    deactivate(scim, ada)
    api = reader(client, db)

    assert len(api.events(target_kind="user")) == 3
    assert len(api.events(target_kind="token")) == 2
    assert [e["action"] for e in api.events(target_id=ada)] == ["user:deactivate",
                                                               "user:create"]
    assert len(api.events(target="ADA@Example.com")) == 2  # userName, case-insensitively
    assert len(api.events(target=ada)) == 2
    assert api.events(target_kind="group", target_id=ada) == []


def test_filter_by_user_name_beyond_ascii(client: FlaskClient, db: Database,
                                          scim: ScimClient) -> None:
    ada = create_user(scim, "Äda@example.com")
    strauss = create_user(scim, "strauß@example.com")
    api = reader(client, db)

    assert [e["target"]["id"] for e in api.events(target="äDA@example.com")] == [ada]
    assert [e["target"]["id"] for e in api.events(target="STRAUß@example.com")] == [strauss]


def test_filter_by_outcome(client: FlaskClient, db: Database, scim: ScimClient) -> None:
    create_user(scim, "ada@example.com")
    client.get("/admin/login/not-a-real-link")
    api = reader(client, db)

    [denied] = api.events(outcome="denied")
    assert denied["action"] == "admin:login:denied"
    assert denied["reason"] == "invalid_link"
    assert all(e["outcome"] == "success" for e in api.events(outcome="success"))
    assert len(api.events(outcome="success")) == 3


def test_filter_by_time_range(client: FlaskClient, db: Database, scim: ScimClient) -> None:
    create_user(scim, "early@example.com")
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    create_user(scim, "late@example.com")
    api = reader(client, db)
    hour = timedelta(hours=1)

    late = api.events(since=iso(middle), action="user:create")
    early = api.events(until=iso(middle), action="user:create")

    assert [e["target"]["label"] for e in late] == ["late@example.com"]
    assert [e["target"]["label"] for e in early] == ["early@example.com"]
    assert api.events(since=iso(middle - hour), until=iso(middle + hour),
                      action="user:create") == [*late, *early]
    assert api.events(since=iso(middle + hour)) == []
    # A bare date is midnight UTC; an offset is honoured.
    assert len(api.events(since=middle.date().isoformat(), action="user:create")) == 2
    offset = (middle + hour).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+01:00")
    assert [e["target"]["label"] for e in api.events(since=offset, action="user:create")] == [
        "late@example.com"]


def test_filter_by_request_id(client: FlaskClient, db: Database, scim: ScimClient) -> None:
    create_user(scim, "ada@example.com", headers={"X-Request-Id": "req-ada-1"})
    create_user(scim, "bob@example.com", headers={"X-Request-Id": "req-bob-2"})
    api = reader(client, db)

    [event] = api.events(request_id="req-bob-2")

    assert event["target"]["label"] == "bob@example.com"
    assert event["requestId"] == "req-bob-2"
    assert api.events(request_id="req-nobody") == []


def test_free_text_searches_actor_and_target_labels(client: FlaskClient, db: Database,
                                                    scim: ScimClient) -> None:
    create_user(scim, "ada.lovelace@example.com")
    create_user(scim, "bob@example.com")
    api = reader(client, db)

    assert [e["target"]["label"] for e in api.events(q="LOVELACE")] == [
        "ada.lovelace@example.com"]
    assert {e["action"] for e in api.events(q="okta")} == {"token:create", "user:create"}
    assert api.events(q="100%") == []
    body = api.get(q="bob", action="user:").get_json()
    assert body["filters"] == {"action": "user:", "text": "bob"}


# -- pages ------------------------------------------------------------------------------------

def test_cursor_pages_are_newest_first_and_stable_under_inserts(
        client: FlaskClient, db: Database) -> None:
    seed(db, 25, prefix="e")
    api = reader(client, db)  # seq 26: its token:create
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query: dict[str, Any] = {"limit": 10, "action": "test:event"}
        if cursor:
            query["cursor"] = cursor
        body = api.get(**query).get_json()
        seen += [e["seq"] for e in body["events"]]
        cursor = body["next"]
        pages += 1
        seed(db, 3, prefix=f"p{pages}-")  # written between pages: never shifts the next one
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(range(25, 0, -1))
    assert len({e["id"] for e in api.events(limit=500)}) == 26 + 9


def test_limit_is_bounded(client: FlaskClient, db: Database) -> None:
    seed(db, 510, prefix="e")
    api = reader(client, db)

    assert len(api.events()) == 50
    assert len(api.events(limit=0)) == 1
    assert len(api.events(limit=-5)) == 1
    assert len(api.events(limit=7)) == 7
    assert len(api.events(limit=100000)) == 500
    response = api.get(limit="many")
    assert response.status_code == 400
    assert "limit" in response.get_json()["detail"]


def test_bad_cursor_and_times_are_json_400s(client: FlaskClient, db: Database) -> None:
    api = reader(client, db)
    for query in ({"cursor": "garbage!"}, {"cursor": "czEyYQ"}, {"cursor": "eDEy"},
                  {"since": "last tuesday"}, {"until": "2026-02-30"}, {"target": "x" * 600}):
        response = api.get(**query)
        assert response.status_code == 400, query
        assert response.mimetype == "application/json"
        assert response.get_json()["status"] == 400
        assert response.get_json()["detail"]


def test_one_event_by_id_or_seq(client: FlaskClient, db: Database) -> None:
    api = reader(client, db)
    [event] = api.events()

    by_id = client.get(f"/api/audit/{event['id']}", headers=api.headers)
    by_seq = client.get(f"/api/audit/{event['seq']}", headers=api.headers)
    missing = client.get("/api/audit/nope", headers=api.headers)

    assert by_id.get_json() == event == by_seq.get_json()
    assert missing.status_code == 404
    assert missing.get_json()["detail"] == "no such event"


# -- who may read -----------------------------------------------------------------------------

def test_audit_read_token_reads(client: FlaskClient, db: Database) -> None:
    token = make_token(db, "siem", ("audit:read",))
    response = client.get("/api/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_scim_only_token_is_refused(client: FlaskClient, token: str) -> None:
    response = client.get("/api/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "audit:read" in response.get_json()["detail"]


def test_no_or_bad_credentials_are_401(client: FlaskClient, db: Database) -> None:
    make_token(db, "siem", ("audit:read",))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YTpi"}):
        response = client.get("/api/audit", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "events" not in response.get_json()
    assert client.get("/api/audit/1").status_code == 401


def test_admin_session_reads(client: FlaskClient, runner: CliRunner) -> None:
    result = runner.invoke(frontdesk, ["admin", "login-link"])
    path = "/admin/login/" + result.stdout.strip().rsplit("/admin/login/", 1)[1]
    assert client.get(path, base_url=HTTPS).status_code == 303

    response = client.get("/api/audit", base_url=HTTPS)

    assert response.status_code == 200
    assert [e["action"] for e in response.get_json()["events"]][:2] == [
        "admin:login", "admin:login-link:create"]
