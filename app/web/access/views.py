"""``/access``: what I have and until when, asking for more, my requests, and the approver's
inbox. Server-rendered like the console: no scripts, the strict CSP, a CSRF token on every form.

Who gets in: a person signed in with single sign-on (``session["uid"]``), as the principal
``app.web.callers.session_principal`` gives, with the sign-in's authentication context for
policies that ask for MFA. Every change goes through ``app.access.service`` with the request's
audit context; a refusal comes back as its stable code and a sentence on the page, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app.access import queries
from app.access import service
from app.access.errors import AccessError
from app.access.errors import AccessInvalidError
from app.access.policy import AccessPolicy
from app.access.principal import Principal
from app.models import AccessRequest
from app.models import Grant
from app.repository.accounts import GroupRepository
from app.repository.browse import browse_groups
from app.uow import UnitOfWork
from app.web.callers import session_principal
from app.web.context import get_access_config
from app.web.context import get_db
from app.web.context import get_settings
from app.web.errors import register_renderer
from app.web.pages import REFUSAL_STATUS
from app.web.pages import PageError
from app.web.pages import csrf_ok
from app.web.pages import csrf_token
from app.web.pages import duration
from app.web.pages import request_items
from app.web.pages import time_left
from app.web.pages import when
from app.web.plumbing import request_info
from config.durations import DurationError
from config.durations import format_duration
from config.durations import parse_duration

bp = Blueprint("access", __name__, url_prefix="/access", template_folder="templates")

# A sentence to lead each refusal with; the service's detail and the stable code follow it.
TITLES = {
    "mfa_required": "This needs a multi-factor sign-in.",
    "sign_in_too_old": "This needs a recent sign-in.",
    "not_eligible": "You may not request this group.",
    "not_requestable": "This group cannot be requested.",
    "reason_required": "Say why you need it.",
    "ticket_required": "A ticket is needed.",
    "ticket_invalid": "That ticket does not look right.",
    "duration_too_long": "That is longer than policy allows.",
    "invalid_duration": "That duration cannot be read.",
    "already_pending": "You have already asked for this.",
    "break_glass_not_allowed": "Break-glass is not allowed here.",
    "self_approval": "You cannot decide on your own request.",
    "not_approver": "You are not an approver for this request.",
    "already_reviewed": "You have already decided on this request.",
    "not_pending": "This request is no longer waiting for a decision.",
    "grant_ended": "This access has already ended.",
}
MAX_OFFERS = 200  # groups listed per wildcard pattern of a policy
_WILDCARD = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Refusal:
    """A refusal as the page shows it: a lead sentence, the service's detail, the code, and
    where to sign in again when policy wants a stronger or fresher sign-in."""

    code: str
    title: str
    detail: str
    status: int  # what the page answers with: 400, 403, 404 or 409
    sign_in: str | None = None


@dataclass(frozen=True)
class Offer:
    """A group this person may request, under the policy that governs it."""

    group: str
    policy: AccessPolicy
    auto_via: str | None  # approved at once for members of this group, which they are in

    @property
    def needs(self) -> list[str]:
        """What a request under this policy must bring, in words."""
        policy = self.policy
        needs = ["a reason"] if policy.reason_required else []
        needs += ["a ticket"] if policy.ticket_pattern else []
        needs += ["an MFA sign-in"] if policy.require_mfa else []
        if policy.max_sign_in_age is not None:
            needs.append(f"a sign-in within {format_duration(policy.max_sign_in_age)}")
        return needs


def me() -> Principal:
    """Return the signed-in person of this request (set by the before-request check)."""
    principal: Principal = g.principal
    return principal


def user_id() -> str:
    """Return the signed-in person's user id."""
    found = me().user_id
    assert found is not None  # the before-request check lets only people in
    return found


def _sign_in_url(back: str | None = None, *, mfa: bool = False) -> str:
    target = back or url_for("access.mine")
    if mfa:
        return url_for("saml.login", step_up="mfa", next=target)
    return url_for("saml.login", next=target)


