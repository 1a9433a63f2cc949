"""The clock every time-driven decision reads (grant expiry, pending deadlines, sweeps).

Services never call ``datetime.now`` for a decision: they ask the unit of work's clock, which is
the database handle's. Production uses ``SystemClock``; tests build the app with a
``FrozenClock`` and move it, so expiry is tested without sleeping.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from threading import Lock
from typing import Protocol


class Clock(Protocol):
    """Tells the time, aware and in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told (tests); safe to share between threads."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at = (at or datetime.now(UTC)).astimezone(UTC)
        self._lock = Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        with self._lock:
            self._at += delta
            return self._at

    def set(self, at: datetime) -> None:
        """Jump to ``at``."""
        with self._lock:
            self._at = at.astimezone(UTC)
