"""The console's pages through HTTP: audit log (filters, pages, detail, downloads), users
(search, filters, detail, deactivate/re-activate with a reason), groups (counts, member pages).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from app.db import Database
from app.models import Group
from app.models import Membership
from app.models import User
from tests.helpers.audit import events
from tests.helpers.clients import ScimClient
from tests.helpers.console import ADMIN_GROUP
from tests.helpers.console import csrf_of
from tests.helpers.console import link_after
from tests.helpers.console import sso_login
from tests.helpers.console import table_rows
from tests.helpers.console import text_of
from tests.helpers.factories import create_group
from tests.helpers.factories import create_user
from tests.helpers.plans import sqlite_table_scans
from tests.helpers.plans import statements_during
from tests.helpers.saml import DemoIdP


def deactivate(admin: FlaskClient, user_id: str, reason: str, active: str = "false"
               ) -> object:
    page = admin.get(f"/admin/users/{user_id}")
    return admin.post(f"/admin/users/{user_id}/active",
                      data={"csrf": csrf_of(text_of(page)), "active": active, "reason": reason})


# -- audit log --------------------------------------------------------------------------------

def test_audit_page_lists_events_newest_first_with_the_columns(
        admin: FlaskClient, scim: ScimClient) -> None:
    create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")

    body = text_of(admin.get("/admin/audit"))

    rows = table_rows(body, "events")
    assert rows[0].split()[2:5] == ["okta", "user:create", "bob@example.com"]
    assert "user:create ada@example.com (user) success" in rows[1]
    assert any("admin:login" in row for row in rows)


def test_audit_filters_in_the_form(admin: FlaskClient, scim: ScimClient) -> None:
    ada = create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")
    scim.patch(f"/Users/{ada}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                 "Operations": [{"op": "replace", "path": "active",
                                                 "value": False}]})
    admin.get("/admin/login/forged-secret")  # one denied event

    def rows(**query: str) -> list[str]:
        response = admin.get("/admin/audit", query_string=query)
        assert response.status_code == 200, text_of(response)
        return table_rows(text_of(response), "events")

    assert len(rows(action="user:create")) == 2
    assert len(rows(action="user:")) == 3
    assert [r.split()[3] for r in rows(action="user:deactivate")] == ["user:deactivate"]
    assert len(rows(target="ADA@example.com")) == 2
    assert len(rows(target=ada)) == 2
    assert len(rows(target_kind="token")) == 1
    assert len(rows(actor_kind="token", action="user:")) == 3
    [denied] = rows(outcome="denied")
    assert "admin:login:denied" in denied and "invalid_link" in denied
    assert len(rows(q="bob")) == 1
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert rows(since=future) == ["No events match."]
    assert len(rows(until=future, action="user:create")) == 2
    form = text_of(admin.get("/admin/audit", query_string={"action": "user:", "q": "bob"}))
    assert 'name="action" list="actions" value="user:"' in form
    assert 'name="q" value="bob"' in form


def test_bad_filters_are_a_400_page_not_a_500(admin: FlaskClient) -> None:
    for query in ({"since": "yesterday"}, {"until": "2026-13-01"}, {"cursor": "!!"},
                  {"cursor": "czEyYWI"}, {"format": "xml"}, {"q": "x" * 600}):
        response = admin.get("/admin/audit", query_string=query)
        assert response.status_code == 400, query
        assert 'role="alert"' in text_of(response)


def test_older_pages_follow_the_cursor_and_survive_new_events(
        admin: FlaskClient, scim: ScimClient) -> None:
    for i in range(60):
        create_user(scim, f"user{i:02}@example.com")
    first = text_of(admin.get("/admin/audit", query_string={"action": "user:create"}))
    older = link_after(first, "Older »")
    for i in range(5):  # written between the two pages: they must not shift page two
        create_user(scim, f"late{i}@example.com")

    second = text_of(admin.get(older))

    page1 = [r.split()[4] for r in table_rows(first, "events")]
    page2 = [r.split()[4] for r in table_rows(second, "events")]
    assert page1 == [f"user{i:02}@example.com" for i in range(59, 9, -1)]
    assert page2 == [f"user{i:02}@example.com" for i in range(9, -1, -1)]
    assert "Older »" not in second
    assert "« Newest" in second


def test_event_detail_shows_changes_old_to_new_and_links(
        admin: FlaskClient, scim: ScimClient, db: Database) -> None:
    user_id = create_user(scim, "ada@example.com", displayName="Ada")
    scim.patch(f"/Users/{user_id}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]})
    [update] = events(db, "user:update")
    listing = text_of(admin.get("/admin/audit", query_string={"action": "user:update"}))

    detail = admin.get(link_after(listing, f"#{update.seq}"))

    assert detail.status_code == 200
    body = text_of(detail)
    assert table_rows(body, "changes") == ["displayName Ada → Ada L."]
    assert f'href="/admin/users/{user_id}"' in body
    assert f"/admin/audit?target_id={user_id}" in body
    assert f"/admin/audit?request_id={update.request_id}" in body
    assert update.hash in body
    by_seq = admin.get(f"/admin/audit/{update.seq}")
    assert by_seq.status_code == 200
    assert admin.get("/admin/audit/no-such-event").status_code == 404


def test_downloads_stream_the_current_filter_and_are_audited(
        admin: FlaskClient, scim: ScimClient, db: Database) -> None:
    for name in ("ada", "bob", "cy"):
        create_user(scim, f"{name}@example.com")

    as_csv = admin.get("/admin/audit", query_string={"action": "user:create", "format": "csv"})
    as_jsonl = admin.get("/admin/audit", query_string={"action": "user:", "format": "jsonl"})

    assert as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"].startswith("attachment; filename=\"audit-")
    assert as_csv.is_streamed
    rows = list(csv.DictReader(io.StringIO(text_of(as_csv))))
    assert [r["target.label"] for r in rows] == ["ada@example.com", "bob@example.com",
                                                "cy@example.com"]
    assert json.loads(rows[0]["changes"])["userName"] == [None, "ada@example.com"]
    lines = [json.loads(line) for line in text_of(as_jsonl).splitlines()]
    assert [e["action"] for e in lines] == ["user:create"] * 3
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    exports = events(db, "audit:export")
    assert [e.changes["format"][1] for e in exports if e.changes] == ["csv", "jsonl"]
    assert exports[0].changes == {"format": [None, "csv"],
                                  "filters": [None, {"action": "user:create"}]}
    assert exports[1].actor_label == "link:first admin"


def test_audit_target_filter_beyond_ascii(admin: FlaskClient, scim: ScimClient) -> None:
    create_user(scim, "Äda@example.com")
    create_user(scim, "strauß@example.com")

    def events_on(target: str) -> list[list[str]]:
        response = admin.get("/admin/audit", query_string={"target": target})
        assert response.status_code == 200, text_of(response)
        return [row.split()[2:5] for row in table_rows(text_of(response), "events")]

    assert events_on("äDA@example.com") == [["okta", "user:create", "Äda@example.com"]]
    assert events_on("STRAUß@example.com") == [["okta", "user:create", "strauß@example.com"]]


# -- users ------------------------------------------------------------------------------------

def test_user_search_by_name_email_and_filters(
        admin: FlaskClient, scim: ScimClient, idp: DemoIdP, app: Flask) -> None:
    create_user(scim, "ada@example.com", name={"givenName": "Ada", "familyName": "Lovelace"},
                emails=[{"value": "countess@analytical.example", "primary": True}])
    bob = create_user(scim, "bob@example.com", displayName="Bobby Tables")
    deactivate(admin, bob, "left the company")
    create_group(scim, "Staff")
    sso_login(app.test_client(), idp, "grace@example.com", ["Staff"])  # JIT, signed in now

    def names(**query: str) -> list[str]:
        response = admin.get("/admin/users", query_string=query)
        assert response.status_code == 200, text_of(response)
        return [row.split()[0] for row in table_rows(text_of(response), "users")]

    assert names() == ["ada@example.com", "bob@example.com", "grace@example.com"]
    assert names(q="LOVELACE") == ["ada@example.com"]
    assert names(q="analytical") == ["ada@example.com"]
    assert names(q="tables") == ["bob@example.com"]
    assert names(q="bob@") == ["bob@example.com"]
    assert names(q="%") == ["No"]  # a LIKE wildcard is a literal character here
    assert names(active="no") == ["bob@example.com"]
    assert names(active="yes") == ["ada@example.com", "grace@example.com"]
    assert names(source="jit") == ["grace@example.com"]
    assert names(source="scim", active="yes") == ["ada@example.com"]
    assert names(never="1") == ["ada@example.com", "bob@example.com"]
    assert names(idle_days="0") == ["grace@example.com"]
    assert names(idle_days="1") == ["No"]
    for bad in ({"active": "maybe"}, {"source": "ldap"}, {"idle_days": "soon"},
                {"idle_days": "-1"}):
        assert admin.get("/admin/users", query_string=bad).status_code == 400


def test_user_pages_are_keyset_paged(admin: FlaskClient, scim: ScimClient) -> None:
    for i in range(120):
        create_user(scim, f"u{i:03}@example.com")
    seen: list[str] = []
    url = "/admin/users?q=example"
    pages = 0
    while url:
        body = text_of(admin.get(url))
        seen += [row.split()[0] for row in table_rows(body, "users")]
        pages += 1
        url = link_after(body, "Next »") if "Next »" in body else ""
    assert pages == 3
    assert seen == [f"u{i:03}@example.com" for i in range(120)]


def test_user_page_shows_attributes_groups_links_login_and_trail(
        admin: FlaskClient, scim: ScimClient, idp: DemoIdP, app: Flask) -> None:
    create_group(scim, "Staff")
    sso_login(app.test_client(), idp, "grace@example.com", ["Staff"])
    [user] = scim.get('/Users?filter=userName eq "grace@example.com"').get_json()["Resources"]

    body = text_of(admin.get(f"/admin/users/{user['id']}"))

    attributes = table_rows(body, "attributes")
    assert "name.givenName Grace" in attributes
    assert any(row.startswith("emails ") and "grace@example.com" in row for row in attributes)
    assert ">Staff</a>" in body
    [link] = table_rows(body, "links")
    assert link.startswith(f"{idp.entity_id} grace@example.com")
    assert "Last sign-in (UTC)</th><td>never" not in body
    trail = table_rows(body, "trail")
    assert "login:success" in trail[0]
    assert any("jit:user:create" in row for row in trail)


def test_deactivate_and_reactivate_with_a_reason(
        admin: FlaskClient, scim: ScimClient, db: Database) -> None:
    user_id = create_user(scim, "ada@example.com")

    response = deactivate(admin, user_id, "  Left the company;   ticket HR-42 ")

    assert response.status_code == 303
    page = text_of(admin.get(response.headers["Location"]))
    assert "User deactivated" in page
    assert "(inactive)" in page
    assert scim.get(f"/Users/{user_id}").get_json()["active"] is False
    [event] = events(db, "user:deactivate")
    assert (event.actor_kind, event.actor_label) == ("admin", "link:first admin")
    assert event.reason == "Left the company; ticket HR-42"
    assert event.changes == {"active": [True, False]}
    assert event.request_id and event.source_ip
    assert "Left the company; ticket HR-42" in table_rows(page, "trail")[0]

    again = deactivate(admin, user_id, "twice")
    assert "Nothing changed" in text_of(admin.get(again.headers["Location"]))  # type: ignore[attr-defined]
    assert len(events(db, "user:deactivate")) == 1

    back = deactivate(admin, user_id, "came back", active="true")
    assert back.status_code == 303  # type: ignore[attr-defined]
    assert scim.get(f"/Users/{user_id}").get_json()["active"] is True
    [event] = events(db, "user:reactivate")
    assert event.reason == "came back"


def test_a_reason_is_required_and_bounded(admin: FlaskClient, scim: ScimClient,
                                          db: Database) -> None:
    user_id = create_user(scim, "ada@example.com")
    for reason in ("", "   ", "x" * 513):
        response = deactivate(admin, user_id, reason)
        assert response.status_code == 400  # type: ignore[attr-defined]
    assert scim.get(f"/Users/{user_id}").get_json()["active"] is True
    assert events(db, "user:deactivate") == []
    long_reason = "y" * 512
    assert deactivate(admin, user_id, long_reason).status_code == 303  # type: ignore[attr-defined]
    assert events(db, "user:deactivate")[0].reason == long_reason
    token = csrf_of(text_of(admin.get(f"/admin/users/{user_id}")))
    assert admin.post(f"/admin/users/{user_id}/active",
                      data={"csrf": token, "active": "maybe", "reason": "x"}).status_code == 400
    assert admin.post(f"/admin/users/{uuid.uuid4()}/active",
                      data={"csrf": token, "active": "false", "reason": "x"}).status_code == 404
    assert admin.get(f"/admin/users/{uuid.uuid4()}").status_code == 404


def test_a_deactivated_sso_user_loses_their_session(
        admin: FlaskClient, scim: ScimClient, idp: DemoIdP, app: Flask) -> None:
    create_group(scim, ADMIN_GROUP)
    other = app.test_client()
    sso_login(other, idp, "grace@example.com", [ADMIN_GROUP])
    assert other.get("/admin/users").status_code == 200
    [user] = scim.get('/Users?filter=userName eq "grace@example.com"').get_json()["Resources"]

    deactivate(admin, user["id"], "compromised laptop")

    assert other.get("/admin/users").status_code == 401


# -- groups -----------------------------------------------------------------------------------

def test_groups_search_and_member_counts(admin: FlaskClient, scim: ScimClient) -> None:
    users = [create_user(scim, f"u{i}@example.com") for i in range(3)]
    create_group(scim, "Engineering", users)
    create_group(scim, "Sales", users[:1])
    create_group(scim, "Empty")

    body = text_of(admin.get("/admin/groups"))
    assert table_rows(body, "groups") and [r.split()[:2] for r in table_rows(body, "groups")] == [
        ["Empty", "0"], ["Engineering", "3"], ["Sales", "1"]]
    found = text_of(admin.get("/admin/groups", query_string={"q": "ENG"}))
    assert [r.split()[0] for r in table_rows(found, "groups")] == ["Engineering"]


def test_user_and_group_search_beyond_ascii(admin: FlaskClient, scim: ScimClient) -> None:
    ada = create_user(scim, "Äda@example.com", displayName="Äda Strauß")
    create_user(scim, "bob@example.com")
    create_group(scim, "Äda Fans", [ada])
    create_group(scim, "Other")

    def found(page: str, table: str, q: str) -> list[str]:
        body = text_of(admin.get(page, query_string={"q": q}))
        return [row.split()[0] for row in table_rows(body, table)]

    assert found("/admin/users", "users", "äDA@") == ["Äda@example.com"]
    assert found("/admin/groups", "groups", "ÄDA") == ["Äda"]  # "Äda Fans": first word


def test_group_page_lists_members_and_nested_groups(admin: FlaskClient,
                                                    scim: ScimClient) -> None:
    users = [create_user(scim, f"u{i}@example.com") for i in range(3)]
    inner = create_group(scim, "Inner", users[:1])
    outer = create_group(scim, "Outer", [*users[1:], inner])

    body = text_of(admin.get(f"/admin/groups/{outer}"))

    assert [r.split()[0] for r in table_rows(body, "members")] == ["u1@example.com",
                                                                   "u2@example.com"]
    assert f'href="/admin/groups/{inner}">Inner</a>' in body
    assert admin.get(f"/admin/groups/{uuid.uuid4()}").status_code == 404


def seed_big_group(db: Database, size: int) -> str:
    """Insert ``size`` users and one group holding them all, in bulk, in one transaction (the
    write engine: on SQLite the base engine autocommits every row)."""
    now = datetime.now(UTC)
    group_id = str(uuid.uuid4())
    with db.write_engine.begin() as conn:
        conn.execute(insert(Group), [{
            "id": group_id, "display_name": "Everyone", "display_name_key": "everyone",
            "doc": {"displayName": "Everyone"}, "version": 1, "source": "scim",
            "created_at": now, "updated_at": now}])
        batch = 10_000
        for start in range(0, size, batch):
            users = [{"id": str(uuid.uuid4()), "user_name": f"member{i:06}@example.com",
                      "user_name_key": f"member{i:06}@example.com", "active": True,
                      "doc": {"userName": f"member{i:06}@example.com", "active": True},
                      "version": 1, "source": "scim", "created_at": now, "updated_at": now}
                     for i in range(start, min(start + batch, size))]
            conn.execute(insert(User), users)
            conn.execute(insert(Membership), [
                {"group_id": group_id, "member_id": u["id"], "member_type": "User",
                 "created_at": now} for u in users])
    return group_id


def test_a_100000_member_group_pages_without_reading_the_group(admin: FlaskClient,
                                                              db: Database) -> None:
    """Pages of a 100 000-member group are keyset lookups: no statement reads a whole table
    (shown by SQLite's deterministic planner; the pages themselves are checked on both)."""
    group_id = seed_big_group(db, 100_000)

    listing = text_of(admin.get("/admin/groups"))
    assert [r.split()[:2] for r in table_rows(listing, "groups")] == [["Everyone", "100,000"]]

    pages: dict[str, str] = {}
    first_statements = statements_during(db, lambda: pages.update(
        first=text_of(admin.get(f"/admin/groups/{group_id}"))))
    first = pages["first"]
    assert 'id="member-count">100,000<' in first
    names = [r.split()[0] for r in table_rows(first, "members")]
    assert names == [f"member{i:06}@example.com" for i in range(50)]
    second = text_of(admin.get(link_after(first, "Next »")))
    assert [r.split()[0] for r in table_rows(second, "members")][0] == "member000050@example.com"
    # Deep in the list: a keyset lookup (``after``), not a walk past 99 959 rows.
    deep_statements = statements_during(db, lambda: pages.update(deep=text_of(admin.get(
        f"/admin/groups/{group_id}", query_string={"after": "member099959@example.com"}))))
    assert [r.split()[0] for r in table_rows(pages["deep"], "members")] == [
        f"member{i:06}@example.com" for i in range(99960, 100000)]
    assert "Next »" not in pages["deep"]
    if db.dialect == "sqlite":
        # Positive control: a statement that must read the table is reported.
        assert sqlite_table_scans(db, [("SELECT id FROM users WHERE doc LIKE '%x%'", ())]) == [
            "users"]
        scans = sqlite_table_scans(db, first_statements + deep_statements)
        assert not {"users", "memberships", "groups"} & set(scans), scans