def refusal(err: AccessError, back: str) -> Refusal:
    """Return how the page shows ``err``; ``back`` is the page to come back to after signing
    in again."""
    sign_in = None
    if err.code == "mfa_required":
        sign_in = _sign_in_url(back, mfa=True)
    elif err.code == "sign_in_too_old":
        sign_in = _sign_in_url(back)
    return Refusal(err.code, TITLES.get(err.code, "That was refused."), err.detail,
                   REFUSAL_STATUS[err.kind], sign_in)


@bp.before_request
def _require_person() -> None:
    principal = session_principal(current_app, session,
                                  admin_groups=get_settings(current_app).admin_groups)
    if principal is None:
        raise PageError(401, "Sign in", "Sign in with single sign-on to see your access and "
                        "ask for more.", sign_in=True)
    if principal.user_id is None or principal.via != "session":
        raise PageError(403, "Sign in with single sign-on",
                        "These pages are for people signed in with single sign-on. An admin "
                        "sign-in link reaches the console's access pages instead.", sign_in=True)
    g.principal = principal
    g.actor_label = principal.actor.label
    g.now = get_db(current_app).clock.now()
    if request.method == "POST" and not csrf_ok():
        raise PageError(400, "Form expired",
                        "The form was not sent from this session (CSRF check failed). Go back, "
                        "reload the page and try again.")


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "principal": g.get("principal"), "now": g.get("now"),
            "left": time_left, "sign_in_url": _sign_in_url}


bp.add_app_template_filter(when, "when")
bp.add_app_template_filter(duration, "duration")


def _html(template: str, status: int = 200, **values: Any) -> Response:
    """Render a page; one showing a refusal answers with the refusal's status."""
    refused = values.get("refusal")
    if isinstance(refused, Refusal):
        status = refused.status
    return make_response(render_template(template, **values), status)


# --- what I have -----------------------------------------------------------------------------


@bp.get("/")
def mine() -> Response:
    """My groups now, standing and granted, each grant with its end; grants that start later."""
    db = get_db(current_app)
    now: datetime = g.now
    with db.read_session() as db_session:
        memberships = queries.effective_memberships(db_session, user_id(), now)
        later = queries.list_grants(
            db_session, queries.GrantFilter(user_id=user_id(), state="scheduled"), now)
        pending = queries.list_requests(
            db_session, queries.RequestFilter(user_id=user_id(), state="pending"), limit=100)
        return _html("access/mine.html", memberships=memberships, later=later,
                     pending=sum(1 for r in pending if now < r.pending_until))


# --- asking for access -----------------------------------------------------------------------


def _offers(db_session: Any, now: datetime) -> list[Offer]:
    """Groups some policy makes requestable and this person is eligible for, by name.

    A policy's exact names are looked up; a pattern (``sandbox-*``) lists the groups that
    contain its text before the first wildcard (at most ``MAX_OFFERS``) and keeps those it
    covers. A group is offered under the policy that governs it (the first that covers it).
    """
    config = get_access_config(current_app)
    repo = GroupRepository(db_session)
    found: dict[str, Offer] = {}
    for policy in config.policies:
        if policy.requesters and queries.member_of_any(
                db_session, user_id(), policy.requesters, now) is None:
            continue
        groups = repo.find_by_display_names([p for p in policy.groups
                                             if not _WILDCARD.search(p)])
        for pattern in policy.groups:
            if _WILDCARD.search(pattern):
                text = _WILDCARD.split(pattern, maxsplit=1)[0]
                groups += browse_groups(db_session, text or None, limit=MAX_OFFERS).rows
        auto = queries.member_of_any(db_session, user_id(), policy.auto_approve_if_member_of,
                                     now)
        for group in groups:
            if group.id not in found and config.policy_for(group.display_name) is policy:
                found[group.id] = Offer(group.display_name, policy, auto)
    return sorted(found.values(), key=lambda offer: offer.group.casefold())


FORM_FIELDS = ("group", "duration", "reason", "ticket", "break_glass")


def _render_request(form: dict[str, str], *, decision: service.Decision | None = None,
                    refused: Refusal | None = None) -> Response:
    with get_db(current_app).read_session() as db_session:
        offers = _offers(db_session, g.now)
    chosen = next((o for o in offers if o.group.casefold() == form["group"].casefold()), None)
    return _html("access/request.html", offers=offers, form=form, chosen=chosen,
                 decision=decision, refusal=refused,
                 break_glass=[o.group for o in offers if o.policy.break_glass])


