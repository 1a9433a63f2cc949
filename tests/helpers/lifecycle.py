"""Lifecycle test helpers: rules in the settings, users of each source made through the service
layer, a snapshot of every table (preview must write nothing), and readers of a user's state."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import text

import config
from app import services
from app.db import Database
from app.models import User
from app.uow import UnitOfWork
from tests.helpers.access import SETUP

RULE: dict[str, Any] = {
    "inactive_for": "90d",
    "warn_before": "7d",
    "new_account_grace": "7d",
    "exclude_groups": ["service-accounts"],
    "scope_groups": [],
    "action": "auto",
}


def with_rules(settings: config.Settings, rules: dict[str, Any] | None = None,
               webhooks: dict[str, Any] | None = None, **changes: Any) -> config.Settings:
    """Return settings whose TOML holds ``[lifecycle.dormant.<name>]`` tables (and webhooks)."""
    extra = dict(settings.extra)
    extra["lifecycle"] = {"dormant": {"default": RULE} if rules is None else rules}
    if webhooks is not None:
        extra["webhooks"] = webhooks
    return dataclasses.replace(settings, extra=extra, **changes)


def make_user(db: Database, name: str, *, source: str = "scim", **doc: Any) -> str:
    """A user as SCIM (``scim``), a JIT sign-up (``jit``) or an admin (``local``) makes one."""
    with UnitOfWork(db) as uow:
        user = services.create_user(uow, {"userName": name, **doc}, actor=SETUP, source=source)
    return user.id


def set_created(db: Database, user_id: str, when: datetime) -> None:
    """Make a user look created at ``when`` (users are created at the wall clock's time; the
    CLI runs on it, the tests' frozen clock moves on without it)."""
    with db.write_session() as session, session.begin():
        found = session.get(User, user_id)
        assert found is not None
        found.created_at = when


def user(db: Database, user_id: str) -> User:
    with db.read_session() as session:
        found = session.get(User, user_id)
        assert found is not None
        return found


TABLES = ("users", "groups", "memberships", "grants", "access_requests", "api_tokens",
          "audit_events", "audit_head", "outbox")


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a lifecycle run could touch, in a stable order."""
    with db.engine.connect() as conn:
        return {table: sorted((tuple(row) for row in conn.execute(
                    text(f"SELECT * FROM {table}"))), key=repr)  # noqa: S608 - fixed names
                for table in TABLES}


def names(db: Database, ids: list[str]) -> list[str]:
    with db.read_session() as session:
        return sorted(session.execute(select(User.user_name).where(User.id.in_(ids))).scalars())
