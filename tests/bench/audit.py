"""``make bench``, audit log: ``/api/audit`` pages over 1 000 000 events, export rate, verify.

The events live in a database of their own, so they neither disturb nor are disturbed by the
SCIM seed: SQLite ``.bench/audit-v<version>-<events>-sqlite.db``; PostgreSQL the schema
``frontdesk_bench_audit`` of the bench database (reached with ``search_path`` in the URL; the
SCIM seed owns ``public``). A marker table records what was seeded, so it is seeded once; the
runs only read it.

Seeding is fast but honest: ``FRONTDESK_BENCH_AUDIT_EVENTS - 1`` (default 999 999) varied
events (SCIM writes by two IdP tokens, admin and CLI changes, JIT logins and refusals, over 50 000
people and 2 000 groups, spread over the past year) are chained exactly as ``AuditLog.flush``
chains them (``seq``, ``prev_hash``, ``hash = app.audit.seal(row)``) and inserted with Core
executemany, 10 000 to a transaction; ``audit_head`` is moved to the last one, and the last
event is the ``token:create`` of the ``audit:read`` token the bench reads with, made through
``app.services.create_token`` on top of that chain (its plaintext is kept in the marker: a
bench-only database). ``app.audit.verify_chain`` then checks the whole chain, timed.

Each run: the chain verified (timed, in a snapshot session, as ``frontdesk audit verify``
does); ``GET /api/audit`` scenarios over gunicorn; ``frontdesk audit export`` (jsonl, csv, and
a filtered jsonl for comparison) as subprocesses, with their peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.engine import make_url

from app import migrate
from app import services
from app.audit.chain import canonical
from app.audit.chain import verify_chain
from app.audit.query import encode_cursor
from app.db import Database
from app.models import AuditEvent
from app.models import AuditHead
from app.uow import UnitOfWork
from tests.bench import load
from tests.bench.progress import Progress
from tests.bench.seed import ACTOR
from tests.bench.seed import read_marker
from tests.bench.seed import recreate_schema
from tests.bench.seed import write_marker
from tests.bench.servers import Gunicorn

AUDIT_SEED_VERSION = 1
EVENTS = max(1000, int(os.environ.get("FRONTDESK_BENCH_AUDIT_EVENTS", "1000000")))
BATCH = 10_000
PEOPLE = 50_000
GROUPS = 2_000
PG_SCHEMA = "frontdesk_bench_audit"
MARKER = "frontdesk_bench_audit_seed"
TOKEN_NAME = "bench-audit-reader"
SPAN = timedelta(days=365)  # the events' occurred_at spread over the past year

OKTA_IDP = "http://www.okta.com/exk1benchmark0000"
ENTRA_IDP = "https://sts.windows.net/7f0e1f7e-0000-4000-8000-benchmark000/"
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0 Safari/537.36")
DENY_REASONS = ("signature", "expired", "replay", "audience", "inactive", "malformed",
                "account_conflict")
# action, weight (percent), what it is about; user:update is 10 %: the filtered export's share.
ACTIONS: tuple[tuple[str, float], ...] = (
    ("user:create", 7), ("user:update", 10), ("user:deactivate", 2), ("user:reactivate", 0.7),
    ("user:delete", 0.3), ("group:create", 0.2), ("group:update", 1.8),
    ("group:member:add", 18), ("group:member:remove", 6), ("login:success", 40),
    ("login:denied", 5), ("jit:user:create", 2), ("jit:user:update", 6.5),
    ("admin:login", 0.45), ("token:create", 0.05),
)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- where the events live ---------------------------------------------------------------


def audit_url(label: str, url: str, bench_dir: Path) -> str:
    """The URL of the audit bench database for the SCIM bench database at ``url``."""
    if label == "sqlite":
        return f"sqlite:///{bench_dir / f'audit-v{AUDIT_SEED_VERSION}-{EVENTS}-sqlite.db'}"
    parsed = make_url(url).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
    return parsed.render_as_string(hide_password=False)


def is_seeded(info: dict[str, Any] | None) -> bool:
    return (info is not None and info.get("version") == AUDIT_SEED_VERSION
            and info.get("events") == EVENTS)


def prepare(label: str, url: str, bench_dir: Path) -> tuple[str, dict[str, Any]]:
    """Return (URL, marker) of a database holding the current audit seed; seed it if need be."""
    target = audit_url(label, url, bench_dir)
    path = Path(make_url(target).database or "")  # SQLite's file
    where = f".bench/{path.name}" if label == "sqlite" else f"schema {PG_SCHEMA}"
    info = read_marker(Database(target), MARKER) if label != "sqlite" or path.exists() else None
    if is_seeded(info):
        note(f"{label}: reusing the audit seed ({EVENTS:,} events, {where})")
        migrate.upgrade(target)
        assert info is not None
        return target, info
    if label == "sqlite":
        note(f"SQLite: no audit seed at {where}; seeding {EVENTS:,} events (once)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        note(f"PostgreSQL: no current audit seed; re-creating schema {PG_SCHEMA} and seeding "
             f"{EVENTS:,} events (once)")
        recreate_schema(url, PG_SCHEMA)
    migrate.upgrade(target)
    db = Database(target)
    info = seed(db)
    if label == "postgresql":
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        info["vacuum_analyze_seconds"] = round(time.perf_counter() - started, 1)
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    write_marker(db, info, MARKER)
    db.dispose()
    return target, info


# --- seeding -----------------------------------------------------------------------------


class Generator:
    """Varied, plausible audit events, chained as ``AuditLog.flush`` chains them."""

    def __init__(self, seq: int, prev_hash: str, count: int, rng: random.Random) -> None:
        self.rng = rng
        self.seq, self.prev = seq, prev_hash
        self.count = count
        self.people = [str(uuid.UUID(int=rng.getrandbits(128), version=4))
                       for _ in range(PEOPLE)]
        self.groups = [str(uuid.UUID(int=rng.getrandbits(128), version=4))
                       for _ in range(GROUPS)]
        self.tokens = {  # SCIM clients: (id, label, user agent, share of SCIM writes)
            "okta": (str(uuid.UUID(int=rng.getrandbits(128), version=4)), "okta-scim",
                     "Okta SCIM Client 1.0.0"),
            "entra": (str(uuid.UUID(int=rng.getrandbits(128), version=4)), "entra-scim",
                      "Azure AD SCIM Background Worker"),
        }
        self.admin = ("admin", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      "admin:alice@corp.example")
        names, weights = zip(*ACTIONS, strict=True)
        self.actions = rng.choices(names, weights, k=count)
        now = datetime.now(UTC)
        self.start = now - SPAN
        self.step_us = SPAN / timedelta(microseconds=1) / max(count, 1)

    @staticmethod
    def person_label(k: int) -> str:
        return f"person{k:05d}@corp.example"

    def _scim_actor(self) -> tuple[str, str | None, str, str | None, str]:
        roll = self.rng.random()
        if roll < 0.6:
            tid, label, agent = self.tokens["okta"]
        elif roll < 0.95:
            tid, label, agent = self.tokens["entra"]
        elif roll < 0.99:
            return (*self.admin, f"10.0.0.{self.rng.randrange(2, 250)}", BROWSER_UA)
        else:
            return "cli", "root", "cli:root", None, None
        return "token", tid, label, f"203.0.113.{self.rng.randrange(1, 250)}", agent

    def _idp_actor(self) -> tuple[str, str | None, str, str | None, str]:
        idp = OKTA_IDP if self.rng.random() < 0.7 else ENTRA_IDP
        return ("idp", idp, idp, f"198.51.{self.rng.randrange(0, 255)}."
                f"{self.rng.randrange(1, 250)}", BROWSER_UA)

    def event(self, i: int) -> dict[str, Any]:
        """Event number ``i`` of the generated ones (0-based), not yet chained."""
        rng = self.rng
        action = self.actions[i]
        k = rng.randrange(PEOPLE)
        person, label = self.people[k], self.person_label(k)
        target_kind: str | None = "user"
        target_id: str | None = person
        target_label: str | None = label
        changes: dict[str, Any] | None = None
        outcome, reason = "success", None
        if action.startswith(("login:", "jit:")):
            kind, actor_id, actor_label, ip, agent = self._idp_actor()
            if action == "login:denied":
                outcome, reason = "denied", rng.choice(DENY_REASONS)
                target_id = None  # the IdP's NameID only: no account was touched
                if reason == "signature" and rng.random() < 0.3:
                    kind, actor_id, actor_label = "anonymous", None, "anonymous"
            elif action == "jit:user:create":
                changes = {"userName": [None, label], "active": [None, True]}
            elif action == "jit:user:update":
                changes = {"name.familyName": [f"Number {k}", f"Number {k}-{i % 7}"]}
        elif action == "admin:login":
            kind, actor_id, actor_label = self.admin
            ip, agent = f"10.0.0.{rng.randrange(2, 250)}", BROWSER_UA
            target_kind = target_id = target_label = None
        else:
            kind, actor_id, actor_label, ip, agent = self._scim_actor()
            if action == "user:create":
                changes = {"userName": [None, label], "active": [None, True],
                           "displayName": [None, f"Person {k}"]}
            elif action == "user:update":
                changes = {"title": [f"Engineer {i % 5}", f"Engineer {i % 5 + 1}"],
                           "meta.version": [i % 9 + 1, i % 9 + 2]}
            elif action == "user:deactivate":
                changes = {"active": [True, False]}
            elif action == "user:reactivate":
                changes = {"active": [False, True]}
            elif action.startswith("group:") or action == "token:create":
                g = rng.randrange(GROUPS)
                target_kind, target_id, target_label = "group", self.groups[g], f"team-{g:04d}"
                if action == "group:member:add":
                    changes = {"member": [None, person]}
                elif action == "group:member:remove":
                    changes = {"member": [person, None]}
                elif action == "group:create":
                    changes = {"displayName": [None, target_label]}
                elif action == "group:update":
                    changes = {"displayName": [target_label, f"{target_label} ({i % 3})"]}
                else:  # token:create
                    target_kind, target_label = "token", f"scim-{g}"
                    changes = {"scopes": [None, "scim"]}
        occurred = self.start + timedelta(
            microseconds=int(i * self.step_us) + rng.randrange(int(self.step_us // 2) + 1))
        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": occurred, "actor_kind": kind, "actor_id": actor_id,
            "actor_label": actor_label, "action": action, "target_kind": target_kind,
            "target_id": target_id, "target_label": target_label, "outcome": outcome,
            "reason": reason, "changes": changes,
            "request_id": None if kind == "cli" else f"{rng.getrandbits(128):032x}",
            "source_ip": ip, "user_agent": agent,
        }

    def chained(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Events ``start`` to ``stop`` with ``seq``, ``prev_hash`` and ``hash``, as flush does."""
        rows = []
        for i in range(start, stop):
            row = self.event(i)
            self.seq += 1
            row["seq"] = self.seq
            row["prev_hash"] = self.prev
            # The same canonical form and hash as AuditLog.flush (app.audit.seal).
            row["hash"] = self.prev = hashlib.sha256(canonical(SimpleNamespace(**row))).hexdigest()
            rows.append(row)
        return rows


