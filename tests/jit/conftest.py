"""SAML fixtures: real IdPs (``jit.demo``, signed by xmlsec1) and apps that trust them.

Inside ``tests/jit`` the ``settings`` trust IdP A, so ``app``, ``client``, ``db``, ``scim`` and
``runner`` all talk to the SAML app, through https (``HttpsClient``). ``make_app`` builds more
apps on the same database with other SAML settings (per-IdP policy, a second IdP). Two IdPs
exist (A and B) with their own keys, generated once per session. The helpers that drive the SP
are in ``tests.helpers.saml``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

import config
from tests.helpers.clients import HttpsClient
from tests.helpers.saml import ACS_URL
from tests.helpers.saml import IDP_A_URL
from tests.helpers.saml import IDP_B_URL
from tests.helpers.saml import SP_ENTITY_ID
from tests.helpers.saml import DemoIdP
from tests.helpers.servers import LiveServer

# -- IdPs (one key each per session) --------------------------------------------------------


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    """IdP A: trusted by the default SAML app."""
    return DemoIdP(tmp_path_factory.mktemp("idp-a"), IDP_A_URL, SP_ENTITY_ID, ACS_URL)


@pytest.fixture(scope="session")
def idp_b(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    """IdP B: another organisation's IdP, trusted only by apps built with both metadata files."""
    return DemoIdP(tmp_path_factory.mktemp("idp-b"), IDP_B_URL, SP_ENTITY_ID, ACS_URL)


@pytest.fixture(scope="session")
def rogue_idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    """Claims to be IdP A (same entity id) but signs with its own, untrusted key."""
    return DemoIdP(tmp_path_factory.mktemp("idp-rogue"), IDP_A_URL, SP_ENTITY_ID, ACS_URL)


# -- settings ---------------------------------------------------------------------------------

@pytest.fixture
def settings(settings: config.Settings, idp: DemoIdP) -> config.Settings:
    """The root test settings, trusting IdP A."""
    return dataclasses.replace(settings, saml_idp_metadata=(str(idp.metadata_path),))


@pytest.fixture
def two_idp_settings(settings: config.Settings, idp: DemoIdP, idp_b: DemoIdP
                     ) -> config.Settings:
    """The test settings, trusting IdP A and IdP B (two metadata files)."""
    return dataclasses.replace(
        settings, saml_idp_metadata=(str(idp.metadata_path), str(idp_b.metadata_path)))


@pytest.fixture
def test_client_class() -> type[FlaskClient]:
    return HttpsClient


# -- under gunicorn ---------------------------------------------------------------------------

@pytest.fixture
def saml_live_server(app: Flask, settings: config.Settings,
                     start_server: Callable[[config.Settings], LiveServer]) -> LiveServer:
    """Frontdesk under gunicorn (2 workers) trusting IdP A; its base URL is its own
    ``http://127.0.0.1:<port>``, so use ``live_idp`` to sign for it."""
    return start_server(settings)


@pytest.fixture
def live_idp(idp: DemoIdP, saml_live_server: LiveServer) -> DemoIdP:
    """IdP A (same key, same metadata) signing for the live server's entity id and ACS."""
    return DemoIdP.for_frontdesk(idp.workdir, IDP_A_URL, saml_live_server.url)
