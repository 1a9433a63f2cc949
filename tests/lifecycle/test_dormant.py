"""Dormant rules through the doors (CLI, JSON API, the built-in jobs) with a frozen clock:
never-signed-in users count from creation, exclusions hold, the preview writes nothing, a
warning goes out ``warn_before`` ahead and activity withdraws it, the action happens once and
names its rule."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

import config
from app.cli.main import main
from app.clock import FrozenClock
from app.db import Database
from app.jobs import run_due
from app.web.context import get_db
from tests.helpers.access import AccessClient
from tests.helpers.access import chain_ok
from tests.helpers.access import events
from tests.helpers.access import make_group
from tests.helpers.access import outbox_topics
from tests.helpers.access import personal_token
from tests.helpers.factories import make_token
from tests.helpers.lifecycle import make_user
from tests.helpers.lifecycle import set_created
from tests.helpers.lifecycle import snapshot
from tests.helpers.lifecycle import user
from tests.helpers.lifecycle import with_rules
from tests.helpers.webhooks import Receiver

DAY = timedelta(days=1)


def api_preview(client: FlaskClient, token: str) -> list[tuple[str, str, str, str]]:
    response = client.get("/api/lifecycle/dormant", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return [(u["userName"], u["rule"], u["outcome"], u["action"])
            for u in response.get_json()["users"]]


def test_warn_then_withdraw_on_activity_then_act_once(
        client: FlaskClient, db: Database, clock: FrozenClock, receiver: Receiver) -> None:
    ada = make_user(db, "äda@example.com", source="jit")  # never signed in
    strauss = make_user(db, "Strauß@example.com")  # SCIM-managed
    carl = make_user(db, "carl@example.com", source="local")
    reader = make_token(db, "auditor", ("audit:read",))
    ada_token = personal_token(db, "äda@example.com")

    clock.advance(82 * DAY)  # 90d - 7d = 83d: nobody yet
    assert api_preview(client, reader) == []
    assert run_due(db).warned == 0

    clock.advance(DAY + timedelta(minutes=1))
    assert api_preview(client, reader) == [
        ("carl@example.com", "default", "warn", "deactivate"),
        ("Strauß@example.com", "default", "warn", "suspend"),
        ("äda@example.com", "default", "warn", "deactivate")]
    result = run_due(db)
    assert (result.warned, result.deactivated, result.suspended) == (3, 0, 0)
    assert run_due(db).warned == 0  # once
    warnings = [e for e in events(db, "lifecycle:") if e.action == "lifecycle:dormant:warn"]
    assert sorted(e.target_label or "" for e in warnings) == [
        "Strauß@example.com", "carl@example.com", "äda@example.com"]
    assert {e.actor_label for e in warnings} == {"lifecycle:dormant:default"}
    # run_due delivers what it enqueued, as the built-in schedule does.
    assert sorted(json.loads(d.body)["data"]["userName"] for d in receiver.accepted) == [
        "Strauß@example.com", "carl@example.com", "äda@example.com"]
    assert {json.loads(d.body)["topic"] for d in receiver.accepted} == {
        "lifecycle.dormant.warning"}

    clock.advance(2 * DAY)  # äda uses her token in the grace period: her warning is withdrawn
    assert AccessClient(client, ada_token).get("/memberships").status_code == 200
    assert [row[:3] for row in api_preview(client, reader)] == [
        ("carl@example.com", "default", "pending"), ("Strauß@example.com", "default", "pending")]

    clock.advance(5 * DAY)  # 90 days of inactivity and 7 since the warning
    result = run_due(db)
    assert (result.warned, result.deactivated, result.suspended) == (0, 1, 1)
    again = run_due(db)
    assert (again.warned, again.deactivated, again.suspended) == (0, 0, 0)
    assert (user(db, carl).active, user(db, carl).suspended_at) == (False, None)
    assert (user(db, strauss).active, user(db, strauss).suspended_at) == (True, clock.now())
    assert (user(db, ada).active, user(db, ada).suspended_at) == (True, None)
    acted = [(e.action, e.target_label, e.actor_label, e.reason) for e in events(db, "user:")
             if e.actor_label == "lifecycle:dormant:default"]
    since = (clock.now() - 90 * DAY - timedelta(minutes=1)).strftime("%Y-%m-%d")
    assert sorted((a, t, who) for a, t, who, _ in acted) == [
        ("user:deactivate", "carl@example.com", "lifecycle:dormant:default"),
        ("user:suspend", "Strauß@example.com", "lifecycle:dormant:default")]
    assert all((reason or "").startswith(f"dormant rule 'default': no activity since {since}")
               for *_, reason in acted)
    assert outbox_topics(db).count("lifecycle.dormant.suspended") == 1
    assert outbox_topics(db).count("lifecycle.dormant.deactivated") == 1
    assert chain_ok(db)

    # äda's warning came back once she was idle long enough again.
    clock.advance(83 * DAY)
    assert api_preview(client, reader) == [("äda@example.com", "default", "warn", "deactivate")]


def test_preview_writes_nothing_in_any_door(runner: CliRunner, client: FlaskClient, db: Database
                                            ) -> None:
    ada = make_user(db, "äda@example.com", source="jit")
    strauss = make_user(db, "Strauß@example.com")
    make_user(db, "new@example.com")
    now = datetime.now(UTC)  # the CLI runs on the system clock
    set_created(db, ada, now - 100 * DAY)
    set_created(db, strauss, now - 85 * DAY)
    reader = make_token(db, "auditor", ("audit:read",))
    api_preview(client, reader)  # the token's own last use is recorded once a minute: now
    before = snapshot(db)

    table = runner.invoke(main, ["users", "dormant", "--preview"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["RULE", "OUTCOME", "ACTION", "USER", "LAST", "ACTIVITY", "ACTS",
                                "AT"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["default", "warn", "suspend", "Strauß@example.com"],
        ["default", "warn", "deactivate", "äda@example.com"]]
    as_json = runner.invoke(main, ["users", "dormant", "--json"])
    rows = json.loads(as_json.output)
    assert [(r["userName"], r["outcome"], r["lastActivityKind"]) for r in rows] == [
        ("Strauß@example.com", "warn", "created"), ("äda@example.com", "warn", "created")]
    as_csv = runner.invoke(main, ["users", "dormant", "--csv"])
    parsed = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [(r["rule"], r["userName"], r["action"]) for r in parsed] == [
        ("default", "Strauß@example.com", "suspend"), ("default", "äda@example.com", "deactivate")]
    assert [row[0] for row in api_preview(client, reader)] == [
        "Strauß@example.com", "äda@example.com"]
    both = runner.invoke(main, ["users", "dormant", "--json", "--csv"])
    assert (both.exit_code, both.output) == (1, "error: choose one of --json and --csv\n")
    assert snapshot(db) == before

    # Positive control: the run does write, and says what it did.
    ran = runner.invoke(main, ["lifecycle", "run"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.startswith("warned 2, deactivated 0, suspended 0 dormant users;")
    assert snapshot(db) != before


def test_users_show_json_has_state_and_last_activity(runner: CliRunner, db: Database) -> None:
    make_user(db, "äda@example.com", source="jit")
    shown = runner.invoke(main, ["users", "show", "äda@example.com", "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert (body["userName"], body["state"], body["last_activity_at"],
            body["last_activity_kind"], body["source"]) == (
        "äda@example.com", "active", None, None, "jit")
    text = runner.invoke(main, ["users", "show", "äda@example.com"]).output
    assert "state:       active" in text and "activity:    never (created " in text


def test_each_exclusion(make_app: Callable[..., Flask], settings: config.Settings,
                        clock: FrozenClock, app: Flask) -> None:
    """"staff" excludes by scope, group, admin group, userType and account age; "everyone"
    (no exclusions) then takes whom "staff" left out: each line names the rule that applies."""
    rules = {"staff": {"inactive_for": "30d", "warn_before": "0s", "new_account_grace": "40d",
                       "scope_groups": ["staff"], "exclude_groups": ["service-accounts"],
                       "action": "suspend"},
             "everyone": {"inactive_for": "30d", "warn_before": "0s", "new_account_grace": "0s",
                          "exclude_admins": False, "exclude_service_accounts": False}}
    ruled = make_app(with_rules(settings, rules))
    db = get_db(ruled)
    db.clock = clock
    ids = {name: make_user(db, f"{name}@example.com", **doc) for name, doc in (
        ("äda", {}), ("bot", {"userType": "SERVICE"}), ("admin", {}), ("svc", {}),
        ("young", {}), ("Strauß", {}))}
    ids["outsider"] = make_user(db, "outsider@example.com", source="jit")
    make_group(db, "staff", tuple(ids[n] for n in ("äda", "bot", "admin", "svc", "young",
                                                   "Strauß")))
    make_group(db, "service-accounts", (ids["svc"],))
    make_group(db, "frontdesk-admins", (ids["admin"],))
    for name in ids:
        set_created(db, ids[name], clock.now())
    set_created(db, ids["young"], clock.now() + 5 * DAY)  # 36 days old below: < 40d grace
    set_created(db, ids["Strauß"], clock.now() + 35 * DAY)  # 6 days idle: < 30d
    reader = make_token(db, "auditor", ("audit:read",))
    clock.advance(41 * DAY)
    assert api_preview(ruled.test_client(), reader) == [
        ("äda@example.com", "staff", "act", "suspend"),
        ("admin@example.com", "everyone", "act", "suspend"),
        ("bot@example.com", "everyone", "act", "suspend"),
        ("outsider@example.com", "everyone", "act", "deactivate"),
        ("svc@example.com", "everyone", "act", "suspend"),
        ("young@example.com", "everyone", "act", "suspend")]

    # Without the catch-all rule, the excluded stay untouched by a run.
    only_staff = make_app(with_rules(settings, {"staff": rules["staff"]}))
    get_db(only_staff).clock = clock
    result = run_due(get_db(only_staff))
    assert (result.warned, result.deactivated, result.suspended) == (0, 0, 1)
    assert [name for name in ids if user(db, ids[name]).suspended_at is not None] == ["äda"]