def seed(db: Database) -> dict[str, Any]:
    """Append ``EVENTS - 1`` generated events to the (empty) chain, then the reader's token."""
    started = time.perf_counter()
    write = db.write_engine
    with write.begin() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    count = EVENTS - 1 - head.seq
    gen = Generator(head.seq, head.hash, count, random.Random(20240601))
    note(f"  generating and inserting {count:,} chained events, {BATCH:,} per transaction "
         "(Core executemany)")
    with Progress(count, "events") as bar:
        for start in range(0, count, BATCH):
            rows = gen.chained(start, min(start + BATCH, count))
            with write.begin() as conn:
                if db.dialect == "sqlite":
                    conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for the indexes
                conn.execute(insert(AuditEvent), rows)
            bar.advance(len(rows))
    with write.begin() as conn:
        conn.execute(update(AuditHead).where(AuditHead.id == 1)
                     .values(seq=gen.seq, hash=gen.prev))
    with UnitOfWork(db) as uow:
        _, token = services.create_token(uow, TOKEN_NAME, ("audit:read",), actor=ACTOR)
    seconds = time.perf_counter() - started
    note(f"  seeded {EVENTS:,} events in {seconds:.0f} s ({EVENTS / seconds:,.0f}/s)")
    # Who and what the scenarios filter on: a typical person, the Entra SCIM token.
    return {
        "version": AUDIT_SEED_VERSION, "events": EVENTS, "seed_seconds": round(seconds, 1),
        "seed_per_second": round(EVENTS / seconds), "token": token,
        "target": Generator.person_label(4242), "actor_id": gen.tokens["entra"][0],
        "actor_label": gen.tokens["entra"][1],
    }


