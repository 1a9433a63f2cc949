"""SAML endpoints and the signed-in page: thin — validate, provision, start a session."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from app.access.principal import AuthContext
from app.access.queries import effective_memberships
from app.admins import current_admin
from app.errors import ConflictError
from app.provisioning import LoginClaims
from app.provisioning import LoginDeniedError
from app.provisioning import provision_login
from app.provisioning import record_denied
from app.repository.accounts import UserRepository
from app.saml_store import remember_request
from app.uow import UnitOfWork
from app.web import metrics
from app.web.callers import STEP_UP_FOR
from app.web.context import get_access_config
from app.web.context import get_db
from app.web.context import get_settings
from app.web.plumbing import request_info
from config import Settings
from jit.mapping import first_value
from jit.mapping import map_attributes
from jit.policy import policy_for
from jit.redirects import safe_next
from jit.sp import SamlRejectedError
from jit.sp import ServiceProvider

log = logging.getLogger("frontdesk.saml")
bp = Blueprint("saml", __name__, template_folder="templates")
SAML_KEY = "frontdesk.saml"
BINDING_COOKIE = "frontdesk_saml"
STEP_UPS = frozenset(STEP_UP_FOR.values())
STATUS_FOR = {"too_large": 413, "inactive": 403, "not_provisioned": 403, "account_conflict": 403,
              "unsolicited": 403, "untrusted_issuer": 403, "dormant": 403}


@bp.record_once
def _build_service_provider(state: Any) -> None:
    """Build the service provider (pysaml2 configuration, trusted IdPs) once per app."""
    app: Flask = state.app
    app.extensions[SAML_KEY] = ServiceProvider(get_settings(app))


def sp() -> ServiceProvider:
    provider: ServiceProvider = current_app.extensions[SAML_KEY]
    return provider


def page(title: str, message: str, status: int = 200, *, reason: str | None = None,
         error: bool = False, sign_in: bool = False) -> Response:
    body = render_template("message.html", title=title, message=message, reason=reason,
                           error=error, sign_in=sign_in, request_id=g.get("request_id"))
    return make_response(body, status)


def _not_configured() -> Response:
    return page("Single sign-on is not set up",
                "No identity provider is configured. Set FRONTDESK_SAML_IDP_METADATA to your "
                "IdP's metadata file(s).", 503, error=True)


@bp.get("/saml/metadata")
def metadata() -> Response:
    """SP metadata to paste into Okta or Entra ID; the entity id is this URL."""
    response = make_response(sp().metadata())
    response.content_type = "application/samlmetadata+xml"
    return response


@bp.get("/saml/login")
def login() -> Response | BaseResponse:
    """SP-initiated login: choose the IdP, remember the request, redirect to the IdP.

    ``?step_up=mfa`` (or ``fresh``) signs a person in again after policy refused their session:
    the AuthnRequest carries ``ForceAuthn`` and, for MFA, a ``RequestedAuthnContext`` naming the
    contexts policy counts as MFA; ``next`` brings them back to where they were.
    """
    provider = sp()
    if not provider.configured:
        return _not_configured()
    idps = provider.idp_entity_ids
    next_path = safe_next(request.args.get("next"),
                          get_settings(current_app).saml_allowed_redirect_hosts) or "/me"
    step_up = request.args.get("step_up") or None
    if step_up is not None and step_up not in STEP_UPS:
        return page("Unknown step-up", "Ask for step_up=mfa or step_up=fresh.", 400,
                    reason="unknown_step_up", error=True)
    current = AuthContext.from_dict(session.get("auth")) if session.get("uid") else None
    chosen = request.args.get("idp")
    if chosen is None and step_up is not None and current is not None and current.idp in idps:
        chosen = current.idp  # sign in again where the session came from
    if chosen is None and len(idps) == 1:
        chosen = idps[0]
    if chosen is None:
        return make_response(render_template("choose.html", idps=idps, next=next_path,
                                             step_up=step_up))
    if chosen not in idps:
        return page("Unknown identity provider", "That identity provider is not configured.",
                    400, reason="unknown_idp", error=True)
    binding = request.cookies.get(BINDING_COOKIE) or secrets.token_urlsafe(32)
    request_id, location = provider.authn_request(
        chosen, relay_state="", force_authn=step_up is not None,
        requested_contexts=_step_up_contexts(step_up, chosen, current))
    settings = get_settings(current_app)
    remember_request(get_db(current_app), request_id, binding, chosen, next_path,
                     timedelta(seconds=settings.saml_request_ttl_seconds))
    if step_up is not None:
        log.info("step-up sign-in", extra={"fields": {"step_up": step_up, "issuer": chosen}})
    response = redirect(location, 302)
    # https as FRONTDESK_BASE_URL says, or as the request (through a trusted proxy) came.
    secure = settings.base_url.startswith("https://") or request.is_secure
    # The IdP POSTs back cross-site: a Lax cookie would not come along, so over https the
    # binding cookie is SameSite=None (it carries nothing but a random value).
    response.set_cookie(BINDING_COOKIE, binding, max_age=settings.saml_request_ttl_seconds,
                        httponly=True, secure=secure, samesite="None" if secure else "Lax",
                        path="/saml/acs")
    return response


def _step_up_contexts(step_up: str | None, idp: str, current: AuthContext | None
                      ) -> tuple[str, ...]:
    """Return the contexts a step-up asks the IdP for (RequestedAuthnContext).

    ``mfa``: what policy counts as MFA for this IdP. ``fresh``: the same when the session being
    renewed had MFA, so that signing in again never loses it; otherwise nothing (ForceAuthn
    alone). Nothing either where the IdP's policy says not to name contexts at all.
    """
    if step_up is None or not policy_for(get_settings(current_app), idp).requested_authn_context:
        return ()
    config = get_access_config(current_app)
    had_mfa = current is not None and current.idp == idp \
        and config.is_mfa(current.idp, current.contexts)
    return config.mfa_contexts_of(idp) if step_up == "mfa" or had_mfa else ()


def _deny(issuer: str | None, reason: str, detail: str, name_id: str | None = None) -> Response:
    with UnitOfWork(get_db(current_app), request_info()) as uow:
        record_denied(uow, issuer, reason, name_id=name_id)
    log.info("login denied", extra={"fields": {"reason": reason, "issuer": issuer}})
    metrics.jit_login("denied", reason)
    status = STATUS_FOR.get(reason, 400)
    return page("Sign-in refused", detail, status, reason=reason, error=True, sign_in=True)


@bp.get("/saml/acs")
def acs_page() -> Response:
    """A person who opens the ACS URL (a bookmark, a copied link) gets a page saying what it is
    for and where to sign in, not a bare 405: identity providers only ever POST here. A response
    sent in the URL (the HTTP-Redirect binding, which SAML forbids for responses) is still a
    405, on the same page, and is never read."""
    sent_in_url = "SAMLResponse" in request.args
    response = page("Sign-in responses arrive here",
                    "This address (the Assertion Consumer Service) receives the signed response "
                    "your identity provider sends after you sign in there; opening it directly "
                    "does nothing. To sign in, start at the link below or from your identity "
                    "provider's app list." + (" A sign-in response must be POSTed, never sent "
                                              "in the URL." if sent_in_url else ""),
                    405 if sent_in_url else 200, sign_in=True)
    if sent_in_url:
        response.headers["Allow"] = "GET, HEAD, POST"
    return response


@bp.post("/saml/acs")
def acs() -> Response | BaseResponse:
    """Assertion Consumer Service: validate, provision, start a session, redirect."""
    provider = sp()
    settings = get_settings(current_app)
    if not provider.configured:
        return _not_configured()
    if (request.content_length or 0) > settings.saml_max_body_bytes * 2:
        return _deny(None, "too_large", "the sign-in response is too large")
    raw = request.form.get("SAMLResponse", "")
    if not raw:
        return _deny(None, "malformed", "no SAMLResponse was posted")
    try:
        valid = provider.validate(raw, _response_signature_only(settings, provider))
    except SamlRejectedError as err:
        return _deny(err.issuer, err.reason, err.detail, err.name_id)
    policy = policy_for(settings, valid.issuer)
    mapped = map_attributes(valid.attributes, policy.attribute_map)
    user_name = valid.name_id
    if policy.user_name_attribute:
        user_name = first_value(valid.attributes, policy.user_name_attribute) or ""
        if not user_name:
            return _deny(valid.issuer, "malformed", "the assertion lacks the user name attribute")
    claims = LoginClaims(
        idp_entity_id=valid.issuer, name_id=valid.name_id, assertion_id=valid.assertion_id,
        assertion_expires_at=valid.expires_at, in_response_to=valid.in_response_to,
        user_name=user_name, attributes=mapped.document, groups=mapped.groups,
    )
    binding = request.cookies.get(BINDING_COOKIE)
    result = None
    for attempt in range(2):
        try:
            with UnitOfWork(get_db(current_app), request_info()) as uow:
                result = provision_login(uow, claims, policy.jit, browser_binding=binding,
                                         allow_unsolicited=policy.allow_idp_initiated)
            break
        except LoginDeniedError as err:
            return _deny(valid.issuer, err.reason, err.detail, valid.name_id)
        except ConflictError:
            # Two first logins of one person raced; the retry finds the account the other made.
            if attempt == 1:
                return _deny(valid.issuer, "conflict", "please try signing in again")
    assert result is not None
    metrics.jit_login("allowed", "created" if result.created else "existing")
    session.clear()  # no session fixation: a new session for the new identity
    session["uid"] = result.user_id
    session["csrf"] = secrets.token_urlsafe(24)
    # How this sign-in was authenticated, for policies that ask for MFA or a recent sign-in.
    session["auth"] = AuthContext(idp=valid.issuer, contexts=valid.authn_contexts,
                                  authn_instant=valid.authn_instant).to_dict()
    session.permanent = True
    target = result.next_path or safe_next(request.form.get("RelayState"),
                                           settings.saml_allowed_redirect_hosts) or "/me"
    response = redirect(target, 303)
    response.delete_cookie(BINDING_COOKIE, path="/saml/acs")
    return response


def _response_signature_only(settings: Settings, provider: ServiceProvider) -> set[str]:
    return {idp for idp in provider.idp_entity_ids
            if policy_for(settings, idp).response_signature_only}


@bp.post("/saml/logout")
def logout() -> Response:
    """End the local session (a POST with the session's CSRF token)."""
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(expected, request.form.get("csrf", "")):
        return page("Sign-out refused", "The sign-out form expired; try again.", 400,
                    reason="csrf", error=True)
    session.clear()
    return page("Signed out", "You are signed out of Frontdesk.", sign_in=True)


@bp.before_app_request
def end_sessions_of_inactive_users() -> None:
    """A deactivated, suspended or deleted user's session ends at its next request, on every
    page."""
    # API callers carry no browser session; don't even open the cookie for them.
    if request.path.startswith(("/scim/", "/api/")) or "Authorization" in request.headers:
        return
    user_id = session.get("uid")
    if not user_id:
        return
    with get_db(current_app).read_session() as db_session:
        user = UserRepository(db_session).find(user_id)
        if user is None or not user.active or user.suspended_at is not None:
            session.clear()


@bp.get("/")
def index() -> Response | BaseResponse:
    return redirect(url_for("saml.me"), 302)


@bp.get("/me")
def me() -> Response:
    """Who you are, your effective memberships (standing groups and live grants with their
    end), how you signed in, and a sign-out button."""
    user_id = session.get("uid")
    if not user_id:
        return page("Not signed in", "Sign in with your organisation's identity provider.", 401,
                    sign_in=True)
    db = get_db(current_app)
    with db.read_session() as db_session:
        users = UserRepository(db_session)
        user = users.find(user_id)
        if user is None or not user.active or user.suspended_at is not None:
            session.clear()
            return page("Signed out", "Your account is no longer active.", 403,
                        reason="inactive", error=True)
        # A grant counts while starts_at <= now < ends_at, in SQL: one that has ended is gone
        # from this page at the next request, whether or not the sweeper has run.
        memberships = effective_memberships(db_session, user.id, db.clock.now())
        links = users.links(user.id)
        emails = user.doc.get("emails") or []
    email = next((e.get("value") for e in emails if isinstance(e, dict)), None)
    # An admin who lands here after signing in sees the way to the console.
    is_admin = current_admin(db, session, get_settings(current_app).admin_groups) is not None
    auth = AuthContext.from_dict(session.get("auth"))
    mfa = auth is not None and get_access_config(current_app).is_mfa(auth.idp, auth.contexts)
    return make_response(render_template("me.html", user=user, memberships=memberships,
                                         links=links, email=email, auth=auth, mfa=mfa,
                                         is_admin=is_admin,
                                         csrf=session.get("csrf", "")))
