"""Admin console fixtures: an app that trusts a demo IdP and has an admin group, clients that
sign in the two real ways (a login link printed by ``frontdesk admin login-link``, and SAML SSO
as a member of the admin group), and small readers of the pages.

The app here talks https (``https://frontdesk.example.com``, like production), so the Secure
session cookie comes and goes as in a browser.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import config
from app.cli.main import main as frontdesk
from app.web.context import get_db
from app.web.factory import create_app
from tests.conftest import empty_database

with warnings.catch_warnings():
    # pysaml2's IdP side touches cryptography's moved CFB mode on import; not ours to fix.
    warnings.filterwarnings("ignore", message="CFB has been moved")
    from jit.demo.idp import DemoIdP

BASE_URL = "https://frontdesk.example.com"
IDP_URL = "https://idp.example.com"
ADMIN_GROUP = "Frontdesk Admins"


class HttpsClient(FlaskClient):
    """A test client that talks to ``https://frontdesk.example.com`` unless told otherwise."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", BASE_URL)
        response: TestResponse = super().open(*args, **kwargs)
        return response


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> DemoIdP:
    return DemoIdP.for_frontdesk(tmp_path_factory.mktemp("admin-idp"), IDP_URL, BASE_URL)


@pytest.fixture
def settings(settings: config.Settings, idp: DemoIdP) -> config.Settings:
    """The root test settings, trusting the demo IdP, with one admin group."""
    return dataclasses.replace(settings, saml_idp_metadata=(str(idp.metadata_path),),
                               admin_groups=(ADMIN_GROUP,))


@pytest.fixture
def app(settings: config.Settings) -> Iterator[Flask]:
    application = create_app(settings)
    application.config["TESTING"] = True
    application.test_client_class = HttpsClient
    empty_database(get_db(application))
    yield application
    get_db(application).dispose()


def login_link(runner: CliRunner, label: str = "first admin") -> str:
    """Run ``frontdesk admin login-link`` and return the path of the URL it prints."""
    result = runner.invoke(frontdesk, ["admin", "login-link", "--label", label])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"https?://\S+/admin/login/[A-Za-z0-9_-]{20,}", url), url
    return urlsplit(url).path


def sign_in_with_link(client: FlaskClient, runner: CliRunner, label: str = "first admin"
                      ) -> TestResponse:
    response: TestResponse = client.get(login_link(runner, label))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/admin/audit"
    return response


@pytest.fixture
def admin(client: FlaskClient, runner: CliRunner) -> FlaskClient:
    """A client signed in to the console with a login link."""
    sign_in_with_link(client, runner)
    return client


def sso_login(client: FlaskClient, idp: DemoIdP, email: str, groups: list[str]) -> TestResponse:
    """IdP-initiated SAML sign-in with a group claim, POSTed to the ACS as a browser would."""
    attributes = {"email": [email], "firstName": ["Grace"], "lastName": ["Hopper"],
                  "groups": groups}
    response: TestResponse = client.post(
        "/saml/acs", data={"SAMLResponse": idp.response(email, attributes)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def csrf_of(body: str) -> str:
    return body.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def table_rows(body: str, table_id: str) -> list[str]:
    """The rows of ``<table id=...>``'s body, tags stripped, whitespace squeezed."""
    section = body.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    section = section.split("<tbody>", 1)[-1]
    rows = re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def link_after(body: str, text: str) -> str:
    """The href of the link whose text is ``text``."""
    match = re.search(r'<a href="([^"]+)"[^>]*>\s*' + re.escape(text), body)
    assert match, f"no link '{text}'"
    return match.group(1).replace("&amp;", "&")

