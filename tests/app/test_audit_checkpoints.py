"""Signed checkpoints anchor the audit chain outside the database (issue 12).

Each test plays someone with write access to the database: they can lift the append-only guard,
edit events, recompute every later hash and the head, so that ``audit verify`` alone passes. The
signed checkpoints, kept in a file with a key the database never holds, still catch it.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask

import config
from app.audit.checkpoint import CHECKPOINT_TYPE
from app.audit.checkpoint import sign
from app.audit.events import Actor
from app.audit.prune import prune_before
from app.cli.main import main as frontdesk
from app.clock import FrozenClock
from app.db import Database
from app.jobs import run_due
from app.uow import UnitOfWork
from app.web.context import get_db
from tests.helpers.audit import rewrite_consistently
from tests.helpers.audit import seed
from tests.helpers.audit import truncate_consistently
from tests.helpers.audit import verify

T0 = datetime.fromisoformat("2026-11-30T10:00:00+00:00")


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(frontdesk, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def checkpoint(runner: CliRunner) -> dict[str, Any]:
    """``frontdesk audit checkpoint``: one JSON line."""
    out = run(runner, "audit", "checkpoint")
    [line] = out.splitlines()
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def verify_with(runner: CliRunner, checkpoints: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(frontdesk, ["audit", "verify", "--checkpoints", str(checkpoints),
                                       *extra])
    return result.exit_code, result.output


@pytest.fixture
def checkpoints_file(settings: config.Settings) -> Path:
    return Path(settings.instance_path) / "audit-checkpoints.jsonl"


def test_a_checkpoint_is_signed_printed_and_kept_outside_the_database(
        db: Database, runner: CliRunner, settings: config.Settings,
        checkpoints_file: Path) -> None:
    seed(db, 3, one_by_one=True)

    line = checkpoint(runner)

    assert (line["type"], line["seq"]) == (CHECKPOINT_TYPE, 3)
    assert [json.loads(x) for x in checkpoints_file.read_text().splitlines()] == [line]
    key_file = Path(settings.instance_path) / "audit-signing.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # An auditor's check, with nothing of Frontdesk's: the printed public key and the signed
    # bytes (the line without its signature, sorted keys, no spaces).
    public_key = serialization.load_pem_public_key(
        run(runner, "audit", "public-key").encode())
    assert isinstance(public_key, Ed25519PublicKey)
    signed = {k: v for k, v in line.items() if k != "signature"}
    payload = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    public_key.verify(base64.b64decode(line["signature"]), payload)  # raises if forged
    assert line["head"] == _head_hash(db)
    # The key never reaches the database.
    pem = key_file.read_bytes()
    with db.engine.connect() as conn:
        stored = " ".join(str(r) for r in conn.exec_driver_sql(
            "SELECT * FROM audit_checkpoints").all())
    assert pem.decode().splitlines()[1] not in stored


def test_a_consistent_rewrite_passes_the_chain_but_not_the_checkpoints(
        db: Database, runner: CliRunner, checkpoints_file: Path) -> None:
    seed(db, 5, one_by_one=True)
    first = checkpoint(runner)
    seed(db, 3, prefix="u", one_by_one=True)
    second = checkpoint(runner)
    assert verify_with(runner, checkpoints_file) == (
        0, "ok: 8 events, chain intact; 2 signed checkpoints match\n")

    rewrite_consistently(db, 4, target_label="someone else")

    assert verify(runner) == (0, "ok: 8 events, chain intact\n")  # the chain alone is fooled
    code, output = verify_with(runner, checkpoints_file)
    assert code == 1
    assert output == (f"FAILED at checkpoint #5 of {first['time']}: event #5 no longer has the "
                      "hash it signed: the chain was rewritten (0 checkpoints held before it)\n")
    assert second["seq"] == 8


def test_a_removed_tail_is_caught(db: Database, runner: CliRunner,
                                  checkpoints_file: Path) -> None:
    seed(db, 6, one_by_one=True)
    signed = checkpoint(runner)

    truncate_consistently(db, 4)

    assert verify(runner) == (0, "ok: 4 events, chain intact\n")
    code, output = verify_with(runner, checkpoints_file)
    assert (code, output) == (1, f"FAILED at checkpoint #6 of {signed['time']}: the chain "
                                 "reached #6 then, and now ends at #4: events were removed "
                                 "(0 checkpoints held before it)\n")


def test_a_forged_or_foreign_checkpoint_is_refused(db: Database, runner: CliRunner,
                                                   tmp_path: Path) -> None:
    seed(db, 2, one_by_one=True)
    genuine = checkpoint(runner)
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps({**genuine, "seq": 1}) + "\n")
    assert verify_with(runner, forged) == (
        1, f"FAILED at checkpoint #1 of {genuine['time']}: its signature does not match the "
           f"verifying key {genuine['key_id']} (0 checkpoints held before it)\n")

    # Signed by another key (a database admin's own): refused though well-formed.
    other = Ed25519PrivateKey.generate()
    theirs = sign(other, genuine["seq"], genuine["head"],
                  datetime.fromisoformat(genuine["time"]))
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(theirs.line() + "\n")
    assert verify_with(runner, foreign) == (
        1, f"FAILED at checkpoint #2 of {genuine['time']}: its signature does not match the "
           f"verifying key {genuine['key_id']} (0 checkpoints held before it)\n")
    # ... unless the auditor names that key: then it holds (the key decides, not the file).
    their_pem = tmp_path / "theirs.pem"
    their_pem.write_bytes(other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert verify_with(runner, foreign, "--public-key", str(their_pem))[0] == 0


def test_the_sink_file_holds_events_and_checkpoints_and_verifies(
        make_app: Callable[..., Flask], runner: CliRunner, tmp_path: Path) -> None:
    sink = tmp_path / "siem.jsonl"
    app = make_app(audit_log_file=str(sink))
    db = get_db(app)
    seed(db, 3, one_by_one=True)
    sunk = CliRunner(env={**runner.env, "FRONTDESK_AUDIT_LOG_FILE": str(sink)})
    signed = checkpoint(sunk)
    seed(db, 1, prefix="later", one_by_one=True)

    lines = [json.loads(x) for x in sink.read_text().splitlines()]
    assert [x.get("type") for x in lines] == [None, None, None, CHECKPOINT_TYPE, None]
    assert lines[3] == signed
    assert verify_with(sunk, sink) == (0, "ok: 4 events, chain intact; 1 signed checkpoints "
                                          "match\n")


@pytest.mark.parametrize("content,message", [
    ("not json\n", "{path}:1: not a JSON line"),
    ('{"action": "user:create"}\n', "{path}: holds no signed checkpoint"),
    (json.dumps({"type": CHECKPOINT_TYPE, "seq": 1}) + "\n",
     "{path}:1: a checkpoint line lacks seq, head, time, key_id or signature"),
])
def test_an_unusable_checkpoint_file_is_one_line(runner: CliRunner, tmp_path: Path,
                                                 content: str, message: str) -> None:
    path = tmp_path / "given.jsonl"
    path.write_text(content)
    code, output = verify_with(runner, path)
    assert (code, output) == (1, "error: " + message.format(path=path) + "\n")


def test_a_key_that_is_not_ed25519_is_refused(runner: CliRunner, settings: config.Settings,
                                              tmp_path: Path) -> None:
    key_file = tmp_path / "rsa.pem"
    key_file.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048)
                         .private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    named = CliRunner(env={**runner.env, "FRONTDESK_AUDIT_SIGNING_KEY": str(key_file)})
    result = named.invoke(frontdesk, ["audit", "checkpoint"])
    assert (result.exit_code, result.output) == (
        1, f"error: {key_file}: the audit signing key must be an Ed25519 key\n")


def test_the_schedule_signs_once_per_period_across_instances(
        make_app: Callable[..., Flask], checkpoints_file: Path) -> None:
    first, second = make_app(), make_app()  # two instances on one database
    clock = FrozenClock(T0 + timedelta(seconds=5))
    for instance in (first, second):
        get_db(instance).clock = clock
    seed(get_db(first), 2, one_by_one=True)

    signed = [run_due(get_db(app)).checkpoints for app in (first, second, first)]
    clock.advance(timedelta(seconds=30))
    signed += [run_due(get_db(app)).checkpoints for app in (second, first)]
    clock.advance(timedelta(seconds=30))  # the next minute
    signed += [run_due(get_db(app)).checkpoints for app in (second, first)]

    assert signed == [1, 0, 0, 0, 0, 1, 0]
    lines = [json.loads(x) for x in checkpoints_file.read_text().splitlines()]
    assert [(x["seq"], x["time"]) for x in lines] == [
        (2, (T0 + timedelta(seconds=5)).isoformat(timespec="microseconds")),
        (2, (T0 + timedelta(seconds=65)).isoformat(timespec="microseconds"))]


def test_checkpoints_before_a_prune_are_reported_not_failed(
        db: Database, runner: CliRunner, checkpoints_file: Path) -> None:
    seed(db, 2, when=T0 - timedelta(days=400))
    checkpoint(runner)  # #2: pruned below
    seed(db, 1, prefix="o", when=T0 - timedelta(days=400))
    seed(db, 2, prefix="n", one_by_one=True)
    checkpoint(runner)  # #5: kept
    with UnitOfWork(db) as uow:
        prune_before(uow, T0 - timedelta(days=300), actor=Actor("test", "t", "test"))

    assert verify_with(runner, checkpoints_file) == (
        0, "ok: 3 events, chain intact; 1 signed checkpoints match (1 older than the pruned "
           "start)\n")


def _head_hash(db: Database) -> str:
    with db.engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT hash FROM audit_head").scalar_one())
