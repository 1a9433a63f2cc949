"""Who is calling: bearer tokens for the APIs, and the signed-in person for access.

The doors decide what a failure looks like (a SCIM 401 body, an HTML page); this module only
answers who the caller is and whether they hold a scope.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask import g
from flask import request

from app.access.principal import AuthContext
from app.access.principal import Principal
from app.admins import current_admin
from app.audit.events import Actor
from app.repository.accounts import UserRepository
from app.throttle import BEARER
from app.throttle import Limit
from app.throttle import record_failure
from app.tokens import TokenInfo
from app.tokens import verify_token
from app.web import metrics
from app.web.context import get_db
from app.web.context import get_settings
from app.web.context import request_connection

log = logging.getLogger("frontdesk.auth")

# Refusals of a browser session that signing in again cures, and the kind of sign-in that does:
# ``mfa`` asks the IdP for multi-factor authentication, ``fresh`` for a new one (both force it).
STEP_UP_FOR = {"mfa_required": "mfa", "sign_in_too_old": "fresh"}


def step_up_url(code: str, next_path: str | None = None) -> str | None:
    """Return where a browser signs in again to cure a refusal with ``code``, coming back to
    ``next_path`` (the SAML door checks it), or None when signing in again would not help."""
    kind = STEP_UP_FOR.get(code)
    if kind is None:
        return None
    query = {"step_up": kind, **({"next": next_path} if next_path else {})}
    return f"/saml/login?{urlencode(query)}"


class AuthError(Exception):
    """Authentication failed (401), the scope is missing (403), or the source failed too often
    (429, with ``retry_after`` seconds); ``detail`` is safe to show."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def failure_limit(app: Flask) -> Limit:
    """Return the app's limit on failed authentications per source."""
    settings = get_settings(app)
    return Limit(settings.auth_failure_limit,
                 timedelta(seconds=settings.auth_failure_window_seconds))


def count_failure(app: Flask, kind: str) -> int | None:
    """Count a failed authentication of ``kind`` from this request's source address, log it
    (never the credential), and return the seconds to wait when the source is now throttled."""
    verdict = record_failure(get_db(app), kind, request.remote_addr, failure_limit(app),
                             connection=request_connection(app))
    log.warning("authentication failed", extra={"fields": {
        "request_id": g.get("request_id"), "kind": kind, "ip": request.remote_addr,
        "path": request.path, "failures": verdict.failures, "throttled": verdict.throttled}})
    return verdict.retry_after


def _refuse(app: Flask, detail: str) -> AuthError:
    """Return the error for a bad credential: 401, or 429 once its source failed too often."""
    retry_after = count_failure(app, BEARER)
    if retry_after is not None:
        return AuthError(429, "too many failed authentications from this address; try again "
                              "later", retry_after=retry_after)
    return AuthError(401, detail)


def bearer(app: Flask, authorization: str | None, scope: str | None) -> TokenInfo:
    """Return the token presented in an ``Authorization: Bearer`` header, holding ``scope``
    (None: any scope; the caller checks).

    A token is checked before the throttle is read: a valid one always passes, even from an
    address that failed before. A bad one is counted against its address (``app.throttle``).
    """
    if not authorization:
        raise AuthError(401, "authentication required: send Authorization: Bearer <token>")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        metrics.auth_failed("malformed")
        raise _refuse(app, "the Authorization header must be 'Bearer <token>'")
    info = verify_token(get_db(app), credentials.strip(), connection=request_connection(app))
    if info is None:
        metrics.auth_failed("invalid")
        raise _refuse(app, "the token is not valid (unknown, revoked or malformed)")
    if scope is not None and scope not in info.scopes:
        raise AuthError(403, f"the token lacks the '{scope}' scope")
    return info


def token_actor(info: TokenInfo) -> Actor:
    """Return the audit actor for a token."""
    return Actor("token", info.id, info.name)


@dataclass(frozen=True)
class AccessCaller:
    """Who calls the access API or pages: a principal who may act (``principal``, a person or
    an admin), and whether they may read everyone's access (``reads_all``)."""

    principal: Principal | None
    reads_all: bool
    csrf_checked: bool  # a session caller's POST carried the session's CSRF token


def session_principal(app: Flask, session_data: Any, *, admin_groups: tuple[str, ...] = ()
                      ) -> Principal | None:
    """Return the person signed in through SAML in this browser session, or None.

    The SAML sign-in's authentication context (``session["auth"]``) comes along, for policies
    that ask for MFA or a recent sign-in. An admin (console) session is a principal too.
    """
    db = get_db(app)
    admin = current_admin(db, session_data, admin_groups)
    user_id = session_data.get("uid")
    user = None
    if isinstance(user_id, str):
        with db.read_session() as session:
            user = UserRepository(session).find(user_id)
    if user is not None and user.active and user.suspended_at is None:
        return Principal(Actor("user", user.id, user.user_name), "session", user.id,
                         user.user_name, auth=AuthContext.from_dict(session_data.get("auth")),
                         admin=admin is not None)
    if admin is not None:
        return Principal(admin.actor, "console", admin.user_id, None, admin=True)
    return None


def access_caller(app: Flask, authorization: str | None, session_data: Any,
                  csrf_header: str | None, admin_groups: tuple[str, ...]) -> AccessCaller:
    """Return who is calling the access API: a bearer token (``access`` acts as its user,
    ``access:read`` reads everything) or the browser session; raise ``AuthError``."""
    if authorization:
        info = bearer(app, authorization, None)
        if not {"access", "access:read"} & info.scopes:
            raise AuthError(403, "the token lacks the 'access' or 'access:read' scope")
        principal = None
        if "access" in info.scopes and info.user_id is not None:
            with get_db(app).read_session() as session:
                user = UserRepository(session).find(info.user_id)
            if user is not None:
                principal = Principal(Actor("token", info.id, f"{info.name} ({user.user_name})"),
                                      "token", user.id, user.user_name, token_name=info.name)
        return AccessCaller(principal, "access:read" in info.scopes, True)
    principal = session_principal(app, session_data, admin_groups=admin_groups)
    if principal is None:
        raise AuthError(401, "sign in, or send a token with the 'access' or 'access:read' scope")
    expected = session_data.get("csrf")
    checked = isinstance(expected, str) and bool(expected) and csrf_header is not None \
        and hmac.compare_digest(expected.encode(), csrf_header.encode())
    return AccessCaller(principal, principal.admin, checked)
