"""``make bench``, just-in-time access: effective memberships over 100 000 grants, request →
approve → active over HTTP, and the sweeper's throughput.

Two databases of their own, seeded once from the same generator and identical but for the
grants: SQLite ``.bench/access-v<version>-<grants>-<users>-{grants,base}-sqlite.db`` (each run
works on fresh copies), PostgreSQL the schemas ``frontdesk_bench_access`` and
``frontdesk_bench_access_base`` of the bench database (reached with ``search_path`` in the URL;
each run deletes the requests, grants and outbox rows it added, its audit events stay).
Seeding bypasses the service layer, as the audit part does: ``FRONTDESK_BENCH_ACCESS_USERS``
(10 000) users, 200 teams (each user in 2), 50 requestable groups ``jit-00`` .. ``jit-49`` and
an approvers group, bulk-inserted with Core ``insert`` on ``Database.write_engine``; then, in
one of the two, ``FRONTDESK_BENCH_ACCESS_GRANTS`` (100 000) grants: 2 000 live (one each for the
first 2 000 users; their window is moved to "started an hour ago, ends in 7 hours" at each run)
and the rest ended or revoked over the past year, half of those on 100 heavy requesters (about
500 each), half spread over everyone else. Tokens come from ``services.create_token``: an
``access:read`` reader, 200 requesters' and 2 approvers' personal tokens (plaintexts kept in
the marker table: bench-only databases).

Each run:

1. EXPLAIN of the statement ``effective_memberships`` sends (captured as it runs, for the first
   heavy requester), on both databases: the grants branch must use ``ix_grants_user_window``
   and scan nothing;
2. ``GET /api/access/memberships?user=`` over gunicorn with the reader's token, for 200 users
   who each have a live grant (100 heavy requesters, 100 others), on the database with the
   grants and on the one without, and on the reference app (``reference_app.py``, one
   statement) over the grants, all three up at once and taking turns for ``rounds`` rounds;
   each round gives one ratio of medians (with / without grants), the target is judged on
   their median;
3. request → approve → active: ``POST /api/access/requests`` with a requester's personal token,
   then ``POST .../approve`` with an approver's, whose answer must carry ``grant.state ==
   "active"``; timed as one flow for ``FRONTDESK_BENCH_ACCESS_FLOW_SECONDS`` (10);
4. with every server stopped (their sweeps would race it), ``FRONTDESK_BENCH_ACCESS_SWEEP``
   (2 000) grants due to end are inserted and ``app.access.sweep.sweep(db)`` is timed ending
   them, with a webhook endpoint configured so each end also writes its outbox row (never
   delivered here); its audit events and outbox rows are counted. The sweeper works in batches
   of 500 and each batch costs the same, so the rate holds from a few batches on (20 000 takes
   ten times as long, for the same figure).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.engine import make_url

from app import catalog
from app import migrate
from app import services
from app.access import queries
from app.access.sweep import sweep
from app.db import Database
from app.models import AccessRequest
from app.models import AuditHead
from app.models import Grant
from app.models import Group
from app.models import Membership
from app.models import OutboxMessage
from app.models import User
from app.outbox import load_endpoints
from app.repository.common import fold
from app.uow import UnitOfWork
from tests.bench import load
from tests.bench.progress import Progress
from tests.bench.seed import ACTOR
from tests.bench.seed import read_marker
from tests.bench.seed import recreate_schema
from tests.bench.seed import write_marker
from tests.bench.servers import Gunicorn

ACCESS_SEED_VERSION = 1
GRANTS = max(10_000, int(os.environ.get("FRONTDESK_BENCH_ACCESS_GRANTS", "100000")))
USERS = max(5_000, int(os.environ.get("FRONTDESK_BENCH_ACCESS_USERS", "10000")))
SWEEP = max(500, int(os.environ.get("FRONTDESK_BENCH_ACCESS_SWEEP", "2000")))
FLOW_SECONDS = float(os.environ.get("FRONTDESK_BENCH_ACCESS_FLOW_SECONDS", "10"))
HEAVY = 100  # users 0..99 hold half the ended grants between them
LIVE = 2_000  # users 0..1999 hold one live grant each
MEASURED = 200  # memberships are read for users 0..199: the heavy ones, then 100 others
TEAMS, TEAMS_EACH = 200, 2
JIT_GROUPS = 50
REQUESTERS = 200  # users LIVE .. LIVE+199: no live grant of their own before the flow
APPROVERS = 2
APPROVERS_GROUP = "access-approvers"
BATCH = 10_000
SCHEMAS = {"grants": "frontdesk_bench_access", "base": "frontdesk_bench_access_base"}
MARKER = "frontdesk_bench_access_seed"
SLOWDOWN_TARGET = 1.5
INDEX = "ix_grants_user_window"
TIDY_INDEX = "bench_tidy_grants_extended_from"
COST = re.compile(r"\s+\(cost=[^)]*\)")
LITERAL = re.compile(r"'[^']*'::[a-z ]+")
POLICY = """\
[access.policies.jit]
groups = ["jit-*"]
approvers = ["access-approvers"]
approvals = 1
max_duration = "8h"
default_duration = "1h"
pending_ttl = "1h"
reason = "optional"
"""
# The sweeper's outbox rows go to this endpoint; nothing delivers them during the bench.
WEBHOOKS = {"webhooks": {"bench": {"url": "http://127.0.0.1:9/frontdesk-bench",
                                   "secret": "bench-webhook-secret", "topics": ["access.*"]}}}

NAMES = {
    "with": f"GET /api/access/memberships ({GRANTS:,} grants)",
    "without": "GET /api/access/memberships (no grants)",
    "reference": f"reference app: one statement ({GRANTS:,} grants)",
    "flow": "POST request + POST approve -> grant active",
}


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def member_name(i: int) -> str:
    return f"person{i:05d}@access.example"


def approver_name(k: int) -> str:
    return f"approver{k}@access.example"


def jit_group(k: int) -> str:
    return f"jit-{k:02d}"


# --- where the databases live ------------------------------------------------------------


def cached_url(label: str, url: str, bench_dir: Path, kind: str) -> str:
    """The URL of the seeded database ``kind`` (``grants`` or ``base``)."""
    if label == "sqlite":
        name = f"access-v{ACCESS_SEED_VERSION}-{GRANTS}-{USERS}-{kind}-sqlite.db"
        return f"sqlite:///{bench_dir / name}"
    parsed = make_url(url).update_query_dict({"options": f"-csearch_path={SCHEMAS[kind]}"})
    return parsed.render_as_string(hide_password=False)


def _sqlite_files(url: str) -> list[Path]:
    path = Path(make_url(url).database or "")
    return [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]


def is_seeded(info: dict[str, Any] | None, kind: str) -> bool:
    return (info is not None and info.get("version") == ACCESS_SEED_VERSION
            and info.get("users") == USERS and info.get("kind") == kind
            and info.get("grants") == (GRANTS if kind == "grants" else 0))


def prepare(label: str, url: str, bench_dir: Path, kind: str) -> tuple[str, dict[str, Any]]:
    """Return (URL, marker) of the seeded database ``kind``; seed it first if need be."""
    target = cached_url(label, url, bench_dir, kind)
    exists = label != "sqlite" or _sqlite_files(target)[0].exists()
    info = read_marker(Database(target), MARKER) if exists else None
    where = (f".bench/{_sqlite_files(target)[0].name}" if label == "sqlite"
             else f"schema {SCHEMAS[kind]}")
    if is_seeded(info, kind):
        note(f"{label}: reusing the access seed ({kind}: {where})")
        migrate.upgrade(target)
        assert info is not None
        return target, info
    note(f"{label}: no access seed in {where}; seeding it (once)")
    if label == "sqlite":
        for path in _sqlite_files(target):
            path.unlink(missing_ok=True)
    else:
        recreate_schema(url, SCHEMAS[kind])
    migrate.upgrade(target)
    db = Database(target)
    info = seed(db, kind)
    settle(db)
    write_marker(db, info, MARKER)
    db.dispose()
    return target, info


def settle(db: Database) -> None:
    """What a database gets after a bulk load: statistics (PostgreSQL), a checkpoint (SQLite)."""
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# --- seeding -----------------------------------------------------------------------------


def _insert(db: Database, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        with db.write_engine.begin() as conn:
            conn.execute(insert(model), rows[start:start + BATCH])


def seed(db: Database, kind: str) -> dict[str, Any]:
    """Users, groups, memberships and tokens; with ``kind == "grants"``, the grants too."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    rng = random.Random(20260302)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    people = [(new_id(), member_name(i)) for i in range(USERS)]
    approvers = [(new_id(), approver_name(k)) for k in range(APPROVERS)]
    note(f"  inserting {USERS + APPROVERS:,} users, {TEAMS + JIT_GROUPS + 1} groups and their "
         "memberships (Core executemany)")
    _insert(db, User, [{
        "id": uid, "user_name": name, "user_name_key": fold(name), "external_id": None,
        "display_name": name.split("@")[0], "active": True, "version": 1, "source": "scim",
        "doc": {"schemas": [catalog.USER_SCHEMA], "userName": name, "active": True},
        "created_at": now, "updated_at": now} for uid, name in people + approvers])
    teams = [(new_id(), f"team-{k:03d}") for k in range(TEAMS)]
    jit = [(new_id(), jit_group(k)) for k in range(JIT_GROUPS)]
    approvers_group = (new_id(), APPROVERS_GROUP)
    groups = teams + jit + [approvers_group]
    _insert(db, Group, [{
        "id": gid, "display_name": name, "display_name_key": fold(name), "external_id": None,
        "version": 1, "source": "scim",
        "doc": {"schemas": [catalog.GROUP_SCHEMA], "displayName": name},
        "created_at": now, "updated_at": now} for gid, name in groups])
    members = [(teams[t][0], uid) for uid, _ in people for t in rng.sample(range(TEAMS),
                                                                           TEAMS_EACH)]
    members += [(approvers_group[0], uid) for uid, _ in approvers]
    _insert(db, Membership, [{
        "group_id": gid, "member_id": uid, "member_type": "User", "created_at": now,
        "expires_at": None, "granted_by": None, "reason": None, "idp_entity_id": None}
        for gid, uid in members])
    count = 0
    if kind == "grants":
        note(f"  inserting {GRANTS:,} grants ({LIVE:,} live), {BATCH:,} per transaction")
        with Progress(GRANTS, "grants") as bar:
            for rows in _grant_rows(rng, new_id, people, jit, now):
                with db.write_engine.begin() as conn:
                    conn.execute(insert(Grant), rows)
                count += len(rows)
                bar.advance(len(rows))
    tokens = _tokens(db)
    seconds = time.perf_counter() - started
    note(f"  seeded in {seconds:.0f} s")
    return {"version": ACCESS_SEED_VERSION, "kind": kind, "users": USERS, "grants": count,
            "live": LIVE if count else 0, "seeded_at": now.isoformat(),
            "seed_seconds": round(seconds, 1), **tokens}


