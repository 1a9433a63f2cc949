"""The optional SIEM sink (``FRONTDESK_AUDIT_LOG_FILE``): every committed event is also one JSON
line in a file, written after the commit; a broken sink never fails the request.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

import config
from app.audit.query import AuditFilter
from app.audit.query import list_events
from app.cli.main import main as frontdesk
from app.db import Database
from tests.helpers.clients import ScimClient
from tests.helpers.factories import make_token

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com"}


@pytest.fixture
def sink(tmp_path: Path) -> Path:
    return tmp_path / "siem" / "audit.jsonl"


@pytest.fixture
def settings(settings: config.Settings, sink: Path) -> config.Settings:
    sink.parent.mkdir()
    return dataclasses.replace(settings, audit_log_file=str(sink))


def lines(sink: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in sink.read_text().splitlines()]


def test_committed_events_are_copied_as_json_lines(scim: ScimClient, db: Database,
                                                   sink: Path) -> None:
    assert scim.post("/Users", USER).status_code == 201
    assert scim.post("/Users", USER).status_code == 409  # rolled back: nothing to copy

    copied = lines(sink)

    with db.read_session() as session:
        stored = list_events(session, AuditFilter()).events[::-1]
    assert [e["action"] for e in copied] == ["token:create", "user:create"]
    assert [(e["seq"], e["hash"]) for e in copied] == [(r.seq, r.hash) for r in stored]


def test_the_cli_copies_too(runner: CliRunner, sink: Path, app: Flask) -> None:
    runner.env["FRONTDESK_AUDIT_LOG_FILE"] = str(sink)  # type: ignore[index]
    assert runner.invoke(frontdesk, ["tokens", "create", "siem"]).exit_code == 0
    assert [e["action"] for e in lines(sink)] == ["token:create"]


def test_a_broken_sink_never_fails_the_request(scim: ScimClient, db: Database,
                                               sink: Path) -> None:
    sink.unlink()  # the scim fixture's token:create was copied already
    sink.mkdir()  # a directory where the file should be: every append fails

    response = scim.post("/Users", USER)

    assert response.status_code == 201
    with db.read_session() as session:
        assert [e.action for e in list_events(session, AuditFilter()).events] == [
            "user:create", "token:create"]
    assert make_token(db, "another")
