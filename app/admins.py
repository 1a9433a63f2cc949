"""Who may read the audit log and use the console: admins.

An admin is either a signed-in (SAML) user who belongs to one of ``FRONTDESK_ADMIN_GROUPS``
— checked on every request, so removing the membership or deactivating the user ends admin
access at once — or someone who opened a one-time login link from ``frontdesk admin
login-link`` (for the first admin, or when SSO is broken).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy import update

from app.audit.events import Actor
from app.audit.events import AuditAction
from app.db import Database
from app.db import utcnow
from app.digest import sha256_hex
from app.models import AdminLoginLink
from app.models import Group
from app.models import Membership
from app.models import User
from app.repository.common import fold
from app.uow import UnitOfWork

LINK_TTL = timedelta(minutes=10)
LINK_SESSION_SECONDS = 8 * 3600


def create_login_link(uow: UnitOfWork, label: str, *, actor: Actor,
                      ttl: timedelta = LINK_TTL) -> tuple[AdminLoginLink, str]:
    """Create a one-time link secret (returned once, stored hashed)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = AdminLoginLink(secret_hash=sha256_hex(secret), label=label[:256], created_at=now,
                         expires_at=now + ttl)
    uow.session.add(row)
    uow.session.flush()
    uow.audit.record(AuditAction.ADMIN_LOGIN_LINK_CREATE, actor=actor, target_kind="admin",
                     target_id=row.id, target_label=row.label,
                     changes={"expiresAt": [None, row.expires_at.isoformat()]})
    uow.commit()
    return row, secret


def use_login_link(uow: UnitOfWork, secret: str) -> AdminLoginLink | None:
    """Consume a link atomically; return it, or None when unknown, expired or used."""
    if not secret or len(secret) > 128:
        return None
    now = utcnow()
    row = uow.session.execute(
        select(AdminLoginLink).where(AdminLoginLink.secret_hash == sha256_hex(secret))
    ).scalar_one_or_none()
    if row is None or row.expires_at < now:
        return None
    used = uow.session.execute(
        update(AdminLoginLink)
        .where(AdminLoginLink.id == row.id, AdminLoginLink.used_at.is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return None
    uow.audit.record(AuditAction.ADMIN_LOGIN, actor=Actor("admin", row.id, f"link:{row.label}"),
                     target_kind="admin", target_id=row.id, target_label=row.label,
                     changes={"via": [None, "login-link"]})
    uow.commit()
    return row


def link_session(row: AdminLoginLink) -> dict[str, Any]:
    """Return what the session keeps for a login-link admin."""
    return {"id": row.id, "label": row.label, "exp": int(time.time()) + LINK_SESSION_SECONDS}


@dataclass(frozen=True)
class AdminIdentity:
    """An admin as the request sees them; ``user_id`` is set for SSO admins."""

    actor: Actor
    user_id: str | None


def current_admin(db: Database, session_data: Any, admin_groups: tuple[str, ...]
                  ) -> AdminIdentity | None:
    """Return the admin behind this browser session, or None."""
    link = session_data.get("admin_link")
    if isinstance(link, dict) and link.get("exp", 0) > time.time():
        label = str(link.get("label", "admin"))
        return AdminIdentity(Actor("admin", str(link.get("id")), f"link:{label}"), None)
    user_id = session_data.get("uid")
    if not user_id or not admin_groups:
        return None
    keys = [fold(g) for g in admin_groups]
    with db.read_session() as session:
        row = session.execute(
            select(User.id, User.user_name)
            .join(Membership, Membership.member_id == User.id)
            .join(Group, Group.id == Membership.group_id)
            .where(User.id == user_id, User.active.is_(True), User.suspended_at.is_(None),
                   Group.display_name_key.in_(keys))
            .limit(1)
        ).first()
    if row is None:
        return None
    return AdminIdentity(Actor("admin", row[0], row[1]), row[0])
