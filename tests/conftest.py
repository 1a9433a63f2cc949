"""Shared fixtures: a real database (SQLite always, PostgreSQL when
``FRONTDESK_TEST_DATABASE_URL`` is set), the app, a SCIM client with a real token, the CLI.

Every test that asks for ``app`` runs once per database. The schema is migrated once per
session with Alembic; between tests every table is emptied (and the audit chain reset), so
tests see committed data exactly as a second worker or a gunicorn process would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

import config
from app import migrate
from app import services
from app.audit import triggers
from app.audit.events import Actor
from app.db import Database
from app.uow import UnitOfWork
from app.web.context import get_db
from app.web.factory import create_app

PG_URL = os.environ.get("FRONTDESK_TEST_DATABASE_URL", "")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
TABLES = ["audit_events", "admin_login_links", "saml_requests", "saml_seen_assertions",
          "outbox", "access_reviews", "grants", "access_requests",
          "identity_links", "memberships", "user_values", "api_tokens", "users", "groups"]
SCIM_HEADERS = {"Content-Type": "application/scim+json", "Accept": "application/scim+json"}


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A migrated, empty database for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'frontdesk.db'}"
    else:
        url = PG_URL
        db = Database(url)
        with db.engine.begin() as conn:
            # Start from nothing: a previous run's schema may be older than ours.
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    migrate.upgrade(url)
    yield url


def empty_database(db: Database) -> None:
    """Delete every row and reset the audit chain to its genesis."""
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            triggers.allow_delete(lambda sql: conn.execute(text(sql)), "sqlite")
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
            triggers.forbid_delete(lambda sql: conn.execute(text(sql)), "sqlite")
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})
        conn.execute(text("UPDATE audit_anchor SET seq = 0, hash = :h"), {"h": "0" * 64})


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> config.Settings:
    return config.load(
        environ={},
        database_url=database_url,
        instance_path=str(tmp_path / "instance"),
        base_url="https://frontdesk.example.com",
        secret_key="test-secret-key",
        log_level="WARNING",
    )


@pytest.fixture
def app(settings: config.Settings) -> Iterator[Flask]:
    application = create_app(settings)
    application.config["TESTING"] = True
    empty_database(get_db(application))
    yield application
    get_db(application).dispose()


@pytest.fixture
def db(app: Flask) -> Database:
    return get_db(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(db: Database, name: str = "okta", scopes: tuple[str, ...] = ("scim",)) -> str:
    """Create a real token through the service layer and return its plaintext."""
    with UnitOfWork(db) as uow:
        _, plaintext = services.create_token(uow, name, scopes, actor=Actor("test", "t", "test"))
    return plaintext


@pytest.fixture
def token(db: Database) -> str:
    return make_token(db)


class ScimClient:
    """A test client that sends the bearer token and SCIM content type on every call."""

    def __init__(self, client: FlaskClient, token: str, prefix: str = "/scim/v2") -> None:
        self.client = client
        self.headers = {**SCIM_HEADERS, "Authorization": f"Bearer {token}"}
        self.prefix = prefix

    def _call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
              **kwargs: Any) -> Any:
        url = path if path.startswith("/scim") else self.prefix + path
        return self.client.open(url, method=method, json=json,
                                headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("POST", path, json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PUT", path, json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PATCH", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self._call("DELETE", path, **kw)


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


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    """Wrap operations in a PatchOp body."""
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": list(operations)}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """Frontdesk under real gunicorn (2 workers) on a free loopback port."""

    def __init__(self, settings: config.Settings, workers: int = 2,
                 env: dict[str, str] | None = None) -> None:
        import subprocess
        import sys
        import time
        import urllib.request

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        extra_env = env
        env = {
            **os.environ,
            "FRONTDESK_DATABASE_URL": settings.database_url,
            "FRONTDESK_INSTANCE_PATH": settings.instance_path,
            "FRONTDESK_BASE_URL": self.url,
            "FRONTDESK_SECRET_KEY": settings.secret_key,
            "FRONTDESK_LOG_LEVEL": "WARNING",
        }
        if settings.saml_idp_metadata:
            env["FRONTDESK_SAML_IDP_METADATA"] = ",".join(settings.saml_idp_metadata)
        env.update(extra_env or {})
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(
            [gunicorn, "-c", "config/gunicorn_conf.py", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--no-control-socket"],
            env=env, cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode() if self.process.stderr
                                       else "gunicorn exited") from None
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()  # else the pipe leaks into the next test as a warning


@pytest.fixture
def live_server(app: Flask, settings: config.Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    yield server
    server.stop()