def _ask(form: dict[str, str]) -> service.Ask:
    if not form["group"].strip():
        raise AccessInvalidError("group_required", "choose the group you need")
    duration = None
    if form["duration"].strip():
        try:
            duration = parse_duration(form["duration"])
        except DurationError as err:
            raise AccessInvalidError("invalid_duration", str(err)) from None
    return service.Ask(group=form["group"].strip(), duration=duration,
                       reason=form["reason"] or None, ticket=form["ticket"].strip() or None,
                       break_glass=form["break_glass"] == "1")


@bp.get("/request")
def request_form() -> Response:
    """The request form, with the groups this person may ask for and what each policy says."""
    form = dict.fromkeys(FORM_FIELDS, "")
    form["group"] = request.args.get("group", "")[:256]
    return _render_request(form)


@bp.post("/request")
def request_submit() -> Response | BaseResponse:
    """``action=check``: a dry run showing the decision and its rule; else file the request."""
    form = {k: request.form.get(k, "") for k in FORM_FIELDS}
    config = get_access_config(current_app)
    back = url_for("access.request_form", group=form["group"] or None)
    try:
        ask = _ask(form)
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            if request.form.get("action") == "check":
                decision = service.dry_run(uow, config, me(), ask)
                return _render_request(form, decision=decision)
            row, decision = service.request_access(uow, config, me(), ask)
    except AccessError as err:
        return _render_request(form, refused=refusal(err, back))
    if decision.outcome == "pending":
        flash(f"Asked for {row.group_name}: waiting for {decision.approvals} approval(s) by "
              f"members of {', '.join(decision.approvers)}.")
    elif decision.outcome == "break_glass":
        flash(f"Break-glass: you have {row.group_name} until {when(decision.ends_at)} UTC. "
              "An approver will review this afterwards.")
    else:
        flash(f"Approved at once ({decision.rule}): you have {row.group_name} until "
              f"{when(decision.ends_at)} UTC.")
    return redirect(url_for("access.my_requests"), 303)


# --- my requests -----------------------------------------------------------------------------


def _render_requests(*, refused: Refusal | None = None) -> Response:
    now: datetime = g.now
    with get_db(current_app).read_session() as db_session:
        rows = queries.list_requests(db_session, queries.RequestFilter(user_id=user_id()),
                                     limit=100)
        ids = [r.id for r in rows]
        items = request_items(rows, queries.grants_of_requests(db_session, ids),
                              queries.reviews_of(db_session, ids), now)
        return _html("access/requests.html", items=items, refusal=refused)


@bp.get("/requests")
def my_requests() -> Response:
    """My requests, newest first: state, approvals, grant; withdraw, or say "I'm done"."""
    return _render_requests()


@bp.post("/requests/<request_id>/withdraw")
def withdraw(request_id: str) -> Response | BaseResponse:
    try:
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            row = service.withdraw(uow, me(), request_id, request.form.get("reason") or None)
    except AccessError as err:
        return _render_requests(refused=refusal(err, url_for("access.my_requests")))
    flash(f"Withdrawn: your request for {row.group_name}.")
    return redirect(url_for("access.my_requests"), 303)


@bp.post("/grants/<grant_id>/done")
def done(grant_id: str) -> Response | BaseResponse:
    """"I'm done": end my own grant now."""
    back = "access.mine" if request.form.get("back") == "mine" else "access.my_requests"
    try:
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            grant = service.revoke(uow, get_access_config(current_app), me(), grant_id,
                                   request.form.get("reason") or "done: ended by its user")
    except AccessError as err:
        return _render_requests(refused=refusal(err, url_for(back)))
    flash(f"Done: you no longer have {grant.group_name}.")
    return redirect(url_for(back), 303)


# --- the approver's inbox --------------------------------------------------------------------


@dataclass(frozen=True)
class Requester:
    """What an approver sees of the person asking: their access now and their recent grants."""

    memberships: list[queries.EffectiveMembership]
    recent: list[Grant]


