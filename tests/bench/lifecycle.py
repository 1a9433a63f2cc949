"""``make bench``, dormant accounts: the rules' preview and run over 100 000 users.

A database of its own, rebuilt at every run (SQLite ``.bench/lifecycle-sqlite.db``; PostgreSQL:
the database ``FRONTDESK_BENCH_DATABASE_URL`` names, schema ``frontdesk_bench_lifecycle``):
``FRONTDESK_BENCH_LIFECYCLE_USERS`` (100 000) users bulk-inserted with Core ``insert`` (half
SCIM-managed, half JIT), 200 in a ``service-accounts`` group: 99 % active in the past 80 days,
0.5 % idle for 84 to 89 days, 0.5 % never active and created 100 to 200 days ago (a day's
worth of dormant users is a small share; each warning and action is an audit event on the
chain, which is what a run's time is made of). One rule: ``inactive_for = "90d"``,
``warn_before = "7d"``.

Timed, with the statements each sends counted (it must be a few set-based statements, never a
loop over users):

1. the preview (``app.lifecycle.dormant.preview``): one statement per rule;
2. the first run: warnings for everyone idle 83 days or more (batches of 500: a claim, one
   conditional UPDATE, an audit event and an outbox row each);
3. a run eight days later: the actions (suspend or deactivate), once;
4. a run with nothing due: the idle tick every worker pays once a minute.

``python -m tests.bench.lifecycle`` runs it alone.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import text

from app import migrate
from app.clock import FrozenClock
from app.db import Database
from app.lifecycle import dormant
from app.lifecycle.rules import load_lifecycle_config
from app.models import Group
from app.models import Membership
from app.models import User

USERS = int(os.environ.get("FRONTDESK_BENCH_LIFECYCLE_USERS", "100000"))
SCHEMA = "frontdesk_bench_lifecycle"
RULES = {"lifecycle": {"dormant": {"default": {
    "inactive_for": "90d", "warn_before": "7d", "new_account_grace": "7d",
    "exclude_groups": ["service-accounts"]}}}}
DAY = timedelta(days=1)


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """Collect the statements sent on ``db``'s engine meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _url(dialect: str, bench_dir: Path) -> str:
    if dialect == "sqlite":
        path = bench_dir / "lifecycle-sqlite.db"
        for stale in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    base = os.environ["FRONTDESK_BENCH_DATABASE_URL"]
    from sqlalchemy import create_engine

    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    glue = "&" if "?" in base else "?"
    return f"{base}{glue}options=-csearch_path%3D{SCHEMA}"


def seed(db: Database, now: datetime) -> dict[str, int]:
    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    for i in range(USERS):
        roll = rng.random()
        never = roll < 0.005  # never active, created 100-200 days ago: due at once
        idle = 0.005 <= roll < 0.01  # idle 84-89 days: warned now, acted on 8 days later
        created = now - timedelta(days=100 + rng.random() * 100) if never else \
            now - timedelta(days=130 + rng.random() * 300)
        last = None if never else now - timedelta(
            days=84 + rng.random() * 5 if idle else rng.random() * 80)
        name = f"user{i:06d}@example.com"
        rows.append({"id": str(uuid.UUID(int=rng.getrandbits(128))), "user_name": name,
                     "user_name_key": name, "active": True, "doc": {"userName": name},
                     "version": 1, "source": "scim" if i % 2 else "jit", "created_at": created,
                     "updated_at": created, "last_activity_at": last,
                     "last_activity_kind": "sign_in" if last else None})
    with db.write_engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(User), rows[start:start + 5000])
        group_id = str(uuid.uuid4())
        conn.execute(insert(Group), [{"id": group_id, "display_name": "service-accounts",
                                      "display_name_key": "service-accounts", "doc": {},
                                      "version": 1, "source": "scim", "created_at": now,
                                      "updated_at": now}])
        conn.execute(insert(Membership), [{"group_id": group_id, "member_id": r["id"],
                                           "member_type": "User", "created_at": now}
                                          for r in rows[:200]])
    return {"users": USERS}


def bench(dialect: str, bench_dir: Path) -> dict[str, Any]:
    """Seed, then time the preview and the runs; return the figures."""
    url = _url(dialect, bench_dir)
    migrate.upgrade(url)
    db = Database(url)
    clock = FrozenClock(datetime.now(UTC))
    db.clock = clock
    db.lifecycle = load_lifecycle_config(RULES)
    started = time.perf_counter()
    seed(db, clock.now())
    figures: dict[str, Any] = {"dialect": dialect, "users": USERS,
                               "seed_s": round(time.perf_counter() - started, 1)}

    def timed(name: str, work: Any) -> Any:
        with counted(db) as statements:
            began = time.perf_counter()
            result = work()
            figures[f"{name}_s"] = round(time.perf_counter() - began, 2)
        figures[f"{name}_statements"] = len(statements)
        return result

    say = print
    say(f"{dialect}: seeded {USERS} users in {figures['seed_s']} s", flush=True)
    lines = timed("preview", lambda: dormant.preview(db, db.lifecycle, ()))
    figures["preview_lines"] = len(lines)
    say(f"{dialect}: preview {len(lines)} lines, {figures['preview_s']} s, "
        f"{figures['preview_statements']} statements", flush=True)
    first = timed("warn_run", lambda: dormant.run(db, db.lifecycle, ()))
    figures["warned"] = first.warned
    figures["acted_in_first_run"] = first.deactivated + first.suspended
    clock.advance(8 * DAY)
    second = timed("act_run", lambda: dormant.run(db, db.lifecycle, ()))
    figures["deactivated"], figures["suspended"] = second.deactivated, second.suspended
    idle = timed("idle_run", lambda: dormant.run(db, db.lifecycle, ()))
    assert idle.warned == idle.deactivated == idle.suspended == 0
    db.dispose()
    return figures


def print_report(figures: dict[str, Any], say: Any = print) -> None:
    say(f"\n== dormant accounts, {figures['dialect']}: {figures['users']} users ==")
    say(f"preview: {figures['preview_lines']} lines in {figures['preview_s']} s, "
        f"{figures['preview_statements']} statement(s)")
    say(f"first run: {figures['warned']} warned in {figures['warn_run_s']} s "
        f"({figures['warn_run_statements']} statements)")
    say(f"run 8 days later: {figures['deactivated']} deactivated, {figures['suspended']} "
        f"suspended in {figures['act_run_s']} s ({figures['act_run_statements']} statements)")
    say(f"idle run: {figures['idle_run_s']} s, {figures['idle_run_statements']} statements")


def main() -> None:
    bench_dir = Path(".bench")
    bench_dir.mkdir(exist_ok=True)
    dialects = ["sqlite"] + (["postgresql"] if os.environ.get("FRONTDESK_BENCH_DATABASE_URL")
                             else [])
    for dialect in dialects:
        print_report(bench(dialect, bench_dir))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