def _grant_rows(rng: random.Random, new_id: Any, people: list[tuple[str, str]],
                jit: list[tuple[str, str]], now: datetime) -> Iterator[list[dict[str, Any]]]:
    """The grants in batches: the ended and revoked ones first, then the live ones."""
    ended = GRANTS - LIVE
    heavy_share = GRANTS // 2
    durations = [timedelta(minutes=m) for m in (30, 60, 120, 240, 480)]
    rows: list[dict[str, Any]] = []
    for k in range(ended + LIVE):
        if k < ended:
            user = k % HEAVY if k < heavy_share else rng.randrange(HEAVY, USERS)
            starts = now - timedelta(days=1) - timedelta(seconds=rng.randrange(364 * 86_400))
            length = rng.choice(durations)
            revoked = rng.random() < 0.1
            ends = starts + (length * rng.random() if revoked else length)
            state, by, why = (("revoked", approver_name(0), "done early") if revoked
                              else ("ended", "system:sweeper", "expired"))
        else:
            user = k - ended
            starts, ends = now - timedelta(hours=1), now + timedelta(hours=7)
            state, by, why = "active", None, None
        group = jit[rng.randrange(JIT_GROUPS)]
        uid, name = people[user]
        rows.append({
            "id": new_id(), "request_id": None, "user_id": uid, "user_name": name,
            "group_id": group[0], "group_name": group[1], "state": state, "starts_at": starts,
            "ends_at": ends, "extended_from": None, "created_at": starts, "ended_by": by,
            "end_reason": why, "ending_soon_sent": state != "active"})
        if len(rows) == BATCH:
            yield rows
            rows = []
    if rows:
        yield rows


