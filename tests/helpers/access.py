"""Access test helpers: a policy set, users and groups made through the service layer,
personal tokens, and an API client that sends them."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select

import config
from app import services
from app.audit.chain import verify_chain
from app.audit.events import Actor
from app.db import Database
from app.models import AuditEvent
from app.models import OutboxMessage
from app.uow import UnitOfWork

SETUP = Actor("test", "setup", "test setup")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

POLICIES: dict[str, Any] = {
    "db-read": {
        "groups": ["prod-db-readers"],
        "requesters": ["engineering"],
        "approvers": ["sre-leads"],
        "approvals": 1,
        "max_duration": "8h",
        "default_duration": "1h",
        "pending_ttl": "1h",
        "reason": "required",
        "ticket_pattern": "^INC-[0-9]+$",
        "auto_approve_if_member_of": ["oncall"],
        "auto_approve_tokens": ["deploy-bot"],
    },
    "db-admin": {
        "groups": ["prod-db-admins"],
        "requesters": ["engineering"],
        "approvers": ["sre-leads"],
        "approvals": 2,
        "max_duration": "2h",
        "default_duration": "30m",
        "pending_ttl": "4h",
        "reason": "optional",
        "break_glass": True,
        "require_mfa": True,
        "approver_require_mfa": False,
    },
    "payroll": {
        "groups": ["payroll-admins"],
        "requesters": ["engineering"],
        "approvers": ["sre-leads"],
        "approvals": 2,
        "reason": "optional",
    },
    "sandbox": {
        "groups": ["sandbox-*"],
        "approvers": ["sre-leads"],
        "reason": "optional",
        "max_duration": "1d",
        "break_glass": True,
    },
}


def with_access(settings: config.Settings, policies: dict[str, Any] | None = None,
                webhooks: dict[str, Any] | None = None, **access: Any) -> config.Settings:
    """Return settings whose TOML holds these access policies (and webhooks)."""
    extra = dict(settings.extra)
    extra["access"] = {"policies": POLICIES if policies is None else policies, **access}
    if webhooks is not None:
        extra["webhooks"] = webhooks
    return dataclasses.replace(settings, extra=extra)


def make_user(db: Database, name: str, *, active: bool = True) -> str:
    with UnitOfWork(db) as uow:
        user = services.create_user(uow, {"userName": name, "active": active}, actor=SETUP)
    return user.id


def make_group(db: Database, name: str, members: tuple[str, ...] = ()) -> str:
    with UnitOfWork(db) as uow:
        group = services.create_group(uow, {"displayName": name}, members, actor=SETUP)
    return group.id


def personal_token(db: Database, user_name: str, name: str | None = None,
                   scopes: tuple[str, ...] = ("access",)) -> str:
    with UnitOfWork(db) as uow:
        _, plaintext = services.create_token(uow, name or f"pt-{secrets.token_hex(4)}", scopes,
                                             actor=SETUP, user_name=user_name)
    return plaintext


def app_token(db: Database, name: str = "the-app") -> str:
    with UnitOfWork(db) as uow:
        _, plaintext = services.create_token(uow, name, ("access:read",), actor=SETUP)
    return plaintext


class AccessClient:
    """Calls ``/api/access`` with a bearer token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/access{path}", json={} if body is None else body,
                                headers=self.headers)

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(f"/api/access{path}", query_string=params, headers=self.headers)


def events(db: Database, prefix: str = "access:") -> list[AuditEvent]:
    with db.read_session() as session:
        return list(session.execute(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.seq)).scalars())


def event_count(db: Database) -> int:
    with db.read_session() as session:
        return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def outbox_topics(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(session.execute(
            select(OutboxMessage.topic).order_by(OutboxMessage.id)).scalars())


def chain_ok(db: Database) -> bool:
    with db.snapshot_session() as session:
        return verify_chain(session).ok
