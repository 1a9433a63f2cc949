"""API bearer tokens: random secrets, of which only a SHA-256 is stored.

A token reads ``fd_<prefix>_<secret>``. The prefix finds the row with an indexed lookup; the
secret's hash is compared with ``hmac.compare_digest``, so neither timing nor a database dump
reveals a usable token.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db import Database
from app.digest import sha256_hex
from app.errors import InvalidInputError
from app.errors import NotFoundError
from app.lifecycle import activity
from app.models import ApiToken
from app.models import User
from app.repository.common import flush_unique

# scim: the IdP's provisioning; audit:read: the audit API; access: act as the token's user on
# access requests (a personal token); access:read: read anyone's memberships, requests, grants;
# metrics: scrape /metrics (Prometheus); lifecycle: preview the dormant rules and lift
# suspensions (an admin's token).
SCOPES = ("scim", "audit:read", "access", "access:read", "metrics", "lifecycle")
PERSONAL_SCOPES = frozenset({"access"})
TOKEN_RE = re.compile(r"^fd_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,200})$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,127}$")
# Recording every use would turn every read into a write; once a minute is enough to audit.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """A verified token, as the request sees it."""

    id: str
    name: str
    scopes: frozenset[str]
    user_id: str | None = None  # a personal token acts as this user


class TokenRepository:
    """Rows of ``api_tokens``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, scopes: tuple[str, ...], user_id: str | None = None
               ) -> tuple[ApiToken, str]:
        """Insert a token and return it with its one-time plaintext.

        A personal token (``user_id``) acts as that user; the ``access`` scope needs one.
        """
        if not NAME_RE.match(name):
            raise InvalidInputError("a token name is 1-128 letters, digits, spaces or ._:@-")
        unknown = set(scopes) - set(SCOPES)
        if unknown or not scopes:
            raise InvalidInputError(f"scopes must be among {', '.join(SCOPES)}")
        if PERSONAL_SCOPES & set(scopes) and user_id is None:
            raise InvalidInputError("the 'access' scope acts as a person: name the user the "
                                    "token belongs to (--user)")
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = ApiToken(name=name, prefix=prefix, secret_hash=sha256_hex(secret),
                       scopes=" ".join(sorted(set(scopes))), user_id=user_id)
        self.session.add(row)
        flush_unique(self.session, f"a token named '{name}' already exists")
        return row, f"fd_{prefix}_{secret}"

    def list(self) -> list[ApiToken]:
        return list(self.session.execute(select(ApiToken).order_by(ApiToken.created_at)).scalars())

    def get_by_name(self, name: str) -> ApiToken:
        row = self.session.execute(
            select(ApiToken).where(ApiToken.name == name)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no token named '{name}'")
        return row


# Built once: constructing the statement per request costs more than running it.
# A personal token stops working while its user is deactivated or suspended (the join is on the
# primary key).
_BY_PREFIX = select(
    ApiToken.id, ApiToken.name, ApiToken.scopes, ApiToken.secret_hash, ApiToken.revoked_at,
    ApiToken.last_used_at, ApiToken.user_id, User.active.label("user_active"),
    User.suspended_at.label("user_suspended_at"), User.last_activity_at.label("user_activity_at"),
).outerjoin(User, User.id == ApiToken.user_id).where(ApiToken.prefix == bindparam("prefix"))


def verify_token(db: Database, presented: str, *, now: datetime | None = None,
                 connection: Connection | None = None) -> TokenInfo | None:
    """Return the token's identity when ``presented`` is a live token, else None."""
    match = TOKEN_RE.match(presented)
    if match is None:
        return None
    prefix, secret = match.groups()
    # Core on a bare connection: this runs on every API request, the ORM adds nothing here.
    if connection is not None:
        row = connection.execute(_BY_PREFIX, {"prefix": prefix}).first()
    else:
        with db.engine.connect() as conn:
            row = conn.execute(_BY_PREFIX, {"prefix": prefix}).first()
    if row is None or not hmac.compare_digest(row.secret_hash, sha256_hex(secret)):
        return None
    if row.revoked_at is not None or (row.user_id is not None and (
            not row.user_active or row.user_suspended_at is not None)):
        return None
    info = TokenInfo(row.id, row.name, frozenset(row.scopes.split()), row.user_id)
    last_used = row.last_used_at
    now = now or db.clock.now()
    token_due = last_used is None or now - last_used > LAST_USED_RESOLUTION
    # A personal token's use is its person's activity (app.lifecycle.activity), once a minute.
    activity_due = row.user_id is not None and activity.is_due(row.user_activity_at, now)
    if token_due or activity_due:
        with db.write_session() as session, session.begin():
            if token_due:
                session.execute(update(ApiToken).where(ApiToken.id == info.id)
                                .values(last_used_at=now))
            if activity_due:
                activity.record(session, row.user_id, activity.ActivityKind.TOKEN, now)
    return info
