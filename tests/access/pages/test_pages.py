"""The access pages through HTTP: my access (live at each load), the request form (dry run,
pending, auto-approved, break-glass, refusals with their codes), my requests (withdraw, "I'm
done"), the approver's inbox (approve, deny, two approvals, self-approval refused, closing a
break-glass review), the console's access pages (filters, detail, revoke with a reason), CSRF.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.access import queries
from app.clock import FrozenClock
from app.db import Database
from app.models import AccessRequest
from app.models import Grant
from tests.access.conftest import Cast
from tests.helpers.access import T0
from tests.helpers.access import chain_ok
from tests.helpers.access import event_count
from tests.helpers.access import events
from tests.helpers.clients import BASE_URL
from tests.helpers.console import sign_in_with_link
from tests.helpers.console import sso_login
from tests.helpers.pages import body
from tests.helpers.pages import flash
from tests.helpers.pages import post
from tests.helpers.pages import refusal
from tests.helpers.pages import rows
from tests.helpers.pages import section
from tests.helpers.pages import sign_in
from tests.helpers.saml import DemoIdP

READERS = {"group": "prod-db-readers", "duration": "2h", "reason": "incident INC-7",
           "ticket": "INC-7", "action": "submit"}


def person(app: Flask, user_id: str, *, mfa: bool = False) -> FlaskClient:
    return sign_in(app.test_client(), user_id, mfa=mfa, base_url=BASE_URL)


def requests_of(db: Database, user_id: str) -> list[AccessRequest]:
    with db.read_session() as session:
        return queries.list_requests(session, queries.RequestFilter(user_id=user_id))


def grant_of(db: Database, request_id: str) -> Grant:
    with db.read_session() as session:
        return queries.grants_of_requests(session, [request_id])[request_id][-1]


def ask(client: FlaskClient, **form: str) -> TestResponse:
    return post(client, "/access/request", **{**READERS, **form})


# -- my access --------------------------------------------------------------------------------

def test_my_access_shows_standing_and_granted_groups_and_a_grant_ends_on_the_next_load(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock) -> None:
    dee = person(app, cast.dee)  # on call: prod-db-readers is approved at once for her
    page = body(dee.get("/access/"))
    assert rows(page, "memberships") == ["engineering standing (provisioned) no end",
                                         "oncall standing (provisioned) no end"]

    done = ask(dee)
    assert done.status_code == 303 and done.headers["Location"] == "/access/requests"
    after = dee.get("/access/requests")
    assert flash(body(after)) == [
        "Approved at once (policy 'db-read': auto_approve_if_member_of includes 'oncall'): "
        "you have prod-db-readers until 2026-03-02 11:00:00 UTC."]
    page = body(dee.get("/access/"))
    assert "prod-db-readers granted 2026-03-02 11:00:00 (2h 0m left) I'm done" in rows(
        page, "memberships")

    clock.advance(timedelta(hours=1, minutes=59, seconds=59))
    assert "prod-db-readers granted 2026-03-02 11:00:00 (less than a minute left) I'm done" in \
        rows(body(dee.get("/access/")), "memberships")
    db.clock = FrozenClock(T0 + timedelta(hours=2))  # the end: gone at the next load
    page = body(dee.get("/access/"))
    assert [r.split()[0] for r in rows(page, "memberships")] == ["engineering", "oncall"]
    mine = rows(body(dee.get("/access/requests")), "requests")
    assert len(mine) == 1 and "approved" in mine[0] and "ended 2026-03-02 11:00:00 UTC" in mine[0]


def test_pages_need_a_person_signed_in_with_sso(app: Flask, client: FlaskClient, cast: Cast,
                                               idp: DemoIdP, runner: CliRunner) -> None:
    anonymous = client.get("/access/requests")
    assert anonymous.status_code == 401
    link = section(body(anonymous), "sign-in")
    assert link == "Sign in with single sign-on"
    assert 'href="/saml/login?next=/access/requests"' in body(anonymous)

    # An admin sign-in link is nobody here: no person to ask for access as.
    sign_in_with_link(client, runner)
    link_only = client.get("/access/")
    assert link_only.status_code == 403
    assert "<h1>Sign in with single sign-on</h1>" in body(link_only)

    # A real SAML sign-in through the demo IdP lands on the pages as that person.
    sso_login(client, idp, "äda@example.com", [])
    page = client.get("/access/")
    assert page.status_code == 200
    assert "Signed in as <strong>äda@example.com</strong>" in body(page)
    assert [r.split()[0] for r in rows(body(page), "memberships")] == ["engineering"]


def test_every_page_is_locked_down_like_the_console(app: Flask, cast: Cast) -> None:
    ada = person(app, cast.ada)
    for path in ("/access/", "/access/request", "/access/requests", "/access/inbox"):
        response = ada.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        html = body(response)
        assert "<script" not in html and "<style" not in html and " style=" not in html
        forms = html.count("<form")
        assert html.count('name="csrf" value="csrf-') == forms, path  # every form carries it


# -- asking -----------------------------------------------------------------------------------

def test_the_form_offers_what_policy_lets_this_person_request(app: Flask, cast: Cast) -> None:
    offers = rows(body(person(app, cast.ada).get("/access/request")), "offers")
    assert offers == [
        "payroll-admins 2 by sre-leads 8h (default 1h) — Choose",
        "prod-db-admins 2 by sre-leads; break-glass allowed 2h (default 30m) an MFA sign-in Choose",
        "prod-db-readers 1 by sre-leads 8h (default 1h) a reason, a ticket Choose",
        "sandbox-1 1 by sre-leads; break-glass allowed 1d (default 1h) — Choose",
    ]
    dee = rows(body(person(app, cast.dee).get("/access/request")), "offers")
    assert "prod-db-readers at once for you (member of oncall) 8h (default 1h) a reason, " \
           "a ticket Choose" in dee
    # eve is not in engineering: only the sandbox (anyone may ask) is offered
    assert [r.split()[0] for r in rows(
        body(person(app, cast.eve).get("/access/request")), "offers")] == ["sandbox-1"]
    chosen = body(person(app, cast.ada).get("/access/request?group=prod-db-readers"))
    assert '<option value="prod-db-readers" selected>' in chosen
    assert "(required, matching <code>^INC-[0-9]+$</code>)" in chosen


def test_check_shows_the_decision_and_its_rule_and_writes_nothing(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada = person(app, cast.ada)
    before = event_count(db)
    checked = ask(ada, action="check")
    assert checked.status_code == 200
    assert section(body(checked), "decision") == (
        "Check: this needs approval 1 approval by members of sre-leads. Access would run from "
        "2026-03-02 09:00:00 to 2026-03-02 11:00:00 UTC (2h). Deciding rule: policy 'db-read': "
        "1 approval(s) by members of sre-leads Nothing was filed; press “Request access” to ask.")
    assert 'value="incident INC-7"' not in body(checked)  # the reason is a textarea...
    assert ">incident INC-7</textarea>" in body(checked)  # ...kept for the real request

    dee = ask(person(app, cast.dee), action="check")
    assert "Check: this would be approved at once" in section(body(dee), "decision")
    assert "auto_approve_if_member_of includes 'oncall'" in section(body(dee), "decision")

    refused = ask(ada, action="check", ticket="JIRA-1")
    assert refused.status_code == 400
    assert refusal(body(refused)) == ("That ticket does not look right. the ticket must match "
                                      "^INC-[0-9]+$. Code: ticket_invalid")
    assert event_count(db) == before and requests_of(db, cast.ada) == []


def test_a_request_goes_pending_and_shows_in_my_requests(app: Flask, db: Database, cast: Cast,
                                                        clock: FrozenClock) -> None:
    ada = person(app, cast.ada)
    filed = ask(ada)
    assert filed.status_code == 303
    page = body(ada.get("/access/requests"))
    assert flash(page) == ["Asked for prod-db-readers: waiting for 1 approval(s) by members of "
                           "sre-leads."]
    assert rows(page, "requests") == [
        "2026-03-02 09:00:00 prod-db-readers pending 2h incident INC-7 INC-7 0 of 1 approval; "
        "decide by 2026-03-02 10:00:00 — Withdraw"]
    [row] = requests_of(db, cast.ada)
    assert (row.state, row.requested_via, row.reason) == ("pending", "session", "incident INC-7")
    created = events(db)[-1]
    assert (created.action, created.actor_id, created.user_agent) == (
        "access:request:create", cast.ada, "Werkzeug/" + created.user_agent.split("/", 1)[1])
    assert created.request_id  # the page's request id is on the audit event

    again = ask(ada)
    assert again.status_code == 409
    assert refusal(body(again)).endswith("Code: already_pending")


def test_refusals_show_the_code_and_a_way_forward(app: Flask, db: Database, cast: Cast,
                                                 clock: FrozenClock) -> None:
    ada = person(app, cast.ada)
    cases = [
        ({"reason": ""}, 400, "reason_required"),
        ({"duration": "9h"}, 400, "duration_too_long"),
        ({"duration": "soon"}, 400, "invalid_duration"),
        ({"group": ""}, 400, "group_required"),
        ({"group": "engineering"}, 403, "not_requestable"),
        ({"break_glass": "1"}, 403, "break_glass_not_allowed"),
    ]
    for form, status, code in cases:
        answer = ask(ada, **form)
        assert answer.status_code == status, form
        assert refusal(body(answer)).endswith(f"Code: {code}"), body(answer)
    eve = ask(person(app, cast.eve))
    assert eve.status_code == 403
    assert refusal(body(eve)) == ("You may not request this group. policy 'db-read' lets "
                                  "members of engineering request 'prod-db-readers'. "
                                  "Code: not_eligible")

    # MFA: the page says so and links to a sign-in that comes back to this form
    mfa = ask(ada, group="prod-db-admins", ticket="", reason="")
    assert mfa.status_code == 403
    text = refusal(body(mfa))
    assert text.startswith("This needs a multi-factor sign-in.")
    assert "Sign in again with multi-factor authentication , then come back" in text
    assert text.endswith("Code: mfa_required")
    href = body(mfa).split('id="refusal"', 1)[1].split('<a href="', 1)[1].split('"', 1)[0]
    link = urlsplit(href.replace("&amp;", "&"))
    assert link.path == "/saml/login"
    assert parse_qs(link.query) == {"step_up": ["mfa"],
                                    "next": ["/access/request?group=prod-db-admins"]}
    assert requests_of(db, cast.ada) == []
    # each refusal the service saw is in the audit log as denied (form errors never reach it)
    denied = [e.changes["code"][1] for e in events(db) if e.outcome == "denied"]
    assert denied == ["reason_required", "duration_too_long", "not_requestable",
                      "break_glass_not_allowed", "not_eligible", "mfa_required"]
    assert chain_ok(db)


# -- deciding ---------------------------------------------------------------------------------

def test_the_approver_approves_from_the_inbox_beside_the_requesters_access(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada, bob = person(app, cast.ada), person(app, cast.bob)
    ask(ada)
    [request] = requests_of(db, cast.ada)
    inbox = body(bob.get("/access/inbox"))
    card = section(inbox, f"request-{request.id}")
    assert card.startswith("äda@example.com asks for prod-db-readers For 2h Reason incident "
                           "INC-7 Ticket INC-7")
    assert "Approvals 0 of 1 Policy db-read" in card
    assert "Their access now engineering standing Recent grants none" in card
    assert section(inbox, "review") == "No break-glass access is waiting for a review."

    clock.advance(timedelta(minutes=10))
    decided = post(bob, f"/access/requests/{request.id}/decide", decision="approve",
                   reason="looks right")
    assert decided.status_code == 303 and decided.headers["Location"] == "/access/inbox"
    inbox = body(bob.get("/access/inbox"))
    assert flash(inbox) == ["Approved: äda@example.com → prod-db-readers. The access starts now."]
    assert section(inbox, "pending") == "Nothing is waiting for you."

    grant = grant_of(db, request.id)
    assert (grant.starts_at, grant.ends_at) == (T0 + timedelta(minutes=10),
                                                T0 + timedelta(hours=2, minutes=10))
    mine = body(ada.get("/access/"))
    assert "prod-db-readers granted 2026-03-02 11:10:00 (2h 0m left) I'm done" in rows(
        mine, "memberships")
    [row] = rows(body(ada.get("/access/requests")), "requests")
    assert "approved" in row and "bob@example.com: “looks right”" in row
    assert "active until 2026-03-02 11:10:00 UTC (2h 0m left) I'm done" in row
    review = [e for e in events(db) if e.action == "access:request:approve"][-1]
    assert (review.actor_id, review.reason) == (cast.bob, "looks right")


def test_deny_and_two_approvals_from_the_inbox(app: Flask, db: Database, cast: Cast,
                                              clock: FrozenClock) -> None:
    ada, bob, cyd = person(app, cast.ada), person(app, cast.bob), person(app, cast.cyd)
    ask(ada, group="sandbox-1", duration="", ticket="", reason="")
    clock.advance(timedelta(seconds=1))  # newest first, by the clock
    ask(ada, group="payroll-admins", duration="1h", ticket="", reason="quarter close")
    sandbox, payroll = sorted(requests_of(db, cast.ada), key=lambda r: r.group_name != "sandbox-1")

    denied = post(bob, f"/access/requests/{sandbox.id}/decide", decision="deny",
                  reason="use staging")
    assert denied.status_code == 303
    assert flash(body(bob.get("/access/inbox"))) == ["Denied: äda@example.com → sandbox-1."]

    post(bob, f"/access/requests/{payroll.id}/decide", decision="approve", reason="ok")
    inbox = body(bob.get("/access/inbox"))
    assert flash(inbox) == ["Your approval of äda@example.com → payroll-admins is recorded; it "
                            "needs 2 in all."]
    card = section(inbox, f"request-{payroll.id}")
    assert "Approvals 1 of 2: bob@example.com" in card
    assert card.endswith("You have approved; waiting for another approver. Their access now "
                         "engineering standing Recent grants none")
    twice = post(bob, f"/access/requests/{payroll.id}/decide", decision="approve")
    assert twice.status_code == 409
    assert refusal(body(twice)).endswith("Code: already_reviewed")

    post(cyd, f"/access/requests/{payroll.id}/decide", decision="approve", reason="ok too")
    mine = rows(body(ada.get("/access/requests")), "requests")
    assert [r.split()[2:4] for r in mine] == [["payroll-admins", "approved"],
                                              ["sandbox-1", "denied"]]
    assert "bob@example.com: “use staging”" in mine[1]


def test_nobody_approves_their_own_request_on_the_page(app: Flask, db: Database, cast: Cast,
                                                      clock: FrozenClock) -> None:
    bob, cyd = person(app, cast.bob), person(app, cast.cyd)
    ask(bob, group="sandbox-1", duration="", ticket="", reason="")  # anyone may ask for it
    [own] = requests_of(db, cast.bob)
    assert section(body(bob.get("/access/inbox")), "pending") == "Nothing is waiting for you."
    assert f"request-{own.id}" in body(cyd.get("/access/inbox"))

    refused = post(bob, f"/access/requests/{own.id}/decide", decision="approve", reason="me")
    assert refused.status_code == 403
    assert refusal(body(refused)) == ("You cannot decide on your own request. nobody may decide "
                                      "on their own request. Code: self_approval")
    assert requests_of(db, cast.bob)[0].state == "pending"
    last = events(db)[-1]
    assert (last.action, last.outcome, last.actor_id) == ("access:request:approve", "denied",
                                                          cast.bob)
    eve = person(app, cast.eve)
    assert "You approve nothing" in body(eve.get("/access/inbox"))
    not_approver = post(eve, f"/access/requests/{own.id}/decide", decision="approve")
    assert not_approver.status_code == 403
    assert refusal(body(not_approver)).endswith("Code: not_approver")


def test_withdraw_and_im_done(app: Flask, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada, dee = person(app, cast.ada), person(app, cast.dee)
    ask(ada)
    [pending] = requests_of(db, cast.ada)
    withdrawn = post(ada, f"/access/requests/{pending.id}/withdraw")
    assert withdrawn.status_code == 303
    page = body(ada.get("/access/requests"))
    assert flash(page)[-1] == "Withdrawn: your request for prod-db-readers."
    assert "withdrawn" in rows(page, "requests")[0] and "Withdraw<" not in page
    again = post(ada, f"/access/requests/{pending.id}/withdraw")
    assert again.status_code == 409
    assert refusal(body(again)).endswith("Code: not_pending")

    ask(dee)
    [auto] = requests_of(db, cast.dee)
    grant = grant_of(db, auto.id)
    clock.advance(timedelta(minutes=30))
    done = post(dee, f"/access/grants/{grant.id}/done", back="mine")
    assert done.status_code == 303 and done.headers["Location"] == "/access/"
    page = body(dee.get("/access/"))
    assert flash(page)[-1] == "Done: you no longer have prod-db-readers."
    assert "prod-db-readers" not in section(page, "memberships")
    ended = grant_of(db, auto.id)
    assert (ended.state, ended.ends_at, ended.ended_by) == (
        "revoked", T0 + timedelta(minutes=30), "dee@example.com")
    assert "revoked ended 2026-03-02 09:30:00 UTC" in rows(
        body(dee.get("/access/requests")), "requests")[0]
    # someone else's grant is not theirs to drop (ada is no approver)
    ask(dee, group="sandbox-1", duration="", ticket="", reason="")
    other = post(ada, f"/access/grants/{grant.id}/done")
    assert other.status_code == 409  # it has ended anyway: refused, shown, not a 500
    assert refusal(body(other)).endswith("Code: grant_ended")


def test_break_glass_with_mfa_then_the_review_is_closed_from_the_inbox(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock) -> None:
    ada = person(app, cast.ada, mfa=True)
    bob = person(app, cast.bob)
    glass = ask(ada, group="prod-db-admins", duration="1h", ticket="", reason="prod is down",
                break_glass="1")
    assert glass.status_code == 303
    assert flash(body(ada.get("/access/requests"))) == [
        "Break-glass: you have prod-db-admins until 2026-03-02 10:00:00 UTC. An approver will "
        "review this afterwards."]
    assert "prod-db-admins granted 2026-03-02 10:00:00 (1h 0m left) I'm done" in rows(
        body(ada.get("/access/")), "memberships")
    [request] = requests_of(db, cast.ada)
    card = section(body(bob.get("/access/inbox")), f"review-{request.id}")
    assert card.startswith("äda@example.com broke glass for prod-db-admins")
    assert "Their access now engineering standing prod-db-admins granted until" in card

    empty = post(bob, f"/access/requests/{request.id}/close-review", reason=" ")
    assert empty.status_code == 400
    assert refusal(body(empty)).endswith("Code: reason_required")
    closed = post(bob, f"/access/requests/{request.id}/close-review", reason="justified: INC-9")
    assert closed.status_code == 303
    inbox = body(bob.get("/access/inbox"))
    assert flash(inbox) == ["Review closed: äda@example.com → prod-db-admins."]
    assert section(inbox, "review") == "No break-glass access is waiting for a review."


# -- CSRF -------------------------------------------------------------------------------------

def test_a_post_without_the_sessions_token_is_refused_and_writes_nothing(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock, root: str) -> None:
    ada = person(app, cast.ada)
    before = event_count(db)
    for token in (None, "wrong"):
        form = {**READERS, **({"csrf": token} if token else {})}
        refused = ada.post("/access/request", data=form)
        assert refused.status_code == 400
        assert "<h1>Form expired</h1>" in body(refused)
    assert event_count(db) == before and requests_of(db, cast.ada) == []

    dee = person(app, cast.dee)
    ask(dee)
    grant = grant_of(db, requests_of(db, cast.dee)[0].id)
    admin = person(app, root)
    before = event_count(db)
    refused = admin.post(f"/admin/access/grants/{grant.id}/revoke",
                         data={"csrf": "wrong", "reason": "x"})
    assert refused.status_code == 400 and "Form expired" in body(refused)
    assert event_count(db) == before and grant_of(db, grant.request_id or "").state == "active"


# -- the console ------------------------------------------------------------------------------

def test_the_console_lists_filters_and_details_requests_and_grants(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock, root: str) -> None:
    ada, bob, dee = person(app, cast.ada), person(app, cast.bob), person(app, cast.dee)
    ask(ada)
    clock.advance(timedelta(seconds=1))
    ask(dee)
    clock.advance(timedelta(seconds=1))
    ask(ada, group="sandbox-1", duration="", ticket="", reason="")
    readers = next(r for r in requests_of(db, cast.ada) if r.group_name == "prod-db-readers")
    post(bob, f"/access/requests/{readers.id}/decide", decision="approve", reason="fine")
    admin = person(app, root)

    page = body(admin.get("/admin/access/requests"))
    assert '<a href="/admin/access/requests" class="current">Access</a>' in page
    listed = rows(page, "requests")
    assert [r.split()[2:5] for r in listed] == [
        ["äda@example.com", "sandbox-1", "pending"],
        ["dee@example.com", "prod-db-readers", "approved"],
        ["äda@example.com", "prod-db-readers", "approved"]]
    assert [r.split()[2:4] for r in rows(body(admin.get(
        "/admin/access/requests?state=pending")), "requests")] == [["äda@example.com",
                                                                    "sandbox-1"]]
    by_user = rows(body(admin.get("/admin/access/requests",
                                  query_string={"user": "dee@example.com"})), "requests")
    assert [r.split()[2] for r in by_user] == ["dee@example.com"]
    by_group = rows(body(admin.get("/admin/access/requests?group=sandbox-1")), "requests")
    assert [r.split()[3] for r in by_group] == ["sandbox-1"]
    unknown = admin.get("/admin/access/requests?user=nobody")
    assert unknown.status_code == 400 and "there is no user &#39;nobody&#39;" in body(unknown)
    assert admin.get("/admin/access/requests?state=odd").status_code == 400

    detail = body(admin.get(f"/admin/access/requests/{readers.id}"))
    assert rows(detail, "reviews")[0].split()[2:5] == ["bob@example.com", "approve", "fine"]
    assert rows(detail, "grants") == ["active 2026-03-02 09:00:02 2026-03-02 11:00:02 Revoke"]
    trail = rows(detail, "trail")
    assert [r.split()[3] for r in trail] == ["access:request:create", "access:request:approve",
                                             "access:grant:create"]
    for event in events(db)[:1]:
        assert f'href="/admin/audit/{event.id}"' in detail
    event_page = body(admin.get(f"/admin/audit/{events(db)[0].id}"))
    assert f'<a href="/admin/access/requests/{events(db)[0].target_id}">' in event_page

    grants = rows(body(admin.get("/admin/access/grants?state=active")), "grants")
    assert [r.split()[:2] for r in grants] == [["äda@example.com", "prod-db-readers"],
                                               ["dee@example.com", "prod-db-readers"]]
    assert admin.get("/admin/access/requests/nope").status_code == 404


def test_an_admin_revokes_a_grant_with_a_reason_and_the_user_page_shows_live_grants(
        app: Flask, db: Database, cast: Cast, clock: FrozenClock, root: str) -> None:
    dee = person(app, cast.dee)
    ask(dee)
    grant = grant_of(db, requests_of(db, cast.dee)[0].id)
    admin = person(app, root)
    user_page = body(admin.get(f"/admin/users/{cast.dee}"))
    assert rows(user_page, "grants") == [
        "prod-db-readers active 2026-03-02 09:00:00 2026-03-02 11:00:00 details Revoke"]
    assert 'href="/admin/access/requests?user=dee@example.com"' in user_page

    before = event_count(db)
    empty = post(admin, f"/admin/access/grants/{grant.id}/revoke", reason=" ",
                 back=f"/admin/users/{cast.dee}")
    assert empty.status_code == 400 and "Reason required" in body(empty)
    assert f'<a href="/admin/users/{cast.dee}">« Back</a>' in body(empty)
    assert event_count(db) == before

    clock.advance(timedelta(minutes=5))
    revoked = post(admin, f"/admin/access/grants/{grant.id}/revoke", reason="left the team",
                   back=f"/admin/users/{cast.dee}")
    assert revoked.status_code == 303 and revoked.headers["Location"] == f"/admin/users/{cast.dee}"
    user_page = body(admin.get(f"/admin/users/{cast.dee}"))
    assert flash(user_page) == ["Revoked: dee@example.com no longer has prod-db-readers."]
    assert rows(user_page, "grants") == ["No live grants."]
    assert "prod-db-readers" not in section(body(dee.get("/access/")), "memberships")
    last = events(db)[-1]
    assert (last.action, last.actor_id, last.reason) == ("access:grant:revoke", root,
                                                        "left the team")

    twice = post(admin, f"/admin/access/grants/{grant.id}/revoke", reason="again",
                 back="//evil.example.com/")
    assert twice.status_code == 409
    assert "the grant has already ended (code grant_ended)." in body(twice)
    assert '<a href="/admin/access/grants">« Back</a>' in body(twice)  # only /admin/ paths
    grants = rows(body(admin.get("/admin/access/grants")), "grants")
    assert grants == ["dee@example.com prod-db-readers revoked 2026-03-02 09:00:00 "
                      "2026-03-02 09:05:00 root@example.com: left the team details"]


def test_people_without_admin_rights_get_no_console_pages(app: Flask, cast: Cast) -> None:
    ada = person(app, cast.ada)
    assert ada.get("/admin/access/requests").status_code == 403
    assert ada.get("/admin/access/grants").status_code == 403
    assert "Admin console" not in body(ada.get("/access/"))
