"""The admin console: signing in the two real ways (a login link printed by
``frontdesk admin login-link``, and SAML SSO as a member of the admin group), and small readers
of its pages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from click.testing import CliRunner
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.cli.main import main as frontdesk
from tests.helpers.saml import DemoIdP

IDP_URL = "https://idp.example.com"  # the console tests' IdP
ADMIN_GROUP = "Frontdesk Admins"


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


def sso_login(client: FlaskClient, idp: DemoIdP, email: str, groups: list[str]) -> TestResponse:
    """IdP-initiated SAML sign-in with a group claim, POSTed to the ACS as a browser would."""
    attributes = {"email": [email], "firstName": ["Grace"], "lastName": ["Hopper"],
                  "groups": groups}
    response: TestResponse = client.post(
        "/saml/acs", data={"SAMLResponse": idp.response(email, attributes)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def csrf_of(body: str) -> str:
    """The CSRF token of the (first) form on a page."""
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


def watch_csp(page: Any) -> list[str]:
    """Collect the Content-Security-Policy violations a page reports to its console."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    return violations
