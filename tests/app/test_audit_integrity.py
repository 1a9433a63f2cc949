"""The hash chain: ``verify`` catches an edited, deleted, inserted or reordered row, and stays
intact when many gunicorn workers write at once.

Tampering tests act as a malicious DBA would: lift the append-only trigger, change rows with
raw SQL, and put the trigger back (SQLite: drop and re-create; PostgreSQL: disable and enable).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy import text

from app.audit.chain import seal
from app.audit.events import Actor
from app.cli.main import main as frontdesk
from app.db import Database
from app.models import AuditEvent
from app.uow import UnitOfWork
from tests.helpers.audit import check_chain
from tests.helpers.audit import row
from tests.helpers.audit import seed
from tests.helpers.audit import tampering
from tests.helpers.factories import make_token
from tests.helpers.servers import LiveServer


@pytest.fixture
def chain(db: Database) -> Database:
    seed(db, 5, one_by_one=True)
    assert check_chain(db).ok and check_chain(db).checked == 5
    return db


def test_an_intact_chain_verifies(chain: Database, runner: CliRunner) -> None:
    result = runner.invoke(frontdesk, ["audit", "verify"])
    assert result.exit_code == 0
    assert "ok: 5 events, chain intact" in result.stdout


def test_the_guard_is_back_after_tampering(chain: Database) -> None:
    with tampering(chain):
        pass
    with pytest.raises(Exception, match="append-only"), chain.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))


@pytest.mark.parametrize("column,value", [
    ("target_label", "someone else"), ("outcome", "denied"), ("actor_id", "admin-2"),
    ("changes", None), ("occurred_at", "2020-01-01 00:00:00"),
])
def test_an_edited_row_is_caught(chain: Database, column: str, value: Any) -> None:
    with tampering(chain) as conn:
        conn.execute(text(f"UPDATE audit_events SET {column} = :v WHERE seq = 3"),  # noqa: S608
                     {"v": value})

    result = check_chain(chain)

    assert not result.ok
    assert result.bad_seq == 3
    assert result.checked == 2
    assert "altered" in (result.problem or "")


def test_an_edit_with_a_recomputed_hash_is_caught_by_the_next_row(chain: Database) -> None:
    with tampering(chain) as conn:
        conn.execute(text("UPDATE audit_events SET target_label = 'eve' WHERE seq = 3"))
        forged = AuditEvent(**row(conn, 3))
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE seq = 3"),
                     {"h": seal(forged)})

    result = check_chain(chain)

    assert not result.ok
    assert result.bad_seq == 4
    assert "does not follow" in (result.problem or "")


def test_a_deleted_row_is_caught(chain: Database) -> None:
    with tampering(chain) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))

    result = check_chain(chain)

    assert not result.ok
    assert result.bad_seq == 2
    assert "missing" in (result.problem or "")


def test_a_deleted_newest_row_is_caught(chain: Database) -> None:
    with tampering(chain) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 5"))

    result = check_chain(chain)

    assert not result.ok
    assert "head says #5" in (result.problem or "")


def forged_after(conn: Connection, seq: int, new_seq: int) -> dict[str, Any]:
    """A row that claims to follow event ``seq``, sealed correctly."""
    data = row(conn, seq)
    data.update(seq=new_seq, id=f"forged-{new_seq}", target_label="backdoor",
                prev_hash=data["hash"])
    data["hash"] = seal(AuditEvent(**data))
    return data


def test_an_appended_forged_row_is_caught(chain: Database) -> None:
    with tampering(chain) as conn:
        conn.execute(AuditEvent.__table__.insert().values(forged_after(conn, 5, 6)))

    result = check_chain(chain)

    assert not result.ok
    assert "head says #5" in (result.problem or "")


def test_a_row_inserted_in_the_middle_is_caught(chain: Database) -> None:
    with tampering(chain) as conn:
        # Make room after #2 by moving #3..#5 up one, then slot a sealed forgery in as #3.
        for seq in (5, 4, 3):
            conn.execute(text("UPDATE audit_events SET seq = :n WHERE seq = :o"),
                         {"n": seq + 1, "o": seq})
        conn.execute(AuditEvent.__table__.insert().values(forged_after(conn, 2, 3)))

    result = check_chain(chain)

    assert not result.ok
    assert result.bad_seq == 4  # the moved #3 no longer matches its sealed seq


def test_reordered_rows_are_caught(chain: Database) -> None:
    with tampering(chain) as conn:
        conn.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = -1"))

    result = check_chain(chain)

    assert not result.ok
    assert result.bad_seq == 2


def test_verify_walks_a_chain_longer_than_one_batch(db: Database) -> None:
    with UnitOfWork(db) as uow:
        for i in range(12_001):
            uow.audit.record("test:event", actor=Actor("test", "seeder", "seeder"),
                             target_id=str(i))
        uow.commit()
    with tampering(db) as conn:
        conn.execute(text("UPDATE audit_events SET target_id = 'x' WHERE seq = 11000"))
    result = check_chain(db)
    assert (result.ok, result.bad_seq, result.checked) == (False, 11000, 10999)


def test_parallel_writes_through_two_gunicorn_workers_keep_one_chain(
        live_server: LiveServer, db: Database) -> None:
    token = make_token(db)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def create(i: int) -> int:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as http:
            response = http.post("/scim/v2/Users", json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"parallel{i}@example.com"})
            if response.status_code == 201:
                # Each user then changes once more: two chained events per request pair.
                patched = http.patch(f"/scim/v2/Users/{response.json()['id']}", json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName",
                                    "value": f"P {i}"}]})
                return patched.status_code
            return response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create, range(100)))

    assert statuses == [200] * 100
    result = check_chain(db)
    assert result.ok, result.problem
    assert result.checked == 1 + 100 + 100
    with db.read_session() as session:
        seqs = list(session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
    assert seqs == list(range(1, 202))
