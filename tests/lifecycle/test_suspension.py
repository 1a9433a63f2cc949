"""IdP-aware action: a SCIM-managed account is suspended locally; Okta's and Entra's next
``active=true`` push (PATCH in either dialect, or a PUT) does not undo it, SCIM still shows the
IdP what it pushed, SSO is refused with reason ``dormant``, the user's tokens and sessions stop.
Lifting it is an admin's audited action with a reason (API, CLI). Two instances running the
rule at once act once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from click.testing import CliRunner
from flask import Flask

import config
from app.cli.main import main
from app.clock import FrozenClock
from app.jobs import run_due
from app.lifecycle import dormant
from app.web.context import get_db
from tests.helpers.access import AccessClient
from tests.helpers.access import chain_ok
from tests.helpers.access import events
from tests.helpers.access import outbox_topics
from tests.helpers.access import personal_token
from tests.helpers.clients import ScimClient
from tests.helpers.clients import patch_op
from tests.helpers.factories import make_token
from tests.helpers.lifecycle import make_user
from tests.helpers.lifecycle import set_created
from tests.helpers.lifecycle import user
from tests.helpers.lifecycle import with_rules
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import okta_attributes
from tests.helpers.saml import reason_of
from tests.helpers.saml import sp_login

DAY = timedelta(days=1)
NOW_RULE = {"default": {"inactive_for": "30d", "warn_before": "0s", "new_account_grace": "0s"}}


def test_a_suspension_survives_okta_and_entra_pushes_until_an_admin_lifts_it(
        make_app: Callable[..., Flask], settings: config.Settings, clock: FrozenClock,
        app: Flask, idp: DemoIdP) -> None:
    ruled = make_app(with_rules(settings, NOW_RULE))
    db = get_db(ruled)
    db.clock = clock
    client = ruled.test_client()
    scim = ScimClient(client, make_token(db, "okta"))
    created = scim.post("/Users", {"userName": "Strauß@example.com", "active": True})
    assert created.status_code == 201, created.get_json()
    uid = created.get_json()["id"]
    signed_in = sp_login(client, idp, "Strauß@example.com", okta_attributes("Strauß@example.com"))
    assert signed_in.status_code == 303
    assert client.get("/me").status_code == 200
    token = personal_token(db, "Strauß@example.com")
    clock.advance(31 * DAY)

    assert run_due(db).suspended == 1
    assert (user(db, uid).active, user(db, uid).suspended_at) == (True, clock.now())
    assert outbox_topics(db) == ["lifecycle.dormant.suspended"]
    assert client.get("/me").status_code == 401  # the session ended: not signed in
    assert AccessClient(client, token).get("/memberships").status_code == 401

    okta = scim.patch(f"/Users/{uid}", patch_op({"op": "replace", "value": {"active": True}}))
    entra = scim.patch(f"/Users/{uid}", patch_op({"op": "Replace", "path": "active",
                                                  "value": "True"}))
    put = scim.put(f"/Users/{uid}", {"userName": "Strauß@example.com", "active": True,
                                     "displayName": "Johann Strauß"})
    assert [r.status_code for r in (okta, entra, put)] == [200, 200, 200]
    assert scim.get(f"/Users/{uid}").get_json()["active"] is True  # what the IdP pushed
    assert user(db, uid).suspended_at == clock.now()
    refused = sp_login(client, idp, "Strauß@example.com", okta_attributes("Strauß@example.com"))
    assert (refused.status_code, reason_of(refused)) == (403, "dormant")
    assert user(db, uid).last_activity_at == clock.now() - 31 * DAY  # a refusal is no activity
    assert run_due(db).suspended == 0  # once

    # Lifting it: a lifecycle token, a reason; the audit:read token only reads.
    lifter = {"Authorization": f"Bearer {make_token(db, 'ops', ('lifecycle',))}"}
    reader = {"Authorization": f"Bearer {make_token(db, 'auditor', ('audit:read',))}"}
    path = f"/api/lifecycle/users/{uid}/unsuspend"
    assert client.post(path, json={"reason": "back"}, headers=reader).get_json()["error"] == \
        "forbidden"
    no_reason = client.post(path, json={"reason": "  "}, headers=lifter)
    assert (no_reason.status_code, no_reason.get_json()["error"]) == (400, "reason_required")
    unknown = client.post("/api/lifecycle/users/nobody/unsuspend", json={"reason": "x"},
                          headers=lifter)
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "not_found")
    lifted = client.post("/api/lifecycle/users/Strauß@example.com/unsuspend",
                         json={"reason": "back from leave"}, headers=lifter)
    assert (lifted.status_code, lifted.get_json()["state"]) == (200, "active")
    again = client.post(path, json={"reason": "again"}, headers=lifter)
    assert (again.status_code, again.get_json()["error"]) == (400, "not_suspended")
    lift = events(db, "user:unsuspend")
    assert [(e.actor_label, e.reason, e.changes["state"]) for e in lift if e.changes] == [
        ("ops", "back from leave", ["suspended", "active"])]
    assert lift[0].changes is not None and lift[0].changes["suspendedReason"][0].startswith(
        "dormant rule 'default': no activity since ")
    # The clock restarts: not dormant again until 30 days from now.
    assert dormant.preview(db, db.lifecycle, ()) == []
    assert sp_login(client, idp, "Strauß@example.com",
                    okta_attributes("Strauß@example.com")).status_code == 303
    assert chain_ok(db)


def test_unsuspend_from_the_cli(make_app: Callable[..., Flask], settings: config.Settings,
                                app: Flask, runner: CliRunner) -> None:
    db = get_db(app)
    uid = make_user(db, "Strauß@example.com")
    set_created(db, uid, db.clock.now() - 100 * DAY)
    ran = runner.invoke(main, ["lifecycle", "run"])
    assert ran.output.startswith("warned 1, deactivated 0, suspended 0"), ran.output
    missing = runner.invoke(main, ["users", "unsuspend", "Strauß@example.com"])
    assert missing.exit_code == 2 and "--reason" in missing.output
    not_yet = runner.invoke(main, ["users", "unsuspend", "Strauß@example.com", "--reason", "x"])
    assert (not_yet.exit_code, not_yet.output) == (
        1, "error: 'Strauß@example.com' is not suspended\n")
    ruled = make_app(with_rules(settings, NOW_RULE))
    assert run_due(get_db(ruled)).suspended == 1
    shown = runner.invoke(main, ["users", "show", "Strauß@example.com"])
    assert "state:       suspended" in shown.output
    lifted = runner.invoke(main, ["users", "unsuspend", "Strauß@example.com", "--reason",
                                  "still with us"])
    assert (lifted.exit_code, lifted.output) == (0, "Strauß@example.com's suspension is lifted\n")
    assert [e.reason for e in events(db, "user:unsuspend")] == ["still with us"]
    assert user(db, uid).suspended_at is None


def test_two_instances_running_the_rule_at_once_act_once(
        make_app: Callable[..., Flask], settings: config.Settings, app: Flask,
        clock: FrozenClock) -> None:
    first, second = (make_app(with_rules(settings, {"default": {
        "inactive_for": "30d", "warn_before": "1d", "new_account_grace": "0s"}}))
        for _ in range(2))
    dbs = [get_db(first), get_db(second)]
    for db in dbs:
        db.clock = clock
    ids = [make_user(dbs[0], f"user{n}-Äda@example.com", source="scim" if n % 2 else "jit")
           for n in range(30)]
    for uid in ids:
        set_created(dbs[0], uid, clock.now())
    clock.advance(29 * DAY + timedelta(minutes=1))

    def race() -> list[dormant.RunResult]:
        results: list[dormant.RunResult] = []
        barrier = threading.Barrier(2)

        def work(db: object) -> None:
            barrier.wait()
            results.append(dormant.run(db, db.lifecycle, ()))  # type: ignore[attr-defined]

        threads = [threading.Thread(target=work, args=(db,)) for db in dbs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    warned = race()
    assert sum(r.warned for r in warned) == 30
    clock.advance(DAY)
    acted = race()
    assert (sum(r.suspended for r in acted), sum(r.deactivated for r in acted)) == (15, 15)
    assert len(events(dbs[0], "lifecycle:dormant:warn")) == 30
    assert len(events(dbs[0], "user:suspend")) == 15
    assert len(events(dbs[0], "user:deactivate")) == 15
    assert Counter(outbox_topics(dbs[0])) == {"lifecycle.dormant.warning": 30,
                                              "lifecycle.dormant.suspended": 15,
                                              "lifecycle.dormant.deactivated": 15}
    assert chain_ok(dbs[0])