def _tokens(db: Database) -> dict[str, Any]:
    """The reader's ``access:read`` token and the requesters' and approvers' personal ones."""
    def make(name: str, scope: str, user: str | None = None) -> str:
        with UnitOfWork(db) as uow:
            _, plaintext = services.create_token(uow, name, (scope,), actor=ACTOR,
                                                 user_name=user)
        return plaintext
    return {
        "reader": make("bench-access-reader", "access:read"),
        "requesters": [make(f"bench-requester-{k}", "access", member_name(LIVE + k))
                       for k in range(REQUESTERS)],
        "approvers": [make(f"bench-approver-{k}", "access", approver_name(k))
                      for k in range(APPROVERS)],
    }


# --- each run ----------------------------------------------------------------------------


def work_copy(label: str, cached: str, bench_dir: Path, kind: str) -> str:
    """SQLite: a fresh copy of the seed for this run; PostgreSQL: the seeded schema itself."""
    if label != "sqlite":
        return cached
    db = Database(cached)
    with db.engine.connect() as conn:  # all of it in the file, none left in the WAL
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    work = f"sqlite:///{bench_dir / f'access-run-{kind}-sqlite.db'}"
    for path in _sqlite_files(work):
        path.unlink(missing_ok=True)
    shutil.copyfile(_sqlite_files(cached)[0], _sqlite_files(work)[0])
    return work


