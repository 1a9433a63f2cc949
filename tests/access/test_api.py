"""The access request state machine through ``/api/access`` with personal tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask.testing import FlaskClient

from app.clock import FrozenClock
from app.db import Database
from tests.access.conftest import Cast
from tests.helpers.access import AccessClient
from tests.helpers.access import app_token
from tests.helpers.access import chain_ok
from tests.helpers.access import event_count
from tests.helpers.access import events
from tests.helpers.access import outbox_topics
from tests.helpers.access import personal_token

ASK = {"group": "prod-db-readers", "duration": "PT2H", "reason": "incident INC-7",
       "ticket": "INC-7"}


def as_user(client: FlaskClient, db: Database, user_name: str, **kw: str) -> AccessClient:
    return AccessClient(client, personal_token(db, user_name, **kw))


def groups_of(client: FlaskClient, db: Database, user_name: str) -> list[tuple[str, str]]:
    reader = AccessClient(client, app_token(db, f"reader-{secrets.token_hex(4)}"))
    body = reader.get("/memberships", user=user_name).get_json()
    return [(m["group"], m["source"]) for m in body["memberships"]]


def test_request_approve_grant_then_expiry_at_read_time(client: FlaskClient, db: Database,
                                                        cast: Cast, clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    bob = as_user(client, db, "bob@example.com")
    created = ada.post("/requests", ASK)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["state"], body["user"], body["group"], body["grant"]) == (
        "pending", "äda@example.com", "prod-db-readers", None)
    assert body["reason"] == "incident INC-7" and body["created_at"] == clock.now().isoformat()

    clock.advance(timedelta(minutes=20))  # the duration starts at approval, not at the request
    approved = bob.post(f"/requests/{body['id']}/approve", {"reason": "go"})
    assert approved.status_code == 200, approved.get_json()
    grant = approved.get_json()["grant"]
    assert approved.get_json()["state"] == "approved"
    assert grant["state"] == "active"
    assert grant["starts_at"] == clock.now().isoformat()
    assert grant["ends_at"] == (clock.now() + timedelta(hours=2)).isoformat()
    assert ("prod-db-readers", "grant") in groups_of(client, db, "äda@example.com")

    clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert ("prod-db-readers", "grant") in groups_of(client, db, "äda@example.com")
    clock.advance(timedelta(seconds=1))  # ends_at reached: gone, with no sweeper having run
    assert ("prod-db-readers", "grant") not in groups_of(client, db, "äda@example.com")
    assert ada.get(f"/grants/{grant['id']}").get_json()["state"] == "ended"
    assert [e.action for e in events(db)] == [
        "access:request:create", "access:request:approve", "access:grant:create"]
    assert outbox_topics(db) == ["access.request.created", "access.grant.started",
                                 "access.request.approved"]
    assert chain_ok(db)


def test_self_approval_is_refused_and_recorded_alone(client: FlaskClient, db: Database,
                                                     cast: Cast, clock: FrozenClock) -> None:
    make = as_user(client, db, "bob@example.com")  # an approver asking for access himself
    # bob is not in engineering: not eligible to request at all
    refused = make.post("/requests", ASK)
    assert (refused.status_code, refused.get_json()["error"]) == (403, "not_eligible")
    ada = as_user(client, db, "äda@example.com")
    request_id = ada.post("/requests", ASK).get_json()["id"]
    before = event_count(db)
    own = ada.post(f"/requests/{request_id}/approve", {"reason": "me"})
    assert (own.status_code, own.get_json()["error"]) == (403, "self_approval")
    denied = events(db)[-1]
    assert (denied.action, denied.outcome) == ("access:request:approve", "denied")
    assert denied.changes == {"code": [None, "self_approval"]}
    assert event_count(db) == before + 1
    assert ada.get(f"/requests/{request_id}").get_json()["state"] == "pending"


def test_policy_refusals_have_stable_codes_and_write_only_their_event(
        client: FlaskClient, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    eve = as_user(client, db, "eve@example.com")
    cases = [
        (ada, {**ASK, "reason": "  "}, 400, "reason_required"),
        (ada, {**ASK, "ticket": None}, 400, "ticket_required"),
        (ada, {**ASK, "ticket": "JIRA-1"}, 400, "ticket_invalid"),
        (ada, {**ASK, "duration": "9h"}, 400, "duration_too_long"),
        (ada, {**ASK, "duration": "soon"}, 400, "invalid_field"),
        (ada, {**ASK, "colour": "red"}, 400, "unknown_field"),
        (ada, {**ASK, "group": "no-such-group"}, 404, "unknown_group"),
        (ada, {**ASK, "group": "engineering"}, 403, "not_requestable"),
        (eve, ASK, 403, "not_eligible"),
        (ada, {**ASK, "break_glass": True}, 403, "break_glass_not_allowed"),
        (ada, {**ASK, "user": "bob@example.com"}, 403, "not_yourself"),
    ]
    for caller, body, status, code in cases:
        before = event_count(db)
        answer = caller.post("/requests", body)
        assert (answer.status_code, answer.get_json()["error"]) == (status, code), body
        assert outbox_topics(db) == []
        # schema errors stop before the service: nothing at all is written for them
        written = 0 if code in ("invalid_field", "unknown_field") else 1
        assert event_count(db) == before + written, code
    assert ada.get("/requests").get_json()["requests"] == []


def test_dry_run_says_who_decides_and_writes_nothing(client: FlaskClient, db: Database,
                                                     cast: Cast, clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    dee = as_user(client, db, "dee@example.com")
    before = event_count(db)
    pending = ada.post("/requests", {**ASK, "dry_run": True})
    assert pending.status_code == 200
    assert pending.get_json() | {"policy_digest": "-"} == {
        "decision": "pending", "policy": "db-read", "policy_digest": "-",
        "rule": "policy 'db-read': 1 approval(s) by members of sre-leads",
        "approvers": ["sre-leads"], "approvals_needed": 1, "duration_seconds": 7200,
        "starts_at": clock.now().isoformat(),
        "ends_at": (clock.now() + timedelta(hours=2)).isoformat()}
    auto = dee.post("/requests", {**ASK, "dry_run": True}).get_json()
    assert (auto["decision"], auto["rule"]) == (
        "auto_approved", "policy 'db-read': auto_approve_if_member_of includes 'oncall'")
    refused = ada.post("/requests", {**ASK, "ticket": "x", "dry_run": True})
    assert refused.get_json()["error"] == "ticket_invalid"
    assert event_count(db) == before
    assert ada.get("/requests").get_json()["requests"] == []


def test_auto_approval_by_group_and_by_ci_token(client: FlaskClient, db: Database, cast: Cast,
                                                clock: FrozenClock) -> None:
    dee = as_user(client, db, "dee@example.com")
    body = dee.post("/requests", ASK).get_json()
    assert (body["state"], body["grant"]["state"]) == ("approved", "active")
    assert body["decided_by"] == "policy 'db-read': auto_approve_if_member_of includes 'oncall'"
    bot = as_user(client, db, "äda@example.com", name="deploy-bot")
    ci = bot.post("/requests", ASK).get_json()
    assert (ci["state"], ci["grant"]["state"]) == ("approved", "active")
    assert "auto_approve_tokens includes 'deploy-bot'" in ci["decided_by"]


def test_two_approvals_need_two_people(client: FlaskClient, db: Database, cast: Cast,
                                       clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    bob = as_user(client, db, "bob@example.com")
    cyd = as_user(client, db, "cyd@example.com")
    request_id = ada.post("/requests", {"group": "payroll-admins"}).get_json()["id"]
    first = bob.post(f"/requests/{request_id}/approve").get_json()
    assert (first["state"], len(first["reviews"]), first["grant"]) == ("pending", 1, None)
    twice = bob.post(f"/requests/{request_id}/approve")
    assert (twice.status_code, twice.get_json()["error"]) == (409, "already_reviewed")
    second = cyd.post(f"/requests/{request_id}/approve").get_json()
    assert second["state"] == "approved"
    assert [(r["reviewer"].split(" ")[-1], r["decision"]) for r in second["reviews"]] == [
        ("(bob@example.com)", "approve"), ("(cyd@example.com)", "approve")]
    assert second["grant"]["state"] == "active"


def test_mfa_policy_refuses_a_session_without_mfa(client: FlaskClient, db: Database, cast: Cast,
                                                  clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    refused = ada.post("/requests", {"group": "prod-db-admins"})  # a token carries no MFA
    assert (refused.status_code, refused.get_json()["error"]) == (403, "mfa_required")


def test_deny_withdraw_and_decisions_on_decided_requests(client: FlaskClient, db: Database,
                                                          cast: Cast, clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    bob = as_user(client, db, "bob@example.com")
    eve = as_user(client, db, "eve@example.com")
    first = ada.post("/requests", ASK).get_json()["id"]
    not_approver = eve.post(f"/requests/{first}/approve")
    assert (not_approver.status_code, not_approver.get_json()["error"]) == (403, "not_approver")
    denied = bob.post(f"/requests/{first}/deny", {"reason": "use the replica"})
    assert denied.get_json()["state"] == "denied"
    assert denied.get_json()["decision_reason"] == "use the replica"
    again = bob.post(f"/requests/{first}/approve")
    assert (again.status_code, again.get_json()["error"]) == (409, "not_pending")
    second = ada.post("/requests", ASK).get_json()["id"]
    assert bob.post(f"/requests/{second}/withdraw").get_json()["error"] == "not_yours"
    withdrawn = ada.post(f"/requests/{second}/withdraw", {"reason": "fixed it"})
    assert withdrawn.get_json()["state"] == "withdrawn"
    missing = bob.post("/requests/00000000-0000-0000-0000-000000000000/approve")
    assert (missing.status_code, missing.get_json()["error"]) == (404, "unknown_request")


def test_revoke_really_revokes_and_a_user_may_drop_their_own(
        client: FlaskClient, db: Database, cast: Cast, clock: FrozenClock) -> None:
    dee = as_user(client, db, "dee@example.com")
    grant = dee.post("/requests", ASK).get_json()["grant"]
    clock.advance(timedelta(minutes=5))
    eve = as_user(client, db, "eve@example.com")
    stranger = eve.post(f"/grants/{grant['id']}/revoke")
    assert (stranger.status_code, stranger.get_json()["error"]) == (403, "not_allowed")
    done = dee.post(f"/grants/{grant['id']}/revoke", {"reason": "done"})
    assert done.status_code == 200
    assert done.get_json()["state"] == "revoked"
    assert done.get_json()["ends_at"] == clock.now().isoformat()
    assert ("prod-db-readers", "grant") not in groups_of(client, db, "dee@example.com")
    twice = dee.post(f"/grants/{grant['id']}/revoke")
    assert (twice.status_code, twice.get_json()["error"]) == (409, "grant_ended")


def test_extend_leaves_no_gap_and_overlapping_grants_do_not_cut_each_other(
        client: FlaskClient, db: Database, cast: Cast, clock: FrozenClock) -> None:
    dee = as_user(client, db, "dee@example.com")  # auto-approved: may extend their own grant
    first = dee.post("/requests", {**ASK, "duration": "1h"}).get_json()["grant"]
    clock.advance(timedelta(minutes=50))
    extended = dee.post(f"/grants/{first['id']}/extend", {"duration": "1h", "reason": "more"})
    assert extended.status_code == 200, extended.get_json()
    successor = extended.get_json()
    assert successor["starts_at"] == first["ends_at"]  # no gap
    assert successor["extended_from"] == first["id"]
    clock.advance(timedelta(minutes=10))  # the first grant's end: access continues
    assert ("prod-db-readers", "grant") in groups_of(client, db, "dee@example.com")
    # a second, overlapping grant of the same group ends earlier: the longer one survives it
    bob = as_user(client, db, "bob@example.com")
    ada = as_user(client, db, "äda@example.com")
    r1 = ada.post("/requests", {**ASK, "duration": "3h"}).get_json()["id"]
    bob.post(f"/requests/{r1}/approve")
    r2 = ada.post("/requests", {**ASK, "duration": "1h"}).get_json()["id"]
    assert bob.post(f"/requests/{r2}/approve").get_json()["state"] == "approved"
    clock.advance(timedelta(hours=1, minutes=1))
    assert ("prod-db-readers", "grant") in groups_of(client, db, "äda@example.com")
    clock.advance(timedelta(hours=2))
    assert ("prod-db-readers", "grant") not in groups_of(client, db, "äda@example.com")


def test_extension_of_own_grant_needs_an_approver_unless_auto(
        client: FlaskClient, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    bob = as_user(client, db, "bob@example.com")
    request_id = ada.post("/requests", ASK).get_json()["id"]
    grant = bob.post(f"/requests/{request_id}/approve").get_json()["grant"]
    own = ada.post(f"/grants/{grant['id']}/extend", {"duration": "1h", "reason": "more"})
    assert (own.status_code, own.get_json()["error"]) == (403, "approval_required")
    by_approver = bob.post(f"/grants/{grant['id']}/extend", {"duration": "1h", "reason": "ok"})
    assert by_approver.status_code == 200
    too_long = bob.post(f"/grants/{by_approver.get_json()['id']}/extend",
                        {"duration": "9h", "reason": "x"})
    assert too_long.get_json()["error"] == "duration_too_long"


def test_reads_are_scoped_to_the_caller(client: FlaskClient, db: Database, cast: Cast,
                                        clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    eve = as_user(client, db, "eve@example.com")
    bob = as_user(client, db, "bob@example.com")
    request_id = ada.post("/requests", ASK).get_json()["id"]
    assert eve.get(f"/requests/{request_id}").status_code == 404
    assert eve.get("/memberships", user="äda@example.com").get_json()["error"] == "not_allowed"
    assert [r["id"] for r in eve.get("/requests").get_json()["requests"]] == []
    # the approver reviews ada's request, so sees it and her memberships
    assert bob.get(f"/requests/{request_id}").status_code == 200
    assert bob.get("/memberships", user="äda@example.com").status_code == 200
    mine = ada.get("/memberships").get_json()
    assert (mine["user"], mine["memberships"]) == ("äda@example.com", [
        {"group": "engineering", "group_id": mine["memberships"][0]["group_id"],
         "source": "scim"}])
    reader = AccessClient(client, app_token(db))
    assert [r["id"] for r in reader.get("/requests").get_json()["requests"]] == [request_id]
    read_only = reader.post("/requests", ASK)
    assert (read_only.status_code, read_only.get_json()["error"]) == (403, "read_only")


def test_authentication_errors(client: FlaskClient, db: Database, cast: Cast) -> None:
    anonymous = client.get("/api/access/requests")
    assert (anonymous.status_code, anonymous.get_json()["error"]) == (401, "unauthorized")
    bad = client.get("/api/access/requests", headers={"Authorization": "Bearer fd_x_y"})
    assert bad.status_code == 401
    from tests.helpers.factories import make_token

    scim_only = make_token(db)
    wrong = client.get("/api/access/requests", headers={"Authorization": f"Bearer {scim_only}"})
    assert (wrong.status_code, wrong.get_json()["error"]) == (403, "forbidden")
    token = personal_token(db, "äda@example.com")
    not_json = client.post("/api/access/requests", data="[1]",
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
    assert (not_json.status_code, not_json.get_json()["error"]) == (400, "invalid_json")


def test_a_personal_token_stops_while_its_user_is_deactivated(
        client: FlaskClient, db: Database, cast: Cast, clock: FrozenClock) -> None:
    from app import services
    from app.audit.events import Actor
    from app.uow import UnitOfWork

    ada = as_user(client, db, "äda@example.com")
    assert ada.get("/memberships").status_code == 200
    with UnitOfWork(db) as uow:
        services.set_user_active(uow, cast.ada, False, actor=Actor("test"), reason="left")
    assert ada.get("/memberships").status_code == 401
    with UnitOfWork(db) as uow:
        services.set_user_active(uow, cast.ada, True, actor=Actor("test"), reason="back")
    assert ada.get("/memberships").status_code == 200


def test_break_glass_is_active_at_once_and_flagged_until_an_approver_reviews_it(
        client: FlaskClient, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada = as_user(client, db, "äda@example.com")
    bob = as_user(client, db, "bob@example.com")
    body = ada.post("/requests", {"group": "sandbox-1", "break_glass": True,
                                  "reason": "prod is down"}).get_json()
    assert (body["state"], body["break_glass"], body["needs_review"], body["grant"]["state"]) == (
        "approved", True, True, "active")
    assert body["decided_by"] == "policy 'sandbox': break_glass = true"
    assert "access.break_glass" in outbox_topics(db)
    assert ada.post(f"/requests/{body['id']}/close-review",
                    {"reason": "fine"}).get_json()["error"] == "self_approval"
    assert bob.post(f"/requests/{body['id']}/close-review").get_json()["error"] == \
        "reason_required"
    closed = bob.post(f"/requests/{body['id']}/close-review", {"reason": "justified outage"})
    assert (closed.status_code, closed.get_json()["needs_review"]) == (200, False)
    again = bob.post(f"/requests/{body['id']}/close-review", {"reason": "x"})
    assert (again.status_code, again.get_json()["error"]) == (409, "no_review_needed")
