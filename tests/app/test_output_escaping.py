"""Stored text never drives the operator's terminal nor a spreadsheet.

``frontdesk`` prints what IdPs and token holders sent (userNames, labels, token names): every
character that is not printable leaves as its escape (``\\x1b``), and every CSV cell that a
spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) starts with ``'``.
"""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from app.cli.main import main as frontdesk
from app.db import Database
from app.models import User
from app.text import csv_cell
from app.text import printable
from tests.helpers.audit import seed
from tests.helpers.clients import ScimClient
from tests.helpers.factories import create_user

ESC = "\x1b[31m"


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(frontdesk, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("text,shown", [
    ("ctl\x07\x1b[31m@example.com", "ctl\\x07\\x1b[31m@example.com"),
    ("csi\x9b2J", "csi\\x9b2J"),
    ("bidi\u202eevil", "bidi\\u202eevil"),
    ("line\u2028break\r\nx", "line\\u2028break\\r\\nx"),
    ("lone\ud800", "lone\\ud800"),
    ("Äda Strauß\u200dx", "Äda Strauß\u200dx"),  # letters and the zero-width joiner stay
    ("DOMAIN\\ada", "DOMAIN\\ada"),
])
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


@pytest.mark.parametrize("value,cell", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\\tx"), ("\rx", "'\\rx"),
    ("a=b", "a=b"), ("Äda", "Äda"), (7, 7), (None, None),
])
def test_csv_cell(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_audit_tail_and_users_show_escape_what_was_stored(
        runner: CliRunner, scim: ScimClient, db: Database) -> None:
    # Text stored before control characters were refused (every door refuses them now).
    seed(db, 1, prefix=f"evil{ESC}")
    create_user(scim, "ada@example.com")
    with db.write_session() as session, session.begin():
        session.execute(update(User).values(user_name=f"ada{ESC}\u009b2J@example.com"))

    tail = run(runner, "audit", "tail", "-n", "5")
    assert "\x1b" not in tail and "\x9b" not in tail
    assert "thing evil\\x1b[31m0" in tail
    shown = run(runner, "users", "show", "ada@example.com")
    assert "\x1b" not in shown and "\x9b" not in shown
    assert "ada\\x1b[31m\\x9b2J@example.com" in shown
    as_json = run(runner, "audit", "tail", "-n", "5", "--json")
    assert "\x1b" not in as_json and "\\u001b[31m0" in as_json  # JSON's own escape


def test_audit_csv_export_neutralises_formulas(runner: CliRunner, scim: ScimClient) -> None:
    names = ["=cmd|' /C calc'!A0@example.com", "+1@example.com", "-2@example.com",
             "@SUM(1)@example.com", "Strauß@example.com"]
    for name in names:
        create_user(scim, name)
    result = runner.invoke(frontdesk, ["audit", "export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    labels = [r["target.label"] for r in rows if r["action"] == "user:create"]
    assert labels == ["'=cmd|' /C calc'!A0@example.com", "'+1@example.com", "'-2@example.com",
                      "'@SUM(1)@example.com", "Strauß@example.com"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values()), row
