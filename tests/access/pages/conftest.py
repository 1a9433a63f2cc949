"""Access page fixtures: the access app (test policies, frozen clock, cast) as the console
tests build it — talking https like production, trusting the demo IdP, with an admin group.

``settings`` extends the access settings of ``tests/access`` (the test policies); the root
``app`` fixture builds the app from it.
"""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient

import config
from app.web.context import get_db
from tests.access.conftest import Cast
from tests.helpers.access import make_group
from tests.helpers.access import make_user
from tests.helpers.clients import BASE_URL
from tests.helpers.clients import HttpsClient
from tests.helpers.console import ADMIN_GROUP
from tests.helpers.console import IDP_URL
from tests.helpers.saml import DemoIdP


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    return DemoIdP.for_frontdesk(tmp_path_factory.mktemp("access-idp"), IDP_URL, BASE_URL)


@pytest.fixture
def settings(settings: config.Settings, idp: DemoIdP) -> config.Settings:
    """The access settings (test policies), trusting the demo IdP, with one admin group."""
    return dataclasses.replace(settings, saml_idp_metadata=(str(idp.metadata_path),),
                               admin_groups=(ADMIN_GROUP,))


@pytest.fixture
def test_client_class() -> type[FlaskClient]:
    return HttpsClient


@pytest.fixture
def root(cast: Cast, app: Flask) -> str:
    """An admin: a person in the admin group, signed in with SSO like everyone else."""
    db = get_db(app)
    user_id = make_user(db, "root@example.com")
    make_group(db, ADMIN_GROUP, (user_id,))
    return user_id
