"""What a new admin sees first: the overview's totals, totals above each list, a user's
multi-valued attributes as lists, their groups and membership changes, and the destructive
form after the details. Through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from click.testing import CliRunner
from flask.testing import FlaskClient

from app.audit.query import AuditFilter
from app.audit.query import count_events
from app.cli.main import main as frontdesk
from app.db import Database
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.console import table_rows
from tests.helpers.console import text_of
from tests.helpers.factories import create_group
from tests.helpers.factories import create_user


def total_of(body: str) -> str:
    """The text of the ``#total`` line above a list."""
    match = re.search(r'<p class="total" id="total">(.*?)</p>', body, flags=re.S)
    assert match, "no total on the page"
    return " ".join(match.group(1).split())


def totals_of(body: str) -> list[str]:
    """The overview's totals, tags stripped."""
    section = body.split('id="totals"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", section, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


def test_the_overview_shows_totals_and_the_newest_events(admin: FlaskClient,
                                                         scim: ScimClient) -> None:
    ada = create_user(scim, "Äda@example.com")
    create_user(scim, "strauß@example.com", active=False)
    create_group(scim, "Engineering", [ada])

    response = admin.get("/admin/")

    assert response.status_code == 200
    body = text_of(response)
    # The token's and the login link's creation, the link's use, two user creates, a group
    # create and its member add: 7 events.
    assert totals_of(body) == ["2 users 1 active", "1 group", "7 audit events"]
    trail = table_rows(body, "trail")
    assert len(trail) == 7
    assert "group:member:add" in trail[0]
    assert 'href="/admin/users">Find a user</a>' in body


def test_list_pages_show_their_totals_filtered_too(admin: FlaskClient, scim: ScimClient) -> None:
    for name in ("Äda@example.com", "ÄDAM@example.com", "bob@example.com"):
        create_user(scim, name)
    create_group(scim, "Straße")
    create_group(scim, "Other")

    assert total_of(text_of(admin.get("/admin/users"))) == "3 users"
    assert total_of(text_of(admin.get("/admin/users", query_string={"q": "äda"}))) == (
        "2 users match")
    assert total_of(text_of(admin.get("/admin/users", query_string={"q": "bob"}))) == (
        "1 user matches")
    assert total_of(text_of(admin.get("/admin/groups"))) == "2 groups"
    assert total_of(text_of(admin.get("/admin/groups", query_string={"q": "STRASSE"}))) == (
        "1 group matches")  # case-folded: ß is ss
    assert total_of(text_of(admin.get("/admin/groups", query_string={"q": "straßen"}))) == (
        "0 groups match")
    # Token, login link, sign-in, 3 user creates, 2 group creates; a filter counts its own.
    assert total_of(text_of(admin.get("/admin/audit"))) == "8 events"
    assert total_of(text_of(admin.get("/admin/audit", query_string={
        "action": "user:create"}))) == "3 events match"


def test_multi_valued_attributes_are_lists(admin: FlaskClient, scim: ScimClient) -> None:
    user_id = create_user(
        scim, "ada@example.com",
        emails=[{"value": "ada@example.com", "type": "work", "primary": True},
                {"value": "äda@home.example", "type": "home"}],
        phoneNumbers=[{"value": "+44 20 7946 0000", "type": "mobile"}],
        addresses=[{"type": "work", "streetAddress": "1 Straße", "locality": "Wien",
                    "postalCode": "1010", "country": "AT"}])

    body = text_of(admin.get(f"/admin/users/{user_id}"))

    rows = table_rows(body, "attributes")
    assert "emails ada@example.com (work, primary) äda@home.example (home)" in rows
    assert "phoneNumbers +44 20 7946 0000 (mobile)" in rows
    assert "addresses 1 Straße, Wien, 1010, AT (work)" in rows
    assert '<ul class="values"><li>ada@example.com <span class="muted">(work, primary)' in body
    assert "{&#34;" not in body and '{"' not in body  # no JSON blob anywhere


def test_membership_changes_are_on_the_users_page(admin: FlaskClient, scim: ScimClient) -> None:
    ada = create_user(scim, "Äda@example.com")
    other = create_user(scim, "strauß@example.com")
    staff = create_group(scim, "Staff")
    ops = create_group(scim, "Ops", [ada, other])
    assert scim.patch(f"/Groups/{staff}", patch_op(
        {"op": "add", "path": "members", "value": [{"value": ada}]})).status_code == 204
    assert scim.patch(f"/Groups/{ops}", patch_op(
        {"op": "remove", "path": f'members[value eq "{ada}"]'})).status_code == 204

    body = text_of(admin.get(f"/admin/users/{ada}"))

    changes = [" ".join(row.split()[2:-1]) for row in table_rows(body, "membership-events")]
    assert changes == ["removed from Ops okta", "added to Staff okta", "added to Ops okta"]
    groups = body.split('id="groups"', 1)[1].split("</ul>", 1)[0]
    assert ">Staff</a>" in groups and "added by okta" in groups
    assert ">Ops</a>" not in groups
    assert "Groups <span class=\"muted\">(1)</span>" in body
    # The other member's page shows only their own change.
    other_rows = table_rows(text_of(admin.get(f"/admin/users/{other}")), "membership-events")
    assert [" ".join(row.split()[2:-1]) for row in other_rows] == ["added to Ops okta"]


def test_destructive_actions_come_after_the_details(admin: FlaskClient,
                                                    scim: ScimClient) -> None:
    user_id = create_user(scim, "ada@example.com")

    body = text_of(admin.get(f"/admin/users/{user_id}"))

    order = [body.index(marker) for marker in (
        'id="user-actions"', 'id="attributes"', '<h2>Groups', 'id="membership-events"',
        'id="trail"', 'id="grants"', 'id="status"', ">Deactivate user</button>")]
    assert order == sorted(order)
    assert '<a href="#status">Deactivate…</a>' in body


def test_event_totals_survive_a_prune_and_stop_counting_at_the_cap(
        admin: FlaskClient, scim: ScimClient, runner: CliRunner, db: Database) -> None:
    for name in ("ada@example.com", "Äda@example.com", "strauß@example.com"):
        create_user(scim, name)
    with db.read_session() as session:
        everything = count_events(session, AuditFilter())
        assert everything == 6  # token, login link, sign-in, 3 user creates
        creates = AuditFilter(action="user:create")
        assert count_events(session, creates, cap=3) == 3
        assert count_events(session, creates, cap=2) == 3  # "more than 2"

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    pruned = runner.invoke(frontdesk, ["audit", "prune", "--before", tomorrow, "--yes"])
    assert pruned.exit_code == 0, pruned.output
    create_user(scim, "bob@example.com")

    # Left: the prune's own event and bob's creation.
    assert totals_of(text_of(admin.get("/admin/")))[2] == "2 audit events"
    assert total_of(text_of(admin.get("/admin/audit"))) == "2 events"
    assert total_of(text_of(admin.get("/admin/audit", query_string={
        "action": "user:create"}))) == "1 event matches"
