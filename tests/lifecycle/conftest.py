"""Lifecycle fixtures: the root app with one dormant rule, a webhook receiver for its topics,
SAML sign-in through IdP A (https client), and a frozen clock at the real "now" (users are
created at the wall clock's time, so the rule's clock starts there and only moves forward)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

import config
from app.clock import FrozenClock
from app.db import Database
from tests.helpers.clients import HttpsClient
from tests.helpers.lifecycle import with_rules
from tests.helpers.saml import ACS_URL
from tests.helpers.saml import IDP_A_URL
from tests.helpers.saml import SP_ENTITY_ID
from tests.helpers.saml import DemoIdP
from tests.helpers.webhooks import Receiver


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    return DemoIdP(tmp_path_factory.mktemp("idp-a"), IDP_A_URL, SP_ENTITY_ID, ACS_URL)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: config.Settings, receiver: Receiver, idp: DemoIdP) -> config.Settings:
    chosen = with_rules(settings, webhooks={
        "bus": {"url": receiver.url, "secret": "receiver-secret-0123456789abcdef",
                "topics": ["lifecycle.*"]}})
    return dataclasses.replace(chosen, saml_idp_metadata=(str(idp.metadata_path),),
                               admin_groups=("frontdesk-admins",))


@pytest.fixture
def test_client_class() -> type[FlaskClient]:
    return HttpsClient


@pytest.fixture
def clock(app: Flask, db: Database) -> FrozenClock:
    frozen = FrozenClock()
    db.clock = frozen
    return frozen


TOML = """
admin_groups = ["frontdesk-admins"]

[lifecycle.dormant.default]
inactive_for = "90d"
warn_before = "7d"
new_account_grace = "7d"
exclude_groups = ["service-accounts"]
scope_groups = []
"""


@pytest.fixture
def runner(settings: config.Settings, app: Flask, tmp_path: Path) -> CliRunner:
    """``frontdesk`` on the test database with the default rule in its TOML file."""
    toml = tmp_path / "frontdesk.toml"
    toml.write_text(TOML)
    return CliRunner(env={"FRONTDESK_DATABASE_URL": settings.database_url,
                          "FRONTDESK_INSTANCE_PATH": settings.instance_path,
                          "FRONTDESK_CONFIG": str(toml)})