def tidy(db: Database, info: dict[str, Any]) -> None:
    """Take out what runs added (requests, their grants, the sweeper's, outbox rows) and move
    the live grants' window to now: started an hour ago, ends in 7 hours."""
    seeded_at = datetime.fromisoformat(info["seeded_at"])
    now = datetime.now(UTC)
    with db.write_engine.begin() as conn:
        # grants.extended_from refers to grants.id without an index of its own: each deleted
        # grant would have the whole table scanned for rows extending it (minutes for a few
        # thousand on PostgreSQL). An index for the length of the cleanup only; nothing the
        # bench measures sees it.
        conn.execute(text(f"CREATE INDEX {TIDY_INDEX} ON grants (extended_from)"))
        conn.execute(delete(Grant).where(Grant.created_at > seeded_at))
        conn.execute(text(f"DROP INDEX {TIDY_INDEX}"))
        conn.execute(delete(AccessRequest))  # their reviews go with them (ON DELETE CASCADE)
        conn.execute(delete(OutboxMessage))
        conn.execute(update(Grant).where(Grant.ends_at > seeded_at).values(
            starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=7),
            state="active", ended_by=None, end_reason=None, ending_soon_sent=False))
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE grants, access_requests, access_reviews, outbox"))


def explain(db: Database, user_name: str) -> dict[str, Any]:
    """EXPLAIN the statement ``effective_memberships`` sends for this user, as it sends it."""
    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        captured.append((statement, parameters))

    with db.read_session() as session:
        user_id = session.execute(select(User.id).where(User.user_name_key == fold(user_name))
                                  ).scalar_one()
    # Listening before the session's connection exists: a connection sees the engine's
    # statement events only when there were some when it was made.
    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        with db.read_session() as session:
            queries.effective_memberships(session, user_id, datetime.now(UTC))
            statement, parameters = captured[-1]
            prefix = "EXPLAIN QUERY PLAN" if db.dialect == "sqlite" else "EXPLAIN"
            rows = session.connection().exec_driver_sql(f"{prefix} {statement}",
                                                        parameters).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    if db.dialect == "sqlite":  # (id, parent, notused, detail)
        plan = [str(row[-1]) for row in rows]
        key = [line for line in plan if "grants" in line]
        scans = [line for line in key if line.startswith("SCAN")]
    else:
        plan = [str(row[0]) for row in rows]
        # The nodes that read grants (table or index), each with its Index Cond or Filter line;
        # costs and the bound values left out.
        key = []
        for i, line in enumerate(plan):
            if " on grants" in line or " on ix_grants" in line:
                key.append(COST.sub("", line).strip().removeprefix("->  "))
                follow = plan[i + 1].strip() if i + 1 < len(plan) else ""
                if follow.startswith(("Index Cond", "Filter")):
                    key.append(LITERAL.sub("?", follow))
        scans = [line for line in key if "Seq Scan" in line]
    return {"plan": plan, "key": key, "uses_index": any(INDEX in line for line in key),
            "scans": scans}


