"""What the server-rendered doors share: page-level refusals, the session's CSRF token, how a
time reads, and an access request as a page lists it.

The console (``/admin``) and the access pages (``/access``) put ``csrf_token()`` in a hidden
field of every POST form and refuse a POST whose field does not match the session's token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from flask import request
from flask import session

from app.access.queries import grant_state
from app.models import AccessRequest
from app.models import AccessReview
from app.models import Grant
from config.durations import format_duration

# The status a page answers an access refusal with, by its kind (as the JSON API does).
REFUSAL_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409}


class PageError(Exception):
    """A page-level refusal with its status: 401 (sign in), 403 (not allowed in), 400 (CSRF);
    each door renders it as its own message page, with a sign-in link when ``sign_in``."""

    def __init__(self, status: int, title: str, message: str, *, sign_in: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.sign_in = sign_in


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_ok() -> bool:
    """Return whether this POST's ``csrf`` form field is the session's token."""
    expected = session.get("csrf")
    sent = request.form.get("csrf", "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(
        expected.encode(), sent.encode())


def when(value: datetime | None) -> str:
    """A time as the pages show it: UTC, to the second (the ``when`` template filter)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(value: timedelta | int) -> str:
    """A duration (or a number of seconds) as policy files write it: "2h", "30m", "1d"."""
    return format_duration(value if isinstance(value, timedelta) else timedelta(seconds=value))


def time_left(until: datetime | None, now: datetime) -> str:
    """How long until ``until``, roughly, in words: "2h 5m left", "ended"."""
    if until is None:
        return ""
    left = until - now
    if left <= timedelta(0):
        return "ended"
    minutes = int(left.total_seconds()) // 60
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h left"
    if hours:
        return f"{hours}h {mins}m left"
    return f"{mins}m left" if mins else "less than a minute left"


@dataclass(frozen=True)
class RequestItem:
    """An access request as a page lists it, read at ``now``."""

    request: AccessRequest
    state: str  # a pending request past its deadline reads "expired" before the sweeper runs
    grant: Grant | None  # the latest grant (an extension adds one)
    grant_state: str | None
    reviews: list[AccessReview]

    @property
    def approvals(self) -> int:
        return sum(1 for review in self.reviews if review.decision == "approve")

    def reviewed_by(self, key: str) -> bool:
        """Return whether the reviewer ``key`` (``Principal.key``) has decided on it."""
        return any(review.reviewer_key == key for review in self.reviews)


def request_items(rows: list[AccessRequest], grants: dict[str, list[Grant]],
                  reviews: dict[str, list[AccessReview]], now: datetime) -> list[RequestItem]:
    """Return the rows with their latest grant and reviews (``queries.grants_of_requests``,
    ``queries.reviews_of``) as of ``now``."""
    items = []
    for row in rows:
        latest = grants.get(row.id, [])[-1] if grants.get(row.id) else None
        state = "expired" if row.state == "pending" and now >= row.pending_until else row.state
        items.append(RequestItem(row, state, latest,
                                 grant_state(latest, now) if latest is not None else None,
                                 reviews.get(row.id, [])))
    return items
