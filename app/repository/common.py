"""Helpers the repositories (and the audit log's reader) share: the case-insensitive key, LIKE
patterns, id chunks, the unique-constraint flush and keyset pages."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import literal
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import casefold
from app.errors import ConflictError

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
    """Escape LIKE's wildcards (and the escape character ``\\``) in a literal value."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_text(expr: Any, text: str) -> ColumnElement[bool]:
    """Plain text ``expr`` contains ``text``, case-insensitively (both folded by the database,
    see ``app.db.casefold``)."""
    pattern = "%" + like_escape(text) + "%"
    condition: ColumnElement[bool] = casefold(expr).like(casefold(literal(pattern)),
                                                          escape="\\")
    return condition


def flush_unique(session: Session, message: str) -> None:
    """Flush pending changes in a savepoint; a constraint they break raises
    ``ConflictError(message)`` and leaves the transaction usable (the savepoint is rolled back).

    Build ``message`` before calling: a failed flush expires the objects, which then cannot be
    reloaded to name the culprit.
    """
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(message) from None


def keyset_page(session: Session, stmt: Select[Any], key: Any, after: Any, limit: int,
                key_of: Callable[[Any], Any], *, descending: bool = False
                ) -> tuple[list[Any], Any]:
    """Return one page of ``stmt`` ordered by the unique ``key``, starting after ``after``
    (None: from the start), and the key of its last row when more rows follow, else None.

    One statement with ``LIMIT limit + 1``: the extra row says whether there is a next page,
    with no count, so page 2 000 costs what page 1 does. ``key_of`` reads the key of a row.
    """
    if after is not None:
        stmt = stmt.where(key < after if descending else key > after)
    order = key.desc() if descending else key
    rows = list(session.execute(stmt.order_by(order).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (key_of(rows[-1]) if more and rows else None)
