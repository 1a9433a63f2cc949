"""Who is calling: bearer tokens for the APIs.

The doors decide what a failure looks like (a SCIM 401 body, an HTML page); this module only
answers who the caller is and whether they hold a scope.
"""

from __future__ import annotations

from flask import Flask

from app.audit.events import Actor
from app.tokens import TokenInfo
from app.tokens import verify_token
from app.web.context import get_db
from app.web.context import request_connection


class AuthError(Exception):
    """Authentication failed (401) or the scope is missing (403); ``detail`` is safe to show."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def bearer(app: Flask, authorization: str | None, scope: str) -> TokenInfo:
    """Return the token presented in an ``Authorization: Bearer`` header, holding ``scope``."""
    if not authorization:
        raise AuthError(401, "authentication required: send Authorization: Bearer <token>")
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthError(401, "the Authorization header must be 'Bearer <token>'")
    info = verify_token(get_db(app), credentials.strip(), connection=request_connection(app))
    if info is None:
        raise AuthError(401, "the token is not valid (unknown, revoked or malformed)")
    if scope not in info.scopes:
        raise AuthError(403, f"the token lacks the '{scope}' scope")
    return info


def token_actor(info: TokenInfo) -> Actor:
    """Return the audit actor for a token."""
    return Actor("token", info.id, info.name)
