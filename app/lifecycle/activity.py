"""What counts as a person's activity, and recording it cheaply.

Activity is what the person did themselves: a successful SAML sign-in, a use of their personal
token, an access request they filed or approved. An IdP's SCIM write is never activity (Okta and
Entra push on their own schedule), nor is a refused sign-in (Entra's mistake: an attacker
knocking would keep the account alive). A user who never did anything counts from creation.

Recording is one guarded UPDATE: it writes only when the stored time is over a minute old, so a
busy user costs one write a minute, and it never touches the row's version or ``updated_at``
(SCIM's ETag stays the IdP's).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import Update
from sqlalchemy import or_
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import User

# Finer than this is never needed for "inactive for 90 days", and would be a write per request.
RESOLUTION = timedelta(minutes=1)


class ActivityKind(StrEnum):
    """The kinds of activity, as stored in ``users.last_activity_kind`` and shown everywhere."""

    SIGN_IN = "sign_in"
    TOKEN = "token"  # noqa: S105 - a kind of activity, not a secret
    ACCESS_REQUEST = "access_request"
    ACCESS_APPROVAL = "access_approval"


def is_due(last: datetime | None, now: datetime) -> bool:
    """Return whether activity at ``now`` should be written over ``last``."""
    return last is None or now - last >= RESOLUTION


def _statement(user_id: str, kind: ActivityKind, now: datetime) -> Update:
    return (update(User)
            .where(User.id == user_id,
                   or_(User.last_activity_at.is_(None), User.last_activity_at <= now - RESOLUTION))
            .values(last_activity_at=now, last_activity_kind=kind.value)
            .execution_options(synchronize_session=False))


def record(session: Session, user_id: str, kind: ActivityKind, now: datetime) -> bool:
    """Record activity inside the caller's transaction; return whether a row was written."""
    result = session.execute(_statement(user_id, kind, now))
    return bool(getattr(result, "rowcount", 0))
