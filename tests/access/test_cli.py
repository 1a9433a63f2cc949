"""``frontdesk access ...`` and personal tokens from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import config
from app.cli.main import main as frontdesk
from app.db import Database
from tests.access.conftest import Cast
from tests.helpers.access import chain_ok
from tests.helpers.access import events

TOML = """
[access.policies.db-read]
groups = ["prod-db-readers"]
requesters = ["engineering"]
approvers = ["sre-leads"]
max_duration = "8h"
default_duration = "1h"
reason = "required"
ticket_pattern = "^INC-[0-9]+$"
"""


def cli(settings: config.Settings, tmp_path: Path) -> CliRunner:
    toml = tmp_path / "frontdesk.toml"
    toml.write_text(TOML)
    return CliRunner(env={"FRONTDESK_DATABASE_URL": settings.database_url,
                          "FRONTDESK_INSTANCE_PATH": settings.instance_path,
                          "FRONTDESK_CONFIG": str(toml)})


def test_request_approve_revoke_from_the_cli(settings: config.Settings, db: Database,
                                             cast: Cast, tmp_path: Path) -> None:
    runner = cli(settings, tmp_path)
    dry = runner.invoke(frontdesk, ["access", "request", "prod-db-readers", "--user",
                                    "äda@example.com", "--duration", "2h", "--reason", "INC-4",
                                    "--ticket", "INC-4", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["decision"] == "pending"
    assert events(db) == []
    made = runner.invoke(frontdesk, ["access", "request", "prod-db-readers", "--user",
                                     "äda@example.com", "--duration", "2h", "--reason", "INC-4",
                                     "--ticket", "INC-4", "--json"])
    assert made.exit_code == 0, made.output
    request = json.loads(made.stdout)
    assert (request["state"], request["user"], request["duration_seconds"]) == (
        "pending", "äda@example.com", 7200)
    own = runner.invoke(frontdesk, ["access", "approve", request["id"], "--as",
                                    "äda@example.com"])
    assert own.exit_code == 1
    assert own.stderr.strip() == "error: self_approval: nobody may decide on their own request"
    approved = runner.invoke(frontdesk, ["access", "approve", request["id"], "--as",
                                         "bob@example.com", "--reason", "ok", "--json"])
    assert approved.exit_code == 0, approved.output
    grant = json.loads(approved.stdout)["grant"]
    assert grant["state"] == "active"
    listed = runner.invoke(frontdesk, ["access", "list", "--grants", "--user", "äda@example.com",
                                       "--json"])
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [grant["id"]]
    revoked = runner.invoke(frontdesk, ["access", "revoke", grant["id"], "--reason", "done"])
    assert revoked.exit_code == 0, revoked.output
    shown = json.loads(runner.invoke(frontdesk, ["access", "show", request["id"],
                                                 "--json"]).stdout)
    assert shown["grant"]["state"] == "revoked"
    assert [r["decision"] for r in shown["reviews"]] == ["approve"]
    assert [e.action for e in events(db) if e.outcome == "success"] == [
        "access:request:create", "access:request:approve", "access:grant:create",
        "access:grant:revoke"]
    assert chain_ok(db)


def test_cli_refusals_exit_1_with_the_code(settings: config.Settings, db: Database, cast: Cast,
                                           tmp_path: Path) -> None:
    runner = cli(settings, tmp_path)
    bad = runner.invoke(frontdesk, ["access", "request", "prod-db-readers", "--user",
                                    "äda@example.com", "--reason", "x", "--ticket", "nope"])
    assert (bad.exit_code, bad.stderr.strip()) == (
        1, "error: ticket_invalid: the ticket must match ^INC-[0-9]+$")
    long = runner.invoke(frontdesk, ["access", "request", "prod-db-readers", "--user",
                                     "äda@example.com", "--duration", "forever"])
    assert long.exit_code == 1 and long.stderr.startswith("error: 'forever' is not a duration")


def test_personal_tokens_need_a_user_for_the_access_scope(
        settings: config.Settings, db: Database, cast: Cast, tmp_path: Path) -> None:
    runner = cli(settings, tmp_path)
    refused = runner.invoke(frontdesk, ["tokens", "create", "ci", "--scope", "access"])
    assert refused.exit_code == 1
    assert "name the user the token belongs to (--user)" in refused.stderr
    made = runner.invoke(frontdesk, ["tokens", "create", "ci", "--scope", "access", "--user",
                                     "äda@example.com"])
    assert made.exit_code == 0, made.output
    assert made.stdout.strip().startswith("fd_")
    unknown = runner.invoke(frontdesk, ["tokens", "create", "ci2", "--scope", "access", "--user",
                                        "nobody@example.com"])
    assert (unknown.exit_code, unknown.stderr.strip()) == (
        1, "error: there is no user 'nobody@example.com'")
