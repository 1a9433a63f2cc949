"""Unit of work: one write transaction with its repositories and its audit log.

``with UnitOfWork(db, info) as uow: ...; uow.commit()`` — the audit events are appended to the
chain inside ``commit``, in the same transaction as the change, and anything not committed is
rolled back when the block ends, exceptions included.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit.chain import AuditLog
from app.audit.events import RequestInfo
from app.audit.sink import copy_to_sink
from app.db import Database
from app.repository.accounts import GroupRepository
from app.repository.accounts import UserRepository
from app.tokens import TokenRepository


class UnitOfWork:
    """A transaction, the repositories bound to it, and the events it will record."""

    session: Session
    users: UserRepository
    groups: GroupRepository
    tokens: TokenRepository
    audit: AuditLog

    def __init__(self, db: Database, info: RequestInfo | None = None) -> None:
        self.db = db
        self.clock = db.clock
        self.info = info or RequestInfo()
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        self.session = self.db.write_session()
        self.users = UserRepository(self.session, self.clock)
        self.groups = GroupRepository(self.session, self.clock)
        self.tokens = TokenRepository(self.session)
        self.audit = AuditLog(self.session, self.info)
        self.committed = False
        return self

    def commit(self) -> None:
        """Append the pending audit events and commit everything, or nothing."""
        rows = self.audit.flush()
        self.session.commit()
        self.committed = True
        if rows and self.db.audit_log_file:
            copy_to_sink(self.db.audit_log_file, rows)

    def rollback(self) -> None:
        """Throw away everything done in this unit of work."""
        self.audit.pending.clear()
        self.session.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.rollback()
        self.session.close()


T = TypeVar("T")
# PostgreSQL aborts one transaction of a deadlock (40P01) or a serialisation conflict (40001);
# run again from the start, it then sees what the other one committed.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(err: BaseException) -> bool:
    """Return whether ``err`` is the database aborting this transaction to let another win."""
    return (isinstance(err, DBAPIError)
            and getattr(err.orig, "sqlstate", None) in TRANSIENT_SQLSTATES)


def run(db: Database, info: RequestInfo | None, work: Callable[[UnitOfWork], T], *,
        attempts: int = 3) -> T:
    """Run ``work`` in a fresh unit of work, again from scratch if the database aborted it."""
    for attempt in range(1, attempts + 1):
        try:
            with UnitOfWork(db, info) as uow:
                return work(uow)
        except DBAPIError as err:
            if attempt == attempts or not is_transient(err):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