def _read_request(host: str, token: str, i: int) -> bytes:
    return load.build_request(
        "GET", f"/api/access/memberships?user={quote(member_name(i))}", host,
        {"Authorization": f"Bearer {token}", "Accept": "application/json",
         "User-Agent": "frontdesk-bench"})


def _memberships_check(grant: bool) -> load.Check:
    """Every answer lists the user's teams, and a live grant exactly when there are grants."""
    def check(status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {body[:300]!r}"
        sources = [m["source"] for m in json.loads(body)["memberships"]]
        if sources.count("scim") != TEAMS_EACH or ("grant" in sources) != grant:
            return f"memberships from {sources}, expected {TEAMS_EACH} scim" + (
                " and a grant" if grant else " and no grant")
        return None
    return check


def _post(host: str, path: str, token: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return load.build_request("POST", path, host, {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json", "User-Agent": "frontdesk-bench"}, data)


def request_and_approve(host: str, info: dict[str, Any]) -> load.Flow:
    """Requester ``i % 200`` asks for ``jit-NN`` (cycling every 10 000 flows), an approver
    approves; the approval's answer must show the grant active."""
    requesters, approvers = info["requesters"], info["approvers"]

    def flow(send: load.Send, i: int) -> str | None:
        group = jit_group(i // REQUESTERS % JIT_GROUPS)
        status, body = send(_post(host, "/api/access/requests", requesters[i % REQUESTERS],
                                  {"group": group, "duration": "1h", "reason": "bench"}))
        if status != 201:
            return f"POST /api/access/requests: HTTP {status}: {body[:300]!r}"
        request_id = json.loads(body)["id"]
        status, body = send(_post(host, f"/api/access/requests/{request_id}/approve",
                                  approvers[i % APPROVERS], {"reason": "ok"}))
        if status != 200:
            return f"POST .../approve: HTTP {status}: {body[:300]!r}"
        grant = json.loads(body).get("grant") or {}
        if grant.get("state") != "active":
            return f"approved, but the grant is {grant.get('state')!r}: {body[:300]!r}"
        return None
    return flow


def time_sweep(url: str) -> dict[str, Any]:
    """Insert ``SWEEP`` grants whose end is due, then time ``sweep(db)`` ending them."""
    db = Database(url)
    db.webhooks = load_endpoints(WEBHOOKS)
    now = datetime.now(UTC)
    rng = random.Random(7)
    with db.read_session() as session:
        people = session.execute(select(User.id, User.user_name).where(
            User.user_name_key.like("person%")).order_by(User.user_name_key)).all()
        jit = session.execute(select(Group.id, Group.display_name).where(
            Group.display_name_key.like("jit-%"))).all()
        head = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one()
    note(f"  inserting {SWEEP:,} grants whose end is due")
    rows = []
    for k in range(SWEEP):
        uid, name = people[rng.randrange(len(people))]
        gid, group = jit[rng.randrange(len(jit))]
        rows.append({"id": str(uuid.uuid4()), "request_id": None, "user_id": uid,
                     "user_name": name, "group_id": gid, "group_name": group, "state": "active",
                     "starts_at": now - timedelta(hours=1),
                     "ends_at": now - timedelta(seconds=1, microseconds=k), "extended_from": None,
                     "created_at": now, "ended_by": None, "end_reason": None,
                     "ending_soon_sent": True})
    _insert(db, Grant, rows)
    note(f"  app.access.sweep.sweep(db): ending {SWEEP:,} grants")
    started = time.perf_counter()
    result = sweep(db)
    seconds = time.perf_counter() - started
    with db.read_session() as session:
        events = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)
                                 ).scalar_one() - head
        outbox = session.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == "access.grant.ended")).scalar_one()
    db.dispose()
    return {"due": SWEEP, "ended": result.ended, "other_work": result.total - result.ended,
            "seconds": round(seconds, 2), "ended_per_second": round(result.ended / seconds),
            "audit_events": events, "outbox_rows": outbox}


def bench(label: str, url: str, env: dict[str, str], bench_dir: Path, *, workers: int,
          connections: int, warmup: float, rounds: int, round_seconds: float,
          round_warmup: float) -> dict[str, Any]:
    """Seed (once) or reuse the two access databases, then measure; return the figures."""
    cached = {kind: prepare(label, url, bench_dir, kind) for kind in ("grants", "base")}
    work = {kind: work_copy(label, cached[kind][0], bench_dir, kind) for kind in cached}
    info = {kind: cached[kind][1] for kind in cached}
    db = Database(work["grants"])
    tidy(db, info["grants"])
    db.dispose()
    plans = {}
    for kind in ("grants", "base"):
        db = Database(work[kind])
        plans[kind] = explain(db, member_name(0))
        db.dispose()
    config_path = bench_dir / f"access-{label}.toml"
    config_path.write_text(POLICY)

    def serve(kind: str, app: str | None = None) -> Gunicorn:
        extra = {"FRONTDESK_DATABASE_URL": work[kind], "FRONTDESK_CONFIG": str(config_path)}
        if app:
            extra["FRONTDESK_LOG_LEVEL"] = "WARNING"
        name = f"{'reference' if app else 'frontdesk'}-access-{kind}-{label}.log"
        return Gunicorn({**env, **extra}, bench_dir / name, workers=workers, app=app)

    note(f"{label}: starting Frontdesk on both access databases and the reference app "
         f"(gunicorn, {workers} workers each)")
    servers: dict[str, Gunicorn] = {}
    results: dict[str, load.Result] = {}
    round_results: list[dict[str, load.Result]] = []
    try:
        servers["with"] = serve("grants")
        servers["without"] = serve("base")
        servers["reference"] = serve("grants", "tests.bench.reference_app:asgi_app")
        tokens = {"with": info["grants"]["reader"], "without": info["base"]["reader"],
                  "reference": ""}
        checks = {"with": _memberships_check(True), "without": _memberships_check(False),
                  "reference": _memberships_check(True)}
        for r in range(rounds):
            order = ["with", "without"] if r % 2 == 0 else ["without", "with"]
            this: dict[str, load.Result] = {}
            for key in [*order, "reference"]:
                server = servers[key]
                host = f"{server.host}:{server.port}"
                made = [_read_request(host, tokens[key], i) for i in range(MEASURED)]
                note(f"  round {r + 1}/{rounds}: {NAMES[key]} ...")
                this[key] = load.run(NAMES[key], server.host, server.port,
                                     load.RequestSource(lambda i, m=made: m[i % len(m)]),
                                     check=checks[key], concurrency=connections,
                                     warmup=round_warmup, duration=round_seconds,
                                     meter=load.CpuMeter(server.pids))
            round_results.append(this)
        for key in ("with", "without", "reference"):
            results[key] = load.merge(NAMES[key], [r[key] for r in round_results])
        servers["reference"].stop()
        server = servers["with"]
        note(f"  {NAMES['flow']} ...")
        results["flow"] = load.run_flow(
            NAMES["flow"], server.host, server.port,
            request_and_approve(f"{server.host}:{server.port}", info["grants"]),
            concurrency=connections, warmup=warmup, duration=FLOW_SECONDS,
            meter=load.CpuMeter(server.pids))
    finally:
        for server in servers.values():
            server.stop()
    try:
        swept = time_sweep(work["grants"])
    finally:
        if label != "sqlite":  # the run's rows out of the seeded schema
            db = Database(work["grants"])
            tidy(db, info["grants"])
            db.dispose()
    return {
        "databases": {kind: (f"schema {SCHEMAS[kind]}" if label != "sqlite" else
                             _sqlite_files(cached[kind][0])[0].name) for kind in cached},
        "seed": {kind: {k: v for k, v in info[kind].items()
                        if k not in ("reader", "requesters", "approvers")} for kind in info},
        "workers": workers, "connections": connections, "users": USERS, "grants": GRANTS,
        "live": LIVE, "measured_users": MEASURED, "explain": plans,
        "scenarios": {k: r.as_dict() for k, r in results.items()},
        "rounds": [{k: r.as_dict() for k, r in this.items()} for this in round_results],
        "flow_seconds": FLOW_SECONDS, "sweep": swept,
    }


# --- the report --------------------------------------------------------------------------


def slowdowns(section: dict[str, Any]) -> list[float]:
    """Per round: median latency with the grants / without them."""
    return sorted(r["with"]["p50_ms"] / r["without"]["p50_ms"] for r in section["rounds"]
                  if r["without"]["p50_ms"])


def targets(section: dict[str, Any]) -> list[tuple[bool, str]]:
    found: list[tuple[bool, str]] = []
    ratios = slowdowns(section)
    if ratios:
        ratio = statistics.median(ratios)
        found.append((ratio <= SLOWDOWN_TARGET, (
            f"effective memberships with {section['grants']:,} grants vs none: median latency "
            f"{ratio:.2f}x (median of {len(ratios)} alternating rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}) (target <= {SLOWDOWN_TARGET:g}x)")))
    plan = section["explain"]["grants"]
    nodes = [line for line in plan["key"] if not line.startswith(("Index Cond", "Filter"))]
    found.append((plan["uses_index"] and not plan["scans"], (
        f"EXPLAIN effective_memberships: grants read through {INDEX}, no scan "
        f"({'; '.join(nodes) or 'no grants node in the plan'})")))
    return found


def print_report(section: dict[str, Any], say: Any) -> list[str]:
    """Print the access tables; return the problems found (errors), for the targets list."""
    problems: list[str] = []
    say()
    seeded = section["seed"]["grants"]
    say(f"-- just-in-time access: {section['grants']:,} grants ({section['live']:,} live) over "
        f"{section['users']:,} users in {section['databases']['grants']}, none in "
        f"{section['databases']['base']} (seeded once in {seeded.get('seed_seconds')} s); "
        f"gunicorn {section['workers']} workers, {section['connections']} connections --")
    problems += load.print_table(say, [(name, section["scenarios"][key])
                                       for key, name in NAMES.items()
                                       if key in section["scenarios"]], "access")
    rounds = section["rounds"]
    say(f"(memberships: {len(rounds)} rounds, the three servers up at once, taking turns; "
        f"users: {section['measured_users']} with a live grant, half of them holding ~"
        f"{section['grants'] // 2 // HEAVY} ended grants each; flow: "
        f"{section['flow_seconds']:g} s, its latency is both requests')")
    ratios = slowdowns(section)
    rps = sorted(r["with"]["rps"] / r["without"]["rps"] for r in rounds if r["without"]["rps"])
    ref = sorted(r["with"]["rps"] / r["reference"]["rps"] for r in rounds
                 if r["reference"]["rps"])
    if ratios:
        say(f"memberships, {section['grants']:,} grants vs none: median latency "
            f"{statistics.median(ratios):.2f}x, req/s {statistics.median(rps):.2f}x; Frontdesk "
            f"does {statistics.median(ref):.2f}x the reference app's req/s (medians of rounds)")
    flow = section["scenarios"].get("flow")
    if flow:
        say(f"request -> approve -> active: p50 {flow['p50_ms']:.1f} ms, p99 "
            f"{flow['p99_ms']:.1f} ms, {flow['rps']:.1f} flows/s ({2 * flow['rps']:.1f} HTTP "
            "requests/s)")
    for kind, what in (("grants", f"{section['grants']:,} grants"),
                       ("base", "no grants, the table is empty")):
        plan = section["explain"][kind]
        say(f"EXPLAIN ({what}): " + (" | ".join(plan["key"]) or "no grants node in the plan"))
    s = section["sweep"]
    say(f"sweeper: {s['ended']:,} of {s['due']:,} due grants ended in {s['seconds']:.1f} s = "
        f"{s['ended_per_second']:,}/s; {s['audit_events']:,} audit events, "
        f"{s['outbox_rows']:,} outbox rows (webhook configured, not delivered)")
    if not (s["ended"] == s["due"] == s["audit_events"] == s["outbox_rows"]):
        problems.append(f"access sweep: {s['due']} due, {s['ended']} ended, "
                        f"{s['audit_events']} audit events, {s['outbox_rows']} outbox rows")
    return problems
