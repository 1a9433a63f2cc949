"""Throttling of failed authentication, shared by every worker and instance through the database.

Each source address has, per kind of credential (``bearer`` tokens, console ``login_link``s), a
row in ``auth_failures``: when its fixed window started and ends, and how many failures it
holds. A failure is one upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) that starts a
new window when the old one has ended, else adds one: no read-modify-write race between workers.
Once a source holds ``limit.failures`` failures, every further failure in the window is refused
with the seconds left (HTTP 429, ``Retry-After``) without writing anything.

Only failures are counted and only failures are refused: the doors check a credential first, so
a valid token or link always passes, even from a source that failed before. Stale rows are
deleted by the time-driven jobs (``prune``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db import Database
from app.models import AuthFailure

log = logging.getLogger("frontdesk.throttle")

BEARER = "bearer"
LOGIN_LINK = "login_link"
SOURCE_CHARS = 64  # an IPv6 address with a zone fits; longer is cut, never refused


@dataclass(frozen=True)
class Limit:
    """At most ``failures`` failed attempts per source in ``window``; 0 failures: no limit."""

    failures: int
    window: timedelta


@dataclass(frozen=True)
class Verdict:
    """What one failure came to: the source's failures in this window, and, when the source
    is over the limit, the seconds until its window ends (else None)."""

    failures: int
    retry_after: int | None

    @property
    def throttled(self) -> bool:
        return self.retry_after is not None


# Called with (kind, throttled) on every failed authentication: the hook for a
# failed-authentication counter (metrics), kept out of this module on purpose.
FailureListener = Callable[[str, bool], None]
_listeners: list[FailureListener] = []


def add_failure_listener(listener: FailureListener) -> None:
    """Call ``listener(kind, throttled)`` on every failed authentication from now on."""
    _listeners.append(listener)


def remove_failure_listener(listener: FailureListener) -> None:
    """Stop calling ``listener``."""
    _listeners.remove(listener)


def _notify(kind: str, throttled: bool) -> None:
    for listener in list(_listeners):
        try:
            listener(kind, throttled)
        except Exception:  # noqa: BLE001 - a counter must never turn a 401 into a 500
            log.exception("a failed-authentication listener failed")


def _source(source: str | None) -> str:
    return (source or "unknown")[:SOURCE_CHARS]


def _seconds_until(end: float) -> int:
    return max(1, math.ceil(end))


def blocked_for(db: Database, kind: str, source: str | None, limit: Limit, *,
                connection: Connection | None = None) -> int | None:
    """Return the seconds ``source`` must wait before trying ``kind`` again, or None when it
    may try now (a read only; ``connection`` is the request's read connection when given)."""
    if limit.failures <= 0:
        return None
    now = db.clock.now()
    query = select(AuthFailure.failures, AuthFailure.window_ends).where(
        AuthFailure.kind == kind, AuthFailure.source == _source(source))
    if connection is not None:
        row = connection.execute(query).first()
    else:
        with db.engine.connect() as own:
            row = own.execute(query).first()
    if row is None or row.window_ends <= now or row.failures < limit.failures:
        return None
    return _seconds_until((row.window_ends - now).total_seconds())


def record_failure(db: Database, kind: str, source: str | None, limit: Limit, *,
                   connection: Connection | None = None) -> Verdict:
    """Count one failed authentication of ``kind`` from ``source`` and return the verdict.

    A source already at the limit is answered from a read, without a write; otherwise one
    upsert counts the failure in its own short transaction (never the caller's: a refused
    request writes nothing else, and on SQLite a second writer would wait for the first).
    """
    if limit.failures <= 0:
        _notify(kind, False)
        return Verdict(0, None)
    wait = blocked_for(db, kind, source, limit, connection=connection)
    if wait is not None:
        _notify(kind, True)
        return Verdict(limit.failures, wait)
    now = db.clock.now()
    insert = postgresql_insert if db.dialect == "postgresql" else sqlite_insert
    statement = insert(AuthFailure).values(
        kind=kind, source=_source(source), window_start=now, window_ends=now + limit.window,
        failures=1)
    ended = AuthFailure.window_ends <= now
    upsert = statement.on_conflict_do_update(
        index_elements=[AuthFailure.kind, AuthFailure.source],
        set_={
            "failures": case((ended, 1), else_=AuthFailure.failures + 1),
            "window_start": case((ended, statement.excluded.window_start),
                                 else_=AuthFailure.window_start),
            "window_ends": case((ended, statement.excluded.window_ends),
                                else_=AuthFailure.window_ends),
        },
    ).returning(AuthFailure.failures, AuthFailure.window_ends)
    with db.write_engine.begin() as own:
        failures, window_ends = own.execute(upsert).one()
    throttled = failures > limit.failures
    _notify(kind, throttled)
    if not throttled:
        return Verdict(failures, None)
    return Verdict(failures, _seconds_until((window_ends - now).total_seconds()))


def prune(db: Database) -> int:
    """Delete the rows whose window has ended (they throttle nobody); return how many."""
    stale = AuthFailure.window_ends <= db.clock.now()
    with db.engine.connect() as connection:  # most ticks find nothing: no write lock for that
        if connection.execute(select(AuthFailure.kind).where(stale).limit(1)).first() is None:
            return 0
    with db.write_engine.begin() as connection:
        result = connection.execute(delete(AuthFailure).where(stale))
    return int(result.rowcount)
