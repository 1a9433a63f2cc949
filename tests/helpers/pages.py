"""Access page helpers: a browser session for a cast member without the SAML round trip (the
sign-in itself is tested in tests/jit and once through the demo IdP in tests/access/pages),
form posts that carry the session's CSRF token, and readers of the rendered pages."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

IDP = "https://idp.example.com"
MFA = "urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def sign_in(client: FlaskClient, user_id: str, *, mfa: bool = False,
            at: datetime | None = None, base_url: str | None = None) -> FlaskClient:
    """Give ``client`` the session a SAML sign-in of ``user_id`` leaves behind: ``uid``,
    ``csrf`` and the authentication context (``auth``) the access policies read.

    ``base_url``: the site the client talks to, when not Flask's default (the cookie's domain).
    """
    token = f"csrf-{user_id}"
    with client.session_transaction(**({"base_url": base_url} if base_url else {})) as session:
        session.clear()
        session["uid"] = user_id
        session["csrf"] = token
        session["auth"] = {"idp": IDP, "contexts": [MFA if mfa else PASSWORD],
                           "authn_instant": at.isoformat() if at else None}
    client.csrf = token  # type: ignore[attr-defined]
    return client


def post(client: FlaskClient, path: str, **form: Any) -> TestResponse:
    """POST a form as the page would: with the session's CSRF token (``sign_in``'s)."""
    response: TestResponse = client.post(path, data={"csrf": client.csrf, **form})  # type: ignore[attr-defined]
    return response


def body(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def squeeze(text: str) -> str:
    """The text of some HTML: tags stripped, entities decoded, whitespace squeezed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split())


def rows(html: str, table_id: str) -> list[str]:
    """The text of each body row of ``<table id=...>``."""
    section = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    section = section.split("<tbody>", 1)[-1]
    return [squeeze(row) for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)]


def section(html: str, element_id: str) -> str:
    """The text of the element ``id=...`` up to the next element of the same tag's end."""
    match = re.search(rf'<(\w+)[^>]*id="{re.escape(element_id)}"', html)
    assert match, f"no element id={element_id}"
    tag = match.group(1)
    rest = html[match.start():]
    return squeeze(rest.split(f"</{tag}>", 1)[0])


def refusal(html: str) -> str:
    """The refusal box of a page (lead sentence, detail, code), as text."""
    return section(html, "refusal")


def flash(html: str) -> list[str]:
    return [squeeze(m) for m in re.findall(r'<p class="flash"[^>]*>(.*?)</p>', html, re.S)]