# --- the figures -------------------------------------------------------------------------


def verify(db: Database) -> dict[str, Any]:
    """``frontdesk audit verify``'s work (``verify_chain`` in a snapshot session), timed."""
    note(f"  verifying the chain of {EVENTS:,} events (app.audit.verify_chain)")
    started = time.perf_counter()
    with db.snapshot_session() as session:
        result = verify_chain(session)
    seconds = time.perf_counter() - started
    return {"ok": result.ok, "checked": result.checked, "problem": result.problem,
            "seconds": round(seconds, 2), "events_per_second": round(result.checked / seconds)}


def scenarios(info: dict[str, Any]) -> dict[str, tuple[str, str, Any]]:
    """key -> (name, query string, what every event of a page must satisfy)."""
    deep = encode_cursor(5_000)
    target = info["target"]
    return {
        "newest": ("GET /api/audit?limit=50 (newest page)", "limit=50", None),
        "action": ("GET /api/audit?action=login:denied", "limit=50&action=login:denied",
                   lambda e: e["action"] == "login:denied"),
        "prefix": ("GET /api/audit?action=user: (prefix)", "limit=50&action=user:",
                   lambda e: e["action"].startswith("user:")),
        "target": (f"GET /api/audit?target=<userName> ({target})",
                   f"limit=50&target={quote(target)}",
                   lambda e: (e["target"]["label"] or "").lower() == target.lower()),
        "actor": (f"GET /api/audit?actor_id=<id> ({info['actor_label']})",
                  f"limit=50&actor_id={quote(info['actor_id'])}",
                  lambda e: e["actor"]["id"] == info["actor_id"]),
        "deep": ("GET /api/audit?cursor=<seq 5 000> (deep page)", f"limit=50&cursor={deep}",
                 lambda e: e["seq"] < 5_000),
    }


