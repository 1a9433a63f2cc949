"""Helpers every repository module shares: the case-insensitive key, LIKE escaping, id chunks."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
# Ids bound per statement: SQLite allows 32 766 parameters by default, PostgreSQL 65 535.
CHUNK = 5000


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield ``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def fold(value: str) -> str:
    """Return the key a case-insensitive value is stored and compared under."""
    return value.casefold()


def like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
