"""Access fixtures: the root app with the test policies, a frozen clock, and a cast of users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

import config
from app.clock import FrozenClock
from app.db import Database
from tests.helpers.access import T0
from tests.helpers.access import make_group
from tests.helpers.access import make_user
from tests.helpers.access import with_access
from tests.helpers.webhooks import Receiver

WEBHOOK_SECRET = "receiver-secret-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver that fails its first two deliveries."""
    server = Receiver(fail_first=2).start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: config.Settings, receiver: Receiver) -> config.Settings:
    return with_access(settings, webhooks={
        "bus": {"url": receiver.url, "secret": WEBHOOK_SECRET, "topics": ["access.*"]}})


@pytest.fixture
def clock(app: Flask, db: Database) -> FrozenClock:
    frozen = FrozenClock(T0)
    db.clock = frozen
    return frozen


@dataclass(frozen=True)
class Cast:
    ada: str  # engineer (requester)
    bob: str  # SRE lead (approver)
    cyd: str  # SRE lead (second approver)
    dee: str  # engineer on call (auto-approved)
    eve: str  # nobody in particular
    readers: str  # group id of prod-db-readers
    admins: str  # group id of prod-db-admins


@pytest.fixture
def cast(db: Database, clock: FrozenClock) -> Cast:
    ada = make_user(db, "äda@example.com")
    bob = make_user(db, "bob@example.com")
    cyd = make_user(db, "cyd@example.com")
    dee = make_user(db, "dee@example.com")
    eve = make_user(db, "eve@example.com")
    make_group(db, "engineering", (ada, dee))
    make_group(db, "sre-leads", (bob, cyd))
    make_group(db, "oncall", (dee,))
    readers = make_group(db, "prod-db-readers")
    admins = make_group(db, "prod-db-admins")
    make_group(db, "sandbox-1")
    make_group(db, "payroll-admins")
    return Cast(ada, bob, cyd, dee, eve, readers, admins)
