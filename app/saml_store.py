"""Server-side SAML state shared by every worker and instance: sent AuthnRequests and the
assertion replay cache. pysaml2 keeps neither (its caches are per process)."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import Database
from app.digest import sha256_hex
from app.models import SamlRequest
from app.models import SeenAssertion


def browser_hash(binding: str) -> str:
    """Hash the random value a browser's session holds; only the hash is stored."""
    return sha256_hex(binding)


def remember_request(db: Database, request_id: str, binding: str, idp_entity_id: str,
                     next_path: str, ttl: timedelta) -> None:
    """Store a sent AuthnRequest, bound to the browser that started the login."""
    now = db.clock.now()
    with db.write_session() as session, session.begin():
        session.execute(delete(SamlRequest).where(SamlRequest.expires_at < now - ttl))
        session.add(SamlRequest(id=request_id, browser_hash=browser_hash(binding),
                                idp_entity_id=idp_entity_id, next_path=next_path,
                                created_at=now, expires_at=now + ttl))


class RequestProblemError(Exception):
    """Why an InResponseTo is refused: ``unknown``, ``foreign``, ``expired`` or ``reused``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def consume_request(session: Session, request_id: str, binding: str | None,
                    idp_entity_id: str, now: datetime) -> SamlRequest:
    """Mark the AuthnRequest answered at ``now`` (the unit of work's clock), atomically, or
    raise ``RequestProblemError``."""
    row = session.execute(
        select(SamlRequest).where(SamlRequest.id == request_id)
    ).scalar_one_or_none()
    if row is None:
        raise RequestProblemError("unknown")
    if binding is None or row.browser_hash != browser_hash(binding) \
            or row.idp_entity_id != idp_entity_id:
        raise RequestProblemError("foreign")
    if row.expires_at < now:
        raise RequestProblemError("expired")
    # One statement decides, so two posts of one response cannot both use the request.
    used = session.execute(
        update(SamlRequest)
        .where(SamlRequest.id == request_id, SamlRequest.used_at.is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise RequestProblemError("reused")
    return row


def consume_assertion(session: Session, assertion_id: str, idp_entity_id: str,
                      expires_at: datetime, now: datetime) -> bool:
    """Record an assertion ID seen at ``now``; return False when it was seen before (a
    replay)."""
    session.execute(delete(SeenAssertion).where(SeenAssertion.expires_at < now - timedelta(
        days=1)))
    insert_fn = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert_fn(SeenAssertion).values(
        assertion_id=assertion_id, idp_entity_id=idp_entity_id, seen_at=now,
        expires_at=expires_at,
    ).on_conflict_do_nothing().returning(SeenAssertion.assertion_id)
    return session.execute(stmt).scalar_one_or_none() is not None
