"""``frontdesk audit tail/export/prune/verify`` through the command line, and the database
refusing every other way of changing or removing an event.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import config
from app.audit.chain import verify_chain
from app.audit.query import AuditFilter
from app.audit.query import list_events
from app.cli.main import main as frontdesk
from app.db import Database
from tests.helpers.audit import seed
from tests.helpers.clients import ScimClient
from tests.helpers.factories import create_user
from tests.helpers.factories import make_token


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(frontdesk, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


# -- tail -------------------------------------------------------------------------------------

def test_tail_prints_the_newest_events_oldest_first(runner: CliRunner, scim: ScimClient) -> None:
    for name in ("ada", "bob", "cy"):
        create_user(scim, f"{name}@example.com")

    lines = run(runner, "audit", "tail", "-n", "2").splitlines()

    assert len(lines) == 2
    assert "user:create" in lines[0] and "user:bob@example.com" in lines[0]
    assert "user:cy@example.com" in lines[1]
    assert "#3" in lines[0] and "#4" in lines[1]


def test_tail_json_and_filters(runner: CliRunner, scim: ScimClient, client: FlaskClient) -> None:
    ada = create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")
    client.get("/admin/login/forged")

    as_json = [json.loads(line) for line in run(runner, "audit", "tail", "--json").splitlines()]
    by_action = run(runner, "audit", "tail", "--json", "--action", "user:").splitlines()
    by_target = run(runner, "audit", "tail", "--json", "--target", "ADA@example.com")
    by_outcome = run(runner, "audit", "tail", "--json", "--outcome", "denied")
    by_actor = run(runner, "audit", "tail", "--json", "--actor", "anonymous:")

    assert [e["seq"] for e in as_json] == [1, 2, 3, 4]
    assert len(by_action) == 2
    assert [json.loads(line)["target"]["id"] for line in by_target.splitlines()] == [ada]
    assert json.loads(by_outcome)["action"] == "admin:login:denied"
    assert json.loads(by_actor)["action"] == "admin:login:denied"
    bad = runner.invoke(frontdesk, ["audit", "tail", "--target", "x" * 600])
    assert bad.exit_code == 1
    assert "too long" in bad.output


def test_tail_target_beyond_ascii(runner: CliRunner, scim: ScimClient) -> None:
    ada = create_user(scim, "Äda@example.com")
    strauss = create_user(scim, "strauß@example.com")

    for target, expected in (("äDA@example.com", ada), ("STRAUß@example.com", strauss)):
        lines = run(runner, "audit", "tail", "--json", "--target", target).splitlines()
        assert [json.loads(line)["target"]["id"] for line in lines] == [expected], target


def cli_env(settings: config.Settings) -> dict[str, str]:
    return {**os.environ, "FRONTDESK_DATABASE_URL": settings.database_url,
            "FRONTDESK_INSTANCE_PATH": settings.instance_path, "PYTHONUNBUFFERED": "1"}


def frontdesk_command() -> str:
    return str(Path(sys.executable).with_name("frontdesk"))


def test_tail_follow_prints_new_events_as_they_are_written(
        settings: config.Settings, db: Database, scim: ScimClient) -> None:
    create_user(scim, "before@example.com")
    process = subprocess.Popen(
        [frontdesk_command(), "audit", "tail", "--json", "-n", "1", "--follow",
         "--action", "user:"],
        env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first = json.loads(lines.get(timeout=30))
        assert first["target"]["label"] == "before@example.com"
        for name in ("one", "two", "three"):
            create_user(scim, f"{name}@example.com")
            seed(db, 1)  # not a user: event, filtered out
        followed = [json.loads(lines.get(timeout=30))["target"]["label"] for _ in range(3)]
        assert followed == ["one@example.com", "two@example.com", "three@example.com"]
        time.sleep(1.5)  # one more poll: nothing else may appear
        assert lines.empty()
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# -- export -----------------------------------------------------------------------------------

def test_export_jsonl_is_every_event_oldest_first(runner: CliRunner, db: Database,
                                                  scim: ScimClient) -> None:
    create_user(scim, "ada@example.com")
    seed(db, 4500)  # more than one streaming batch

    result = runner.invoke(frontdesk, ["audit", "export", "--format", "jsonl"])

    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, 4503))
    assert events[1]["action"] == "user:create"
    assert "exported 4,502 events" in result.stderr


def test_export_csv_parses_and_honours_since_and_filters(
        runner: CliRunner, db: Database, scim: ScimClient, tmp_path: Path) -> None:
    seed(db, 3, when=datetime(2020, 1, 1, tzinfo=UTC))
    create_user(scim, "ada@example.com")
    out = tmp_path / "audit.csv"

    result = runner.invoke(frontdesk, ["audit", "export", "--format", "csv", "--since",
                                       "2025-01-01", "-o", str(out)])

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["action"] for r in rows] == ["token:create", "user:create"]
    assert json.loads(rows[1]["changes"])["userName"] == [None, "ada@example.com"]
    assert rows[1]["target.label"] == "ada@example.com"
    old = run(runner, "audit", "export", "--format", "csv", "--action", "test:")
    assert len(list(csv.DictReader(io.StringIO(old)))) == 3
    bad = runner.invoke(frontdesk, ["audit", "export", "--since", "someday"])
    assert bad.exit_code == 1
    assert "ISO 8601" in bad.output


# -- prune and verify -------------------------------------------------------------------------

def test_prune_removes_old_events_and_leaves_a_verifiable_chain(
        runner: CliRunner, db: Database, client: FlaskClient) -> None:
    seed(db, 5, when=datetime.now(UTC) - timedelta(days=400))
    scim = ScimClient(client, make_token(db))
    create_user(scim, "ada@example.com")
    assert "ok: 7 events" in run(runner, "audit", "verify")

    before = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    pruned = run(runner, "audit", "prune", "--before", before, "--yes")

    assert "pruned 5 events (#1-#5)" in pruned
    assert "ok: 3 events, chain intact" in run(runner, "audit", "verify")
    with db.read_session() as session:
        events = list_events(session, AuditFilter()).events
        [prune] = list_events(session, AuditFilter(action="audit:prune")).events
    assert [e.seq for e in events] == [8, 7, 6]
    assert prune.actor_kind == "cli"
    assert prune.changes is not None and prune.changes["pruned"] == [1, 5]
    assert prune.changes["count"] == [None, 5]
    # New events chain on after the prune, and a second prune keeps it verifiable.
    create_user(scim, "bob@example.com")
    assert "nothing to prune" in run(runner, "audit", "prune", "--before", before, "--yes")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "pruned 4 events (#6-#9)" in run(runner, "audit", "prune", "--before", tomorrow,
                                            "--yes")
    assert "ok: 1 events, chain intact" in run(runner, "audit", "verify")


def test_prune_never_removes_an_event_at_or_after_the_cutoff(
        runner: CliRunner, db: Database) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    seed(db, 2, when=old)
    seed(db, 1)  # #3: recent
    seed(db, 2, when=old)  # #4, #5: dated old, but after a recent event in the chain
    cutoff = (old + timedelta(days=1)).isoformat()

    assert "pruned 2 events (#1-#2)" in run(runner, "audit", "prune", "--before", cutoff,
                                            "--yes")
    assert "nothing to prune" in run(runner, "audit", "prune", "--before", cutoff, "--yes")
    assert "ok: 4 events, chain intact" in run(runner, "audit", "verify")


def test_prune_asks_first_and_rejects_bad_dates(runner: CliRunner, db: Database) -> None:
    seed(db, 2)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()

    declined = runner.invoke(frontdesk, ["audit", "prune", "--before", tomorrow], input="n\n")
    bad = runner.invoke(frontdesk, ["audit", "prune", "--before", "soon", "--yes"])

    assert declined.exit_code == 1  # aborted
    assert bad.exit_code == 1
    with db.read_session() as session:
        assert len(list_events(session, AuditFilter()).events) == 2


def test_the_database_refuses_raw_updates_and_deletes(db: Database, scim: ScimClient) -> None:
    create_user(scim, "ada@example.com")
    statements = ["UPDATE audit_events SET target_label = 'nobody' WHERE seq = 2",
                  "UPDATE audit_events SET outcome = 'denied'",
                  "DELETE FROM audit_events WHERE seq = 2",
                  "DELETE FROM audit_events"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.read_session() as session:
        assert verify_chain(session).ok
        assert len(list_events(session, AuditFilter()).events) == 2


def test_verify_fails_with_exit_1_naming_the_event(runner: CliRunner, db: Database,
                                                   scim: ScimClient) -> None:
    create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")
    lift = ("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"
            if db.dialect == "postgresql" else "DROP TRIGGER audit_events_no_update")
    restore = ("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"
               if db.dialect == "postgresql" else None)
    with db.engine.begin() as conn:
        conn.execute(text(lift))
        conn.execute(text("UPDATE audit_events SET target_label = 'eve' WHERE seq = 2"))
        if restore:
            conn.execute(text(restore))
        else:
            from app.audit import triggers

            triggers.install(lambda sql: conn.execute(text(sql)), "sqlite")

    result = runner.invoke(frontdesk, ["audit", "verify"])

    assert result.exit_code == 1
    assert "FAILED at event #2" in result.stderr
    assert "altered" in result.stderr
