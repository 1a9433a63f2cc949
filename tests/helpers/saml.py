"""SAML helpers: the SP key pair shared by a test session, IdP attributes and per-IdP policy,
and a browser's way through the SP (``/saml/login``, the IdP, ``POST /saml/acs``).

The SP's public URL is the ``settings`` fixture's ``https://frontdesk.example.com``: its entity
id is ``.../saml/metadata`` and its ACS ``.../saml/acs``. The IdPs of ``tests/jit`` sign for
exactly those.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import config
from jit.keys import ensure_keypair
from tests.helpers.clients import BASE_URL

with warnings.catch_warnings():
    # pysaml2's IdP side (saml2.server → saml2.cryptography.symmetric) touches cryptography's
    # moved CFB mode on import; not ours to fix, and only the demo IdP imports it.
    warnings.filterwarnings("ignore", message="CFB has been moved")
    from jit.demo.idp import AuthnRequestInfo
    from jit.demo.idp import DemoIdP

__all__ = ["AuthnRequestInfo", "DemoIdP"]

SP_ENTITY_ID = f"{BASE_URL}/saml/metadata"
ACS_URL = f"{BASE_URL}/saml/acs"
IDP_A_URL = "https://idp-a.example.com"
IDP_B_URL = "https://idp-b.example.com"
# Where jit/sp.py keeps the SP's key pair, below the instance folder (made there when missing).
SP_KEY = Path("saml") / "sp-key.pem"
SP_CERT = Path("saml") / "sp-cert.pem"

ENTRA = {
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "givenName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "surname": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "displayName": "http://schemas.microsoft.com/identity/claims/displayname",
    "objectId": "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
}


# -- the SP key pair ----------------------------------------------------------------------------

def make_sp_keypair(folder: Path) -> Path:
    """Generate the SP key pair once (as the app would) into ``folder``/saml; return ``folder``."""
    ensure_keypair(folder / SP_KEY, folder / SP_CERT, "Frontdesk SAML SP")
    return folder


def install_sp_keypair(source: Path, instance_path: Path) -> None:
    """Hard-link (or copy) a ready key pair into an instance folder, so the app finds it there
    instead of generating an RSA key for every test."""
    (instance_path / SP_KEY).parent.mkdir(parents=True, exist_ok=True)
    for name in (SP_KEY, SP_CERT):
        try:
            os.link(source / name, instance_path / name)
        except OSError:  # another file system
            shutil.copy2(source / name, instance_path / name)


# -- IdP attributes and policy ----------------------------------------------------------------

def okta_attributes(email: str, first: str = "Ada", last: str = "Lovelace",
                    groups: list[str] | None = None, **extra: list[str]) -> dict[str, list[str]]:
    """Attributes as an Okta app commonly sends them."""
    attrs = {"email": [email], "firstName": [first], "lastName": [last],
             "displayName": [f"{first} {last}"]}
    if groups is not None:
        attrs["groups"] = groups
    attrs.update(extra)
    return attrs


def with_idp_policy(settings: config.Settings, entity_id: str, **policy: Any) -> config.Settings:
    """Return settings whose TOML section ``[saml.idp."<entity_id>"]`` holds ``policy``."""
    extra = dict(settings.extra)
    saml = dict(extra.get("saml", {}))
    idps = dict(saml.get("idp", {}))
    idps[entity_id] = {**idps.get(entity_id, {}), **policy}
    saml["idp"] = idps
    extra["saml"] = saml
    return dataclasses.replace(settings, extra=extra)


# -- a browser's way through the SP -------------------------------------------------------------

def post_acs(client: FlaskClient, saml_response: str, relay_state: str | None = None,
             **kwargs: Any) -> TestResponse:
    """POST a ``SAMLResponse`` (and RelayState) to the ACS, as the IdP's auto-submit form does."""
    data = {"SAMLResponse": saml_response}
    if relay_state is not None:
        data["RelayState"] = relay_state
    response: TestResponse = client.post("/saml/acs", data=data, **kwargs)
    return response


def start_login(client: FlaskClient, idp: DemoIdP, *, next_path: str | None = None,
                choose: bool = False) -> AuthnRequestInfo:
    """GET /saml/login (optionally ``?idp=``) and let the IdP read the AuthnRequest."""
    query: dict[str, str] = {}
    if next_path is not None:
        query["next"] = next_path
    if choose:
        query["idp"] = idp.entity_id
    response = client.get("/saml/login" + (f"?{urlencode(query)}" if query else ""))
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == idp.sso_url
    params = parse_qs(location.query)
    relay_state = params.get("RelayState", [None])[0]
    return idp.parse_authn_request(params["SAMLRequest"][0], relay_state)


def sp_login(client: FlaskClient, idp: DemoIdP, name_id: str,
             attributes: dict[str, list[str]] | None = None, *, next_path: str | None = None,
             choose: bool = False, **response_kwargs: Any) -> TestResponse:
    """SP-initiated login: /saml/login → IdP answers the request → POST /saml/acs."""
    info = start_login(client, idp, next_path=next_path, choose=choose)
    saml_response = idp.response(name_id, attributes, in_response_to=info.id, **response_kwargs)
    return post_acs(client, saml_response, info.relay_state)


def reason_of(response: TestResponse) -> str | None:
    """The reason code a refusal page shows (``Reason code: <code>x</code>``)."""
    body = response.get_data(as_text=True)
    marker = "Reason code: <code>"
    if marker not in body:
        return None
    return body.split(marker, 1)[1].split("</code>", 1)[0]
