"""Unit of work: one write transaction with its repositories and its audit log.

``with UnitOfWork(db, info) as uow: ...; uow.commit()`` — the audit events are appended to the
chain inside ``commit``, in the same transaction as the change, and anything not committed is
rolled back when the block ends, exceptions included.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session

from app.audit import AuditLog
from app.audit import RequestInfo
from app.db import Database
from app.repository import GroupRepository
from app.repository import UserRepository
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
        self.info = info or RequestInfo()
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        self.session = self.db.write_session()
        self.users = UserRepository(self.session)
        self.groups = GroupRepository(self.session)
        self.tokens = TokenRepository(self.session)
        self.audit = AuditLog(self.session, self.info)
        self.committed = False
        return self

    def commit(self) -> None:
        """Append the pending audit events and commit everything, or nothing."""
        self.audit.flush()
        self.session.commit()
        self.committed = True

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
