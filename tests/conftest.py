"""Shared fixtures (fixtures only: the helpers the tests call live in ``tests/helpers``).

Every test that asks for ``app`` runs once per database: SQLite always, PostgreSQL when
``FRONTDESK_TEST_DATABASE_URL`` is set (one database per pytest-xdist worker, see
``tests.helpers.databases``). The schema is migrated once per session with Alembic; the first app
a test builds starts on an emptied database (and a reset audit chain), so tests see committed
data exactly as a second worker or a gunicorn process would.

Apps come from one factory, ``make_app``; a folder changes what its apps are by overriding
``settings`` (and ``test_client_class``), never ``app``.

Markers follow the fixtures: a test that starts gunicorn (``start_server``, and so
``live_server``) is marked ``gunicorn``; one that drives Chromium (``browser``) ``browser``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser
from playwright.sync_api import sync_playwright
from sqlalchemy import Engine

import config
from app.db import Database
from app.db import make_engine
from app.web.context import get_db
from app.web.factory import create_app
from tests.helpers.clients import BASE_URL
from tests.helpers.clients import ScimClient
from tests.helpers.console import IDP_URL
from tests.helpers.databases import DIALECTS
from tests.helpers.databases import PG_URL
from tests.helpers.databases import empty_database
from tests.helpers.databases import prepare_postgresql
from tests.helpers.databases import prepare_sqlite
from tests.helpers.databases import worker_url
from tests.helpers.databases import xdist_worker
from tests.helpers.factories import make_token
from tests.helpers.saml import DemoIdP
from tests.helpers.saml import install_sp_keypair
from tests.helpers.saml import make_sp_keypair
from tests.helpers.servers import LiveServer

MARKED_BY_FIXTURE = {"start_server": "gunicorn", "browser": "browser"}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


# -- databases --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """The URL of this worker's migrated database of a dialect, prepared on first use only
    (an xdist worker may come back to a dialect after the other)."""
    urls: dict[str, str] = {}

    def url_of(dialect: str) -> str:
        if dialect not in urls:
            if dialect == "sqlite":
                urls[dialect] = prepare_sqlite(tmp_path_factory.mktemp("db"))
            else:
                urls[dialect] = prepare_postgresql(worker_url(PG_URL, xdist_worker()))
        return urls[dialect]

    return url_of


@pytest.fixture(scope="session")
def shared_engines() -> Iterator[dict[str, Engine]]:
    """One engine per database URL for the whole session, shared by every app a test builds:
    its pool and its compiled-statement cache outlive the test (a fresh engine per app recompiled
    every statement and, on PostgreSQL, reconnected: a fifth of the suite's time)."""
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(scope="session", params=DIALECTS)
def database_url(request: pytest.FixtureRequest, migrated_databases: Callable[[str], str]
                 ) -> str:
    """A migrated database for the whole session (emptied by the first app of each test)."""
    return migrated_databases(request.param)


# -- settings and apps ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sp_keypair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SAML SP's key pair, generated once per session instead of once per app."""
    return make_sp_keypair(tmp_path_factory.mktemp("sp-keypair"))


@pytest.fixture
def instance_path(tmp_path: Path, sp_keypair: Path) -> Path:
    """The test's instance folder, holding the session's SP key pair already."""
    path = tmp_path / "instance"
    install_sp_keypair(sp_keypair, path)
    return path


@pytest.fixture
def settings(database_url: str, instance_path: Path) -> config.Settings:
    return config.load(
        environ={},
        database_url=database_url,
        instance_path=str(instance_path),
        base_url=BASE_URL,
        secret_key="test-secret-key",
        log_level="WARNING",
    )


@pytest.fixture
def test_client_class() -> type[FlaskClient]:
    """What ``app.test_client()`` returns; a folder may override it."""
    return FlaskClient


@pytest.fixture
def make_app(settings: config.Settings, test_client_class: type[FlaskClient],
             shared_engines: dict[str, Engine]) -> Callable[..., Flask]:
    """Build an app: ``make_app()`` from ``settings``, ``make_app(other, key=value)`` from other
    settings with changes. The first app of a test empties the database; later ones share it.
    Each app has a database of its own (clock, webhooks) on the session's shared engine."""
    built: list[Flask] = []

    def build(chosen: config.Settings | None = None, /, **changes: Any) -> Flask:
        final = dataclasses.replace(chosen or settings, **changes)
        url = final.resolved_database_url
        if url not in shared_engines:
            shared_engines[url] = make_engine(url)
        application = create_app(final, database=Database(url, engine=shared_engines[url]))
        application.config["TESTING"] = True
        application.test_client_class = test_client_class
        if not built:
            empty_database(get_db(application))
        built.append(application)
        return application

    return build


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def db(app: Flask) -> Database:
    return get_db(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(db: Database) -> str:
    return make_token(db)


@pytest.fixture
def scim(client: FlaskClient, token: str) -> ScimClient:
    return ScimClient(client, token)


@pytest.fixture
def runner(settings: config.Settings, app: Flask) -> CliRunner:
    """A CLI runner whose environment points ``frontdesk`` at the test database."""
    return CliRunner(env={
        "FRONTDESK_DATABASE_URL": settings.database_url,
        "FRONTDESK_INSTANCE_PATH": settings.instance_path,
    })


# -- real servers -----------------------------------------------------------------------------

@pytest.fixture
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """Start Frontdesk under gunicorn with some settings (and environment variables on top of
    them: ``env``); stopped at teardown."""
    servers: list[LiveServer] = []

    def start(chosen: config.Settings, env: dict[str, str] | None = None) -> LiveServer:
        servers.append(LiveServer(chosen, env=env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(app: Flask, settings: config.Settings,
                start_server: Callable[[config.Settings], LiveServer]) -> LiveServer:
    """Frontdesk under gunicorn (2 workers) on the test's (emptied) database."""
    return start_server(settings)


# -- a browser --------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"  # Debian's; playwright never downloads a browser here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; a test that asks for it is marked ``browser``."""
    if not Path(CHROMIUM).exists():  # `make test` installs it; say how when run by hand
        pytest.fail(f"{CHROMIUM} is missing: run `make install` or `apt-get install chromium`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server_idp(tmp_path: Path) -> DemoIdP:
    """A demo IdP whose metadata the server trusts (the SP URL is filled in once it runs)."""
    return DemoIdP.for_frontdesk(tmp_path / "idp", IDP_URL, "http://127.0.0.1")