def _render_inbox(*, refused: Refusal | None = None) -> Response:
    config = get_access_config(current_app)
    now: datetime = g.now
    with get_db(current_app).read_session() as db_session:
        mine = [p.name for p in config.policies if p.approvers and queries.member_of_any(
            db_session, user_id(), p.approvers, now) is not None]

        def decides(row: AccessRequest) -> bool:
            policy = config.policy_for(row.group_name)
            return policy is not None and policy.name in mine and row.user_id != user_id()

        pending = [r for r in queries.list_requests(
            db_session, queries.RequestFilter(state="pending"), limit=500)
            if now < r.pending_until and decides(r)] if mine else []
        review = [r for r in queries.list_requests(
            db_session, queries.RequestFilter(needs_review=True), limit=200)
            if decides(r)] if mine else []
        ids = [r.id for r in pending + review]
        grants = queries.grants_of_requests(db_session, ids)
        reviews = queries.reviews_of(db_session, ids)
        people = {r.user_id for r in pending + review if r.user_id is not None}
        requesters = {uid: Requester(
            queries.effective_memberships(db_session, uid, now),
            queries.list_grants(db_session, queries.GrantFilter(user_id=uid), now, limit=5))
            for uid in people}
        return _html("access/inbox.html", policies=mine,
                     pending=request_items(pending, grants, reviews, now),
                     review=request_items(review, grants, reviews, now),
                     requesters=requesters, grant_state=queries.grant_state,
                     refusal=refused)


@bp.get("/inbox")
def inbox() -> Response:
    """Requests this person may decide (approver of the policy, not their own), each with the
    requester's access now; break-glass requests waiting for a review afterwards."""
    return _render_inbox()


@bp.post("/requests/<request_id>/decide")
def decide(request_id: str) -> Response | BaseResponse:
    """Approve or deny (``decision``), with an optional reason."""
    verdict = request.form.get("decision")
    reason = request.form.get("reason") or None
    config = get_access_config(current_app)
    try:
        if verdict not in ("approve", "deny"):
            raise AccessInvalidError("invalid_decision", "choose approve or deny")
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            if verdict == "approve":
                row = service.approve(uow, config, me(), request_id, reason)
            else:
                row = service.deny(uow, config, me(), request_id, reason)
    except AccessError as err:
        return _render_inbox(refused=refusal(err, url_for("access.inbox")))
    who = f"{row.user_name} → {row.group_name}"
    if row.state == "approved":
        flash(f"Approved: {who}. The access starts now.")
    elif row.state == "denied":
        flash(f"Denied: {who}.")
    else:
        flash(f"Your approval of {who} is recorded; it needs {row.approvals_needed} in all.")
    return redirect(url_for("access.inbox"), 303)


@bp.post("/requests/<request_id>/close-review")
def close_review(request_id: str) -> Response | BaseResponse:
    """Close the after-the-fact review of a break-glass request, saying what it found."""
    try:
        with UnitOfWork(get_db(current_app), request_info()) as uow:
            row = service.close_review(uow, get_access_config(current_app), me(), request_id,
                                       request.form.get("reason") or None)
    except AccessError as err:
        return _render_inbox(refused=refusal(err, url_for("access.inbox")))
    flash(f"Review closed: {row.user_name} → {row.group_name}.")
    return redirect(url_for("access.inbox"), 303)


# --- errors as pages -------------------------------------------------------------------------


def render_error(err: Exception) -> Response:
    """HTML error pages for everything under /access; never a stack trace."""
    request_id = g.get("request_id")
    if isinstance(err, PageError):
        back = request.full_path.rstrip("?") if request.method == "GET" else None
        return _html("access/message.html", err.status, title=err.title, message=err.message,
                     sign_in=_sign_in_url(back) if err.sign_in else None,
                     request_id=request_id)
    if isinstance(err, AccessError):
        return _html("access/message.html", REFUSAL_STATUS[err.kind], title="Refused",
                     message=err.detail, code=err.code, request_id=request_id)
    if isinstance(err, HTTPException):
        return _html("access/message.html", err.code or 500, title=err.name,
                     message=err.description or "", request_id=request_id)
    current_app.logger.exception("unhandled error in /access")
    return _html("access/message.html", 500, title="Something went wrong",
                 message="The error was logged; quote the request id.", request_id=request_id)


register_renderer(bp, render_error)
