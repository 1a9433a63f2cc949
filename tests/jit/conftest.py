"""SAML fixtures: real IdPs (``jit.demo_idp``, signed by xmlsec1), an app that trusts them, and
helpers that drive the SP the way a browser does — through ``/saml/login`` and ``/saml/acs``.

The SP's public URL is the ``settings`` fixture's ``https://frontdesk.example.com``: its entity
id is ``.../saml/metadata`` and its ACS ``.../saml/acs``. Every IdP here signs for exactly those.
Two IdPs exist (A and B) with their own keys, generated once per session.

Inside ``tests/jit`` the ``app`` fixture is the SAML app (IdP A trusted), so ``client``, ``db``,
``scim`` and ``runner`` all talk to it. ``make_app`` builds more apps on the same database with
other SAML settings (per-IdP policy, a second IdP).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from werkzeug.test import TestResponse

import config
from app.db import Database
from app.models import AuditEvent
from app.models import Group
from app.models import IdentityLink
from app.models import Membership
from app.models import User
from app.web.context import get_db
from app.web.factory import create_app
from tests.conftest import LiveServer
from tests.conftest import empty_database

with warnings.catch_warnings():
    # pysaml2's IdP side (saml2.server → saml2.cryptography.symmetric) touches cryptography's
    # moved CFB mode on import; not ours to fix, and only the demo IdP imports it.
    warnings.filterwarnings("ignore", message="CFB has been moved")
    from jit.demo.idp import AuthnRequestInfo
    from jit.demo.idp import DemoIdP

BASE_URL = "https://frontdesk.example.com"
SP_ENTITY_ID = f"{BASE_URL}/saml/metadata"
ACS_URL = f"{BASE_URL}/saml/acs"
IDP_A_URL = "https://idp-a.example.com"
IDP_B_URL = "https://idp-b.example.com"
SAML_TABLES = ("saml_requests", "saml_seen_assertions")

ENTRA = {
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "givenName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "surname": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "displayName": "http://schemas.microsoft.com/identity/claims/displayname",
    "objectId": "http://schemas.microsoft.com/identity/claims/objectidentifier",
    "groups": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
}


def okta_attributes(email: str, first: str = "Ada", last: str = "Lovelace",
                    groups: list[str] | None = None, **extra: list[str]) -> dict[str, list[str]]:
    """Attributes as an Okta app commonly sends them."""
    attrs = {"email": [email], "firstName": [first], "lastName": [last],
             "displayName": [f"{first} {last}"]}
    if groups is not None:
        attrs["groups"] = groups
    attrs.update(extra)
    return attrs


class HttpsClient(FlaskClient):
    """A test client that talks to ``https://frontdesk.example.com`` unless told otherwise,
    so the Secure session and binding cookies come and go as in a browser."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:  # type: ignore[override]
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", BASE_URL)
        response: TestResponse = super().open(*args, **kwargs)
        return response


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


# -- settings and apps ------------------------------------------------------------------------

def with_idp_policy(settings: config.Settings, entity_id: str, **policy: Any) -> config.Settings:
    """Return settings whose TOML section ``[saml.idp."<entity_id>"]`` holds ``policy``."""
    extra = dict(settings.extra)
    saml = dict(extra.get("saml", {}))
    idps = dict(saml.get("idp", {}))
    idps[entity_id] = {**idps.get(entity_id, {}), **policy}
    saml["idp"] = idps
    extra["saml"] = saml
    return dataclasses.replace(settings, extra=extra)


@pytest.fixture
def saml_settings(settings: config.Settings, idp: DemoIdP) -> config.Settings:
    """The test settings, trusting IdP A."""
    return dataclasses.replace(settings, saml_idp_metadata=(str(idp.metadata_path),))


@pytest.fixture
def two_idp_settings(saml_settings: config.Settings, idp: DemoIdP, idp_b: DemoIdP
                     ) -> config.Settings:
    """The test settings, trusting IdP A and IdP B (two metadata files)."""
    return dataclasses.replace(
        saml_settings, saml_idp_metadata=(str(idp.metadata_path), str(idp_b.metadata_path)))


