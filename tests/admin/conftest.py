"""Admin console fixtures: an app that trusts a demo IdP and has an admin group, and a client
signed in with a login link (Chromium is the root ``browser`` fixture). The helpers that sign
in and read the pages are in ``tests.helpers.console``.

The app here talks https (``https://frontdesk.example.com``, like production), so the Secure
session cookie comes and goes as in a browser.
"""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

import config
from tests.helpers.clients import BASE_URL
from tests.helpers.clients import HttpsClient
from tests.helpers.console import ADMIN_GROUP
from tests.helpers.console import IDP_URL
from tests.helpers.console import sign_in_with_link
from tests.helpers.saml import DemoIdP


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    return DemoIdP.for_frontdesk(tmp_path_factory.mktemp("admin-idp"), IDP_URL, BASE_URL)


@pytest.fixture
def settings(settings: config.Settings, idp: DemoIdP) -> config.Settings:
    """The root test settings, trusting the demo IdP, with one admin group."""
    return dataclasses.replace(settings, saml_idp_metadata=(str(idp.metadata_path),),
                               admin_groups=(ADMIN_GROUP,))


@pytest.fixture
def test_client_class() -> type[FlaskClient]:
    return HttpsClient


@pytest.fixture
def admin(client: FlaskClient, runner: CliRunner) -> FlaskClient:
    """A client signed in to the console with a login link."""
    sign_in_with_link(client, runner)
    return client