def _check(full_page: bool, match: Any) -> load.Check:
    def check(status: int, body: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {body[:300]!r}"
        events = json.loads(body)["events"]
        if full_page and len(events) != 50:
            return f"{len(events)} events on the page, expected 50"
        if not events:
            return "no events on the page"
        wrong = [e for e in events if match is not None and not match(e)]
        if wrong:
            return f"{len(wrong)} events do not match the filter, e.g. {wrong[0]}"
        return None
    return check


def export(url: str, env: dict[str, str], fmt: str, extra: tuple[str, ...] = ()
           ) -> dict[str, Any]:
    """``frontdesk audit export`` to /dev/null in a subprocess: events/s and peak RSS."""
    frontdesk = str(Path(sys.executable).with_name("frontdesk"))
    cmd = [frontdesk, "audit", "export", "--format", fmt, "-o", "/dev/null", *extra]
    if Path("/usr/bin/time").exists():  # GNU time: the child's peak RSS
        cmd = ["/usr/bin/time", "-v", *cmd]
    note(f"  frontdesk audit export --format {fmt} {' '.join(extra)}".rstrip())
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(cmd, env={**os.environ, **env, "FRONTDESK_DATABASE_URL": url},  # noqa: S603
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = os.times()
    err = done.stderr
    exported = re.search(r"exported ([\d,]+) events", err)
    count = int(exported.group(1).replace(",", "")) if exported else 0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    if rss:
        peak_mb = int(rss.group(1)) / 1024
        how = "/usr/bin/time -v"
    else:  # ru_maxrss of the largest child so far: an upper bound
        import resource
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        how = "getrusage(RUSAGE_CHILDREN)"
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    return {
        "format": fmt, "filter": " ".join(extra) or None, "events": count,
        "seconds": round(seconds, 2), "events_per_second": round(count / seconds),
        "cpu_seconds": round(cpu, 2), "peak_rss_mb": round(peak_mb, 1), "rss_from": how,
        "exit": done.returncode,
        "error": None if done.returncode == 0 and exported else err.strip()[-500:],
    }


def bench(label: str, url: str, env: dict[str, str], bench_dir: Path, *, workers: int,
          connections: int, warmup: float, seconds: float) -> dict[str, Any]:
    """Seed (once) or reuse the audit database, then measure; return the figures."""
    target, info = prepare(label, url, bench_dir)
    db = Database(target)
    checked = verify(db)
    with db.read_session() as session:
        total = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one()
    db.dispose()
    results: dict[str, load.Result] = {}
    server_env = {**env, "FRONTDESK_DATABASE_URL": target}
    note(f"{label}: starting Frontdesk on the audit database (gunicorn, {workers} workers)")
    server = Gunicorn(server_env, bench_dir / f"frontdesk-audit-{label}.log", workers=workers)
    try:
        host = f"{server.host}:{server.port}"
        headers = {"Authorization": f"Bearer {info['token']}", "Accept": "application/json",
                   "User-Agent": "frontdesk-bench"}
        for key, (name, query, match) in scenarios(info).items():
            note(f"  {name} ...")
            request = load.build_request("GET", f"/api/audit?{query}", host, headers)
            source = load.RequestSource(lambda i, r=request: r)
            results[key] = load.run(name, server.host, server.port, source,
                                    check=_check(key != "target", match),
                                    concurrency=connections, warmup=warmup, duration=seconds,
                                    meter=load.CpuMeter(server.pids))
    finally:
        server.stop()
    exports = [export(target, server_env, "jsonl"), export(target, server_env, "csv"),
               export(target, server_env, "jsonl", ("--action", "user:update"))]
    return {
        "database": f"schema {PG_SCHEMA}" if label == "postgresql" else Path(
            make_url(target).database or "").name,
        "events": total, "seed": {k: v for k, v in info.items() if k != "token"},
        "verify": checked, "workers": workers, "connections": connections,
        "scenarios": {k: r.as_dict() for k, r in results.items()},
        "export": exports,
    }


def print_report(section: dict[str, Any], say: Any) -> list[str]:
    """Print the audit tables; return the problems found (errors), for the targets list."""
    problems: list[str] = []
    say()
    seed_info = section["seed"]
    say(f"-- audit log: {section['events']:,} events in {section['database']} (seeded once in "
        f"{seed_info.get('seed_seconds')} s, {seed_info.get('seed_per_second'):,}/s); gunicorn "
        f"{section['workers']} workers, {section['connections']} connections --")
    problems += load.print_table(say, [(None, r) for r in section["scenarios"].values()],
                                 "audit")
    for e in section["export"]:
        what = f"export {e['format']}" + (f" {e['filter']}" if e["filter"] else "")
        say(f"{what:54} {e['events']:>10,} events in {e['seconds']:6.1f} s = "
            f"{e['events_per_second']:>7,}/s; CPU {e['cpu_seconds']:.1f} s; "
            f"peak RSS {e['peak_rss_mb']:.0f} MB")
        if e["error"]:
            problems.append(f"audit {what}: exit {e['exit']}: {e['error']}")
    v = section["verify"]
    say(f"{'verify (verify_chain, snapshot session)':54} {v['checked']:>10,} events in "
        f"{v['seconds']:6.1f} s = {v['events_per_second']:>7,}/s; "
        + ("chain intact" if v["ok"] else f"FAILED: {v['problem']}"))
    if not v["ok"]:
        problems.append(f"audit verify: {v['problem']}")
    full = [e for e in section["export"] if not e["filter"] and e["events"]]
    if full and full[0]["events"] != section["events"]:
        problems.append(f"audit export: {full[0]['events']:,} events exported of "
                        f"{section['events']:,}")
    return problems