def empty_saml_state(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in SAML_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


@pytest.fixture
def app(saml_settings: config.Settings) -> Iterator[Flask]:
    """The SAML app (IdP A trusted) on an empty database; overrides the root ``app``."""
    application = create_app(saml_settings)
    application.config["TESTING"] = True
    application.test_client_class = HttpsClient
    empty_database(get_db(application))
    empty_saml_state(get_db(application))
    yield application
    get_db(application).dispose()


@pytest.fixture
def saml_app(app: Flask) -> Flask:
    return app


@pytest.fixture
def saml_client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_app(app: Flask, saml_settings: config.Settings) -> Iterator[Callable[..., Flask]]:
    """Build another app on the same (already emptied) database with other settings."""
    built: list[Flask] = []

    def build(settings: config.Settings | None = None, **overrides: Any) -> Flask:
        chosen = dataclasses.replace(settings or saml_settings, **overrides)
        application = create_app(chosen)
        application.config["TESTING"] = True
        application.test_client_class = HttpsClient
        built.append(application)
        return application

    yield build
    for application in built:
        get_db(application).dispose()


@pytest.fixture
def saml_live_server(app: Flask, saml_settings: config.Settings) -> Iterator[LiveServer]:
    """Frontdesk under gunicorn (2 workers) trusting IdP A; its base URL is its own
    ``http://127.0.0.1:<port>``, so use ``live_idp`` to sign for it."""
    server = LiveServer(saml_settings)
    yield server
    server.stop()


@pytest.fixture
def live_idp(idp: DemoIdP, saml_live_server: LiveServer) -> DemoIdP:
    """IdP A (same key, same metadata) signing for the live server's entity id and ACS."""
    return DemoIdP.for_frontdesk(idp.workdir, IDP_A_URL, saml_live_server.url)


# -- browser helpers --------------------------------------------------------------------------

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


# -- database reads ---------------------------------------------------------------------------

def users(db: Database) -> list[User]:
    with db.read_session() as session:
        return list(session.execute(select(User).order_by(User.created_at)).scalars())


def user_by_name(db: Database, user_name: str) -> User | None:
    with db.read_session() as session:
        return session.execute(
            select(User).where(User.user_name_key == user_name.casefold())
        ).scalar_one_or_none()


def user_count(db: Database) -> int:
    with db.read_session() as session:
        return int(session.execute(select(func.count()).select_from(User)).scalar_one())


def events(db: Database, action: str | None = None) -> list[AuditEvent]:
    with db.read_session() as session:
        stmt = select(AuditEvent).order_by(AuditEvent.seq)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        return list(session.execute(stmt).scalars())


def links(db: Database, user_id: str) -> list[tuple[str, str]]:
    with db.read_session() as session:
        rows = session.execute(
            select(IdentityLink.idp_entity_id, IdentityLink.name_id)
            .where(IdentityLink.user_id == user_id).order_by(IdentityLink.id))
        return [(a, b) for a, b in rows]


def memberships(db: Database, user_id: str) -> dict[str, str | None]:
    """{group displayName: IdP entity id that manages it (None: SCIM/admin)} for one user."""
    with db.read_session() as session:
        rows = session.execute(
            select(Group.display_name, Membership.idp_entity_id)
            .join(Group, Group.id == Membership.group_id)
            .where(Membership.member_id == user_id))
        return {name: managed for name, managed in rows}


def group_names(db: Database) -> set[str]:
    with db.read_session() as session:
        return set(session.execute(select(Group.display_name)).scalars())


def snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a refused login must leave alone (the audit log aside)."""
    with db.read_session() as session:
        user_rows = sorted(
            (u.id, u.user_name, u.version, u.active, repr(sorted(u.doc.items())),
             u.last_login_at)
            for u in session.execute(select(User)).scalars())
        member_rows = sorted(
            (m.group_id, m.member_id, m.idp_entity_id)
            for m in session.execute(select(Membership)).scalars())
        link_rows = sorted(
            (link.idp_entity_id, link.name_id, link.user_id)
            for link in session.execute(select(IdentityLink)).scalars())
        group_rows = sorted(
            (g.id, g.display_name, g.version)
            for g in session.execute(select(Group)).scalars())
    return (user_rows, member_rows, link_rows, group_rows)


def write_path(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)
