"""The ``frontdesk`` command (tokens, db upgrade, audit tail/verify) and the health endpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from click.testing import Result
from flask.testing import FlaskClient

import config
from app import migrate
from app.cli.main import main as cli
from app.db import Database
from app.db import display_url
from app.web.context import get_db
from app.web.factory import create_app
from tests.helpers.clients import ScimClient

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
HEAD = migrate.head_revision()


def invoke(runner: CliRunner, *args: str, ok: bool = True) -> Result:
    result = runner.invoke(cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def token_rows(db: Database) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM api_tokens").all()]


def token_row(db: Database, name: str) -> dict[str, Any]:
    with db.engine.connect() as conn:
        result = conn.exec_driver_sql(
            "SELECT name, prefix, secret_hash, scopes, last_used_at, revoked_at FROM api_tokens")
        rows = [dict(r._mapping) for r in result]
    return next(r for r in rows if r["name"] == name)


# --- tokens ------------------------------------------------------------------------------


def test_tokens_create_prints_the_token_on_its_last_line(runner: CliRunner, db: Database,
                                                         client: FlaskClient) -> None:
    result = invoke(runner, "tokens", "create", "entra-prod")
    plaintext = result.output.strip().splitlines()[-1]
    assert plaintext.startswith("fd_")
    assert result.stdout.strip() == plaintext  # the token alone on stdout, for scripts
    scim = ScimClient(client, plaintext)
    assert scim.get("/Users").status_code == 200
    assert scim.post("/Users", json={"userName": "via-cli-token"}).status_code == 201


def test_only_a_hash_of_the_token_is_stored(runner: CliRunner, db: Database) -> None:
    plaintext = invoke(runner, "tokens", "create", "okta-2").output.strip().splitlines()[-1]
    _, prefix, secret = plaintext.split("_", 2)
    stored = repr(token_rows(db))
    assert plaintext not in stored
    assert secret not in stored
    row = token_row(db, "okta-2")
    assert row["prefix"] == prefix
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    with db.engine.connect() as conn:
        audit = repr(conn.exec_driver_sql("SELECT * FROM audit_events").all())
    assert secret not in audit
    assert "okta-2" in audit  # the creation itself is audited


def test_token_scopes(runner: CliRunner, client: FlaskClient) -> None:
    reader = invoke(runner, "tokens", "create", "auditor", "--scope", "audit:read")
    plaintext = reader.output.strip().splitlines()[-1]
    response = ScimClient(client, plaintext).get("/Users")
    assert response.status_code == 403
    assert response.json["schemas"] == [ERROR]
    both = invoke(runner, "tokens", "create", "both", "--scope", "scim", "--scope", "audit:read")
    assert ScimClient(client, both.output.strip().splitlines()[-1]).get(
        "/Users").status_code == 200
    bad = invoke(runner, "tokens", "create", "bad", "--scope", "root", ok=False)
    assert bad.exit_code != 0


def test_duplicate_and_invalid_token_names_fail(runner: CliRunner, db: Database) -> None:
    invoke(runner, "tokens", "create", "dup")
    before = token_rows(db)
    again = invoke(runner, "tokens", "create", "dup", ok=False)
    assert again.exit_code != 0
    assert "dup" in again.output and "fd_" not in again.output
    weird = invoke(runner, "tokens", "create", "no/slashes\n", ok=False)
    assert weird.exit_code != 0
    assert token_rows(db) == before


def test_tokens_list_never_shows_secrets(runner: CliRunner, db: Database, token: str) -> None:
    created = invoke(runner, "tokens", "create", "listed").output.strip().splitlines()[-1]
    listing = invoke(runner, "tokens", "list").output
    lines = listing.strip().splitlines()
    assert lines[0].split()[:2] == ["NAME", "SCOPES"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert set(by_name) == {"okta", "listed"}
    assert by_name["listed"].split()[1] == "scim"
    assert by_name["listed"].rstrip().endswith("active")
    assert "never" in by_name["listed"]
    for secret in (created, token):
        assert secret not in listing
        assert secret.split("_", 2)[2] not in listing


def test_last_used_is_recorded(runner: CliRunner, db: Database, client: FlaskClient) -> None:
    plaintext = invoke(runner, "tokens", "create", "user").output.strip().splitlines()[-1]
    assert token_row(db, "user")["last_used_at"] is None
    assert ScimClient(client, plaintext).get("/Users").status_code == 200
    assert token_row(db, "user")["last_used_at"] is not None
    line = next(x for x in invoke(runner, "tokens", "list").output.splitlines()
                if x.startswith("user "))
    assert "never" not in line
    # A failed attempt with a wrong secret does not count as a use of the token.
    other = invoke(runner, "tokens", "create", "idle").output.strip().splitlines()[-1]
    forged = other[: other.rindex("_") + 1] + "x" * 43
    assert ScimClient(client, forged).get("/Users").status_code == 401
    assert token_row(db, "idle")["last_used_at"] is None


def test_tokens_revoke(runner: CliRunner, db: Database, client: FlaskClient) -> None:
    plaintext = invoke(runner, "tokens", "create", "leaving").output.strip().splitlines()[-1]
    scim = ScimClient(client, plaintext)
    assert scim.get("/Users").status_code == 200
    revoked = invoke(runner, "tokens", "revoke", "leaving")
    assert "leaving" in revoked.output
    response = scim.get("/Users")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["schemas"] == [ERROR]
    assert token_row(db, "leaving")["revoked_at"] is not None
    line = next(x for x in invoke(runner, "tokens", "list").output.splitlines()
                if x.startswith("leaving "))
    assert line.rstrip().endswith("revoked")
    # Revoking again changes nothing and is not an error; an unknown name is.
    invoke(runner, "tokens", "revoke", "leaving")
    with db.engine.connect() as conn:
        actions = [r[0] for r in conn.exec_driver_sql("SELECT action FROM audit_events").all()]
    assert actions.count("token:revoke") == 1
    missing = invoke(runner, "tokens", "revoke", "no-such-token", ok=False)
    assert missing.exit_code != 0
    assert "no-such-token" in missing.output


# --- db upgrade --------------------------------------------------------------------------


def test_db_upgrade_is_idempotent(runner: CliRunner, scim: ScimClient,
                                  settings: config.Settings) -> None:
    assert scim.post("/Users", json={"userName": "survivor"}).status_code == 201
    for _ in range(2):
        result = invoke(runner, "db", "upgrade")
        assert result.output.splitlines() == [
            f"database: {display_url(settings.database_url)}",
            f"already at {HEAD} (the newest schema): database is up to date"]
    found = scim.get('/Users?filter=userName eq "survivor"').json
    assert found["totalResults"] == 1


def test_db_upgrade_says_which_database_and_from_which_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    runner = CliRunner(env={"FRONTDESK_DATABASE_URL": url})
    migrate.upgrade(url, "0005")
    assert invoke(runner, "db", "upgrade").output.splitlines() == [
        f"database: {url}", f"upgraded from 0005 to {HEAD}: database is up to date"]
    assert migrate.current_revision(url) == HEAD


def test_db_upgrade_hides_the_password(settings: config.Settings, runner: CliRunner) -> None:
    """The printed URL never shows a password; on PostgreSQL the password reaches the server
    (trust authentication there ignores it), on SQLite a URL cannot carry one."""
    if not settings.database_url.startswith("postgresql"):
        assert display_url("postgresql://fd:S3cr%40t@db.example.com:5432/frontdesk") == (
            "postgresql://fd:***@db.example.com:5432/frontdesk")
        assert display_url("not a url with s3cret@host") == "(not a database URL)"
        return
    secret_url = settings.database_url.replace("://postgres@", "://postgres:S3cr3t@", 1)
    assert secret_url != settings.database_url
    result = runner.invoke(cli, ["db", "upgrade"], env={"FRONTDESK_DATABASE_URL": secret_url})
    assert result.exit_code == 0, result.output
    assert "S3cr3t" not in result.output
    assert result.output.splitlines()[0] == (
        "database: " + settings.database_url.replace("://postgres@", "://postgres:***@", 1))


def test_db_upgrade_creates_a_fresh_database(tmp_path: Path, settings: config.Settings) -> None:
    instance = tmp_path / "fresh-instance"
    runner = CliRunner(env={"FRONTDESK_DATABASE_URL": "", "FRONTDESK_INSTANCE_PATH":
                            str(instance)})
    assert invoke(runner, "db", "upgrade").output.splitlines() == [
        f"database: sqlite:///{instance / 'frontdesk.db'}",
        f"created the schema at {HEAD}: database is up to date"]
    assert (instance / "frontdesk.db").is_file()
    assert "already at" in invoke(runner, "db", "upgrade").output
    plaintext = invoke(runner, "tokens", "create", "first").output.strip().splitlines()[-1]
    fresh = create_app(dataclasses.replace(settings, database_url="",
                                           instance_path=str(instance)))
    try:
        client = fresh.test_client()
        assert client.get("/readyz").status_code == 200
        scim = ScimClient(client, plaintext)
        assert scim.post("/Users", json={"userName": "first"}).status_code == 201
        assert "ok: 2 events" in invoke(runner, "audit", "verify").output
    finally:
        get_db(fresh).dispose()


# --- audit tail and verify ---------------------------------------------------------------


def test_audit_tail(runner: CliRunner, scim: ScimClient) -> None:
    user = scim.post("/Users", json={"userName": "tailed"}).json
    scim.patch(f"/Users/{user['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    scim.delete(f"/Users/{user['id']}")
    lines = invoke(runner, "audit", "tail").output.strip().splitlines()
    assert len(lines) == 4  # the token, then create, deactivate, delete: oldest first
    assert "token:create" in lines[0]
    assert "user:create" in lines[1] and "tailed" in lines[1]
    assert "user:deactivate" in lines[2]
    assert "user:delete" in lines[3] and "okta" in lines[3]
    two = invoke(runner, "audit", "tail", "-n", "2").output.strip().splitlines()
    assert two == lines[-2:]
    as_json = [json.loads(x) for x in
               invoke(runner, "audit", "tail", "--json").output.strip().splitlines()]
    assert [e["action"] for e in as_json] == ["token:create", "user:create", "user:deactivate",
                                              "user:delete"]
    assert as_json[1]["target"]["id"] == user["id"]
    assert as_json[1]["actor"]["label"] == "okta"
    assert [e["seq"] for e in as_json] == sorted(e["seq"] for e in as_json)


def test_audit_verify_on_a_good_chain(runner: CliRunner, scim: ScimClient) -> None:
    scim.post("/Users", json={"userName": "v"})
    result = invoke(runner, "audit", "verify")
    assert result.output.startswith("ok: 2 events")


def test_cli_actions_are_audited_with_the_cli_actor(runner: CliRunner, db: Database) -> None:
    invoke(runner, "tokens", "create", "audited")
    invoke(runner, "tokens", "revoke", "audited")
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT actor_kind, action, target_label, request_id FROM audit_events "
            "ORDER BY seq").all()
    assert [tuple(r) for r in rows][-2:] == [("cli", "token:create", "audited", None),
                                            ("cli", "token:revoke", "audited", None)]


# --- health ------------------------------------------------------------------------------


def test_healthz_and_readyz(client: FlaskClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ok"
    assert client.get("/healthz").headers["X-Request-Id"]


def test_readyz_without_migrations_is_503(tmp_path: Path, settings: config.Settings) -> None:
    empty = create_app(dataclasses.replace(
        settings, database_url=f"sqlite:///{tmp_path / 'unmigrated.db'}"))
    try:
        client = empty.test_client()
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "frontdesk db upgrade" in response.json["detail"]
    finally:
        get_db(empty).dispose()


def test_readyz_with_an_unreachable_database_is_503(settings: config.Settings) -> None:
    down = create_app(dataclasses.replace(
        settings, database_url="postgresql://nobody@127.0.0.1:1/none"))
    try:
        client = down.test_client()
        assert client.get("/healthz").status_code == 200
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["status"] == "unavailable"
    finally:
        get_db(down).dispose()


def test_users_show_deactivate_activate(runner: CliRunner, scim: ScimClient) -> None:
    created = scim.post("/Users", json={"userName": "ada@example.com"})
    assert created.status_code == 201
    user_id = created.json["id"]
    shown = invoke(runner, "users", "show", "ADA@example.com")
    assert user_id in shown.output and "active:      yes" in shown.output

    invoke(runner, "users", "deactivate", "ada@example.com", "--reason", "left the company")
    assert scim.get(f"/Users/{user_id}").json["active"] is False
    events = invoke(runner, "audit", "tail", "--json", "-n", "1").output.strip().splitlines()
    last = json.loads(events[-1])
    assert last["action"] == "user:deactivate"
    assert last["actor"]["kind"] == "cli"
    assert last["reason"] == "left the company"

    invoke(runner, "users", "activate", "ada@example.com", "--reason", "rehired")
    assert scim.get(f"/Users/{user_id}").json["active"] is True


def test_users_commands_refuse_unknown_users_and_empty_reasons(runner: CliRunner,
                                                               scim: ScimClient) -> None:
    missing = invoke(runner, "users", "deactivate", "nobody@example.com", "--reason", "x",
                     ok=False)
    assert missing.exit_code == 1 and "no user named" in missing.output
    scim.post("/Users", json={"userName": "bob@example.com"})
    empty = invoke(runner, "users", "deactivate", "bob@example.com", "--reason", "  ", ok=False)
    assert empty.exit_code == 1 and "reason" in empty.output
    assert invoke(runner, "users", "deactivate", "bob@example.com", "--help").exit_code == 0
