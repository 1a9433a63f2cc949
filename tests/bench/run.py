"""``make bench``: seed, serve with gunicorn, measure SCIM over HTTP, compare with a reference.

For SQLite always, and for PostgreSQL when ``FRONTDESK_BENCH_DATABASE_URL`` (or, as in CI,
``FRONTDESK_TEST_DATABASE_URL``) names a database, whose schema ``public`` the bench drops and
re-creates when it does not hold the current seed:

1. seed 100 000 users, 1 000 groups and one group of 100 000 members through the service layer
   (``tests/bench/seed.py``), or reuse the seed: SQLite keeps it in ``.bench/`` and each run
   works on a fresh copy; PostgreSQL keeps a marker table and runs on the seeded database;
2. serve Frontdesk with gunicorn (``config/gunicorn_conf.py``, ``FRONTDESK_BENCH_WORKERS`` sync
   workers, default 2) and time each scenario over HTTP: warm-up, then a fixed duration with a
   closed loop of ``FRONTDESK_BENCH_CONNECTIONS`` connections (``tests/bench/load.py``); writes
   get unique inputs (new userNames, users still active, users not yet members);
3. serve the reference app (``tests/bench/reference_app.py``) the same way and time the same
   ``userName eq`` requests;
4. SAML JIT figures (``tests/bench/jit.py``: accepted logins, refusals of hostile bodies) on
   the same database, and audit figures (``tests/bench/audit.py``: ``/api/audit`` pages over
   1 000 000 events in a database of their own, export rate, verify time);
5. just-in-time access figures (``tests/bench/access.py``, two databases of their own, alike but
   for 100 000 grants): ``GET /api/access/memberships`` with and without the grants (and on the
   reference app) in alternating rounds, with EXPLAIN of its statement; request → approve →
   active over HTTP with personal tokens; the sweeper ending 2 000 due grants;
6. print the tables and the targets with PASS/FAIL, and write ``.bench/results-<db>.json``.

The SCIM seed (step 1) is made only for the parts that use it (``scim``, ``jit``).

The exit status is 0 when the bench ran, whatever the figures: it is a report. Knobs:
``FRONTDESK_BENCH_SECONDS`` (4 per scenario), ``FRONTDESK_BENCH_WARMUP`` (1),
``FRONTDESK_BENCH_LOG_LEVEL`` (INFO, Frontdesk's default: one JSON log line per request, written
to ``.bench/frontdesk-<db>.log``), ``FRONTDESK_BENCH_ONLY`` (comma-separated ``sqlite``,
``postgresql``), ``FRONTDESK_BENCH_PARTS`` (comma-separated ``scim``, ``jit``, ``audit``,
``access``, ``lifecycle``; all by default; ``lifecycle`` is ``tests/bench/lifecycle.py``, the
dormant rules over 100 000 users on a database of its own), and those of ``seed.py``,
``jit.py``, ``audit.py`` and ``access.py``
(``FRONTDESK_BENCH_ACCESS_GRANTS``, ``_USERS``, ``_SWEEP``, ``_FLOW_SECONDS``).
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app import migrate
from app import services
from app.db import Database
from app.uow import UnitOfWork
from tests.bench import access as access_bench
from tests.bench import audit as audit_bench
from tests.bench import jit as jit_bench
from tests.bench import lifecycle as lifecycle_bench
from tests.bench import load
from tests.bench import seed
from tests.bench.servers import Gunicorn

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / ".bench"
WORKERS = int(os.environ.get("FRONTDESK_BENCH_WORKERS", "2"))
CONNECTIONS = int(os.environ.get("FRONTDESK_BENCH_CONNECTIONS", str(WORKERS)))
SECONDS = float(os.environ.get("FRONTDESK_BENCH_SECONDS", "4"))
WARMUP = float(os.environ.get("FRONTDESK_BENCH_WARMUP", "1"))
LOG_LEVEL = os.environ.get("FRONTDESK_BENCH_LOG_LEVEL", "INFO")
POOL = 20_000  # unique inputs prepared for each write scenario (more than it can use)
PARTS = {s.strip() for s in os.environ.get("FRONTDESK_BENCH_PARTS",
                                            "scim,jit,audit,access,lifecycle").split(",")
         if s.strip()}
SCIM_SEED_PARTS = {"scim", "jit"}  # the parts that run on the SCIM seed; the others seed their own

USERNAME_P99_MS = 10.0
REFERENCE_RATIO = 0.6
RATIO_ROUNDS = max(1, int(os.environ.get("FRONTDESK_BENCH_RATIO_ROUNDS", "5")))
RATIO_SECONDS = float(os.environ.get("FRONTDESK_BENCH_RATIO_SECONDS", "2"))
RATIO_WARMUP = 0.5
BIG_GROUP_FACTOR = 2.0
OTHER_CPU_WARNING = 0.25  # cores taken by others (processes, steal) that spoil a scenario

SCIM = "/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

NAMES = {
    "username_eq": 'GET /Users?filter=userName eq "..."',
    "list_100": "GET /Users?count=100 (first page)",
    "get_small": "GET 10-member group ?excludedAttributes=members",
    "get_big": "GET 100 000-member group ?excludedAttributes=members",
    "post_user": "POST /Users",
    "patch_active": "PATCH /Users/{id} active=false",
    "add_small": "PATCH add 1 member to a 10-member group",
    "add_big": "PATCH add 1 member to the 100 000-member group",
    "reference": 'reference app: GET /Users?filter=userName eq "..."',
}


def say(message: str = "") -> None:
    print(message, flush=True)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- databases ---------------------------------------------------------------------------


def prepare_sqlite() -> tuple[str, dict[str, Any]]:
    """Seed (or reuse) the cached SQLite seed, then copy it for this run."""
    BENCH_DIR.mkdir(exist_ok=True)
    cache = BENCH_DIR / f"seed-v{seed.SEED_VERSION}-{seed.USERS}-sqlite.db"
    cache_url = f"sqlite:///{cache}"
    info = seed.read_marker(Database(cache_url)) if cache.exists() else None
    if not seed.is_seeded(info):
        note(f"SQLite: no seed at {cache.relative_to(ROOT)}; seeding it (once)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cache}{suffix}").unlink(missing_ok=True)
        migrate.upgrade(cache_url)
        db = Database(cache_url)
        info = seed.seed(db)
    else:
        note(f"SQLite: reusing the seed in {cache.relative_to(ROOT)} "
             f"(seed v{seed.SEED_VERSION}, {seed.USERS:,} users)")
        migrate.upgrade(cache_url)  # a newer migration applies in place, as in production
        db = Database(cache_url)
    assert info is not None
    info = seed.ensure_big_group(db, info, BENCH_DIR / "big-group-error-sqlite.txt")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    work = BENCH_DIR / "run-sqlite.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cache, work)
    return f"sqlite:///{work}", info


def prepare_postgresql(url: str) -> dict[str, Any]:
    """Seed the PostgreSQL database unless it holds the current seed's marker."""
    db = Database(url)
    with db.engine.connect():
        pass  # fail here, clearly, when the server is unreachable
    info = seed.read_marker(db)
    if not seed.is_seeded(info):
        note("PostgreSQL: no current seed marker; dropping and re-creating schema public, "
             "then seeding (once)")
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(url)
        info = seed.seed(db)
        fresh = True
    else:
        note(f"PostgreSQL: the database holds seed v{seed.SEED_VERSION} "
             f"({seed.USERS:,} users); skipping the seeding")
        migrate.upgrade(url)
        fresh = False
    assert info is not None
    big_before = info.get("big_group")
    info = seed.ensure_big_group(db, info, BENCH_DIR / "big-group-error-postgresql.txt")
    if fresh or info.get("big_group") != big_before:
        # What autovacuum does within a minute of a bulk load; the bench should not measure
        # the minute before it.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    db.dispose()
    return info


def reach_postgresql(url: str) -> dict[str, Any]:
    """No part needs the SCIM seed: only check that the server answers (fail here, clearly)."""
    db = Database(url)
    with db.engine.connect():
        pass
    db.dispose()
    return {}


def postgresql_url() -> tuple[str | None, str]:
    for name in ("FRONTDESK_BENCH_DATABASE_URL", "FRONTDESK_TEST_DATABASE_URL"):
        if os.environ.get(name):
            return os.environ[name], f"from {name}"
    return None, ("neither FRONTDESK_BENCH_DATABASE_URL nor FRONTDESK_TEST_DATABASE_URL is set "
                  "(e.g. FRONTDESK_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/"
                  "fd_bench make bench)")


# --- scenarios ---------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    make: Callable[[int], bytes]
    check: load.Check
    limit: int | None = None  # number of unique inputs; None: unlimited


def _expect(status: int, **fields: Any) -> load.Check:
    def check(got: int, body: bytes) -> str | None:
        if got != status:
            return f"HTTP {got}, expected {status}: {body[:300]!r}"
        if fields:
            doc = json.loads(body)
            for name, want in fields.items():
                value = doc.get(name)
                ok = want(value) if callable(want) else value == want
                if not ok:
                    return f"{name} = {value!r}: {body[:300]!r}"
        return None
    return check


class Client:
    """Builds the requests of one server: its host header and bearer token."""

    def __init__(self, server: Gunicorn, token: str) -> None:
        self.server = server
        self.host = f"{server.host}:{server.port}"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json",
                        "User-Agent": "frontdesk-bench"}

    def request(self, method: str, path: str, body: Any = None) -> bytes:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/scim+json"
            data = json.dumps(body).encode()
        return load.build_request(method, SCIM + path, self.host, headers, data)

    def run(self, scenario: Scenario, *, seconds: float = SECONDS, warmup: float = WARMUP
            ) -> load.Result:
        source = load.RequestSource(scenario.make, scenario.limit)
        note(f"  {NAMES[scenario.key]} ...")
        return load.run(NAMES[scenario.key], self.server.host, self.server.port, source,
                        check=scenario.check, concurrency=CONNECTIONS, warmup=warmup,
                        duration=seconds, meter=load.CpuMeter(self.server.pids))


def username_requests(client: Client) -> Callable[[int], bytes]:
    rng = random.Random(7)
    picks = [rng.randrange(seed.USERS) for _ in range(POOL)]

    def make(i: int) -> bytes:
        query = quote(f'userName eq "{seed.user_name(picks[i % POOL])}"')
        return client.request("GET", f"/Users?filter={query}")
    return make


def frontdesk_scenarios(db: Database, client: Client, info: dict[str, Any]
                        ) -> list[tuple[Scenario | None, Callable[[], None] | None]]:
    """The scenarios in order, each with an optional preparation step run just before it."""
    run_tag = uuid.uuid4().hex[:8]
    big = info.get("big_group")
    small = seed.small_groups(db)
    small_ids = list(small)
    seeded = seed.seeded_user_ids(db)
    scenarios: list[tuple[Scenario | None, Callable[[], None] | None]] = []

    scenarios.append((Scenario("username_eq", username_requests(client),
                               _expect(200, totalResults=1)), None))
    scenarios.append((Scenario(
        "list_100", lambda i: client.request("GET", "/Users?startIndex=1&count=100"),
        _expect(200, itemsPerPage=100, totalResults=lambda v: v >= seed.USERS)), None))
    scenarios.append((Scenario(
        "get_small",
        lambda i: client.request("GET", f"/Groups/{small_ids[i % len(small_ids)]}"
                                        "?excludedAttributes=members"),
        _expect(200, members=None)), None))
    if big:
        scenarios.append((Scenario(
            "get_big", lambda i: client.request("GET", f"/Groups/{big}?excludedAttributes=members"),
            _expect(200, id=big, members=None)), None))
    else:
        scenarios.append((None, None))

    def post_user(i: int) -> bytes:
        name = f"post-{run_tag}-{i}@example.com"
        return client.request("POST", "/Users", seed.user_body(name, i))
    scenarios.append((Scenario("post_user", post_user, _expect(201, active=True)), None))

    active: list[str] = []

    def patch_active(i: int) -> bytes:
        body = {"schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "active", "value": False}]}
        return client.request("PATCH", f"/Users/{active[i]}", body)
    patch_scenario = Scenario("patch_active", patch_active, _expect(200, active=False))

    def prepare_patch() -> None:
        active[:] = seed.active_seeded_users(db, POOL)
        patch_scenario.limit = len(active)
    scenarios.append((patch_scenario, prepare_patch))

    # Adds to the 999 ten-member groups in turn: each grows by a member or two, so every
    # request adds to a group of about 10; a user is never added to a group twice.
    rng = random.Random(11)
    pairs: list[tuple[str, str]] = []
    taken = {gid: set(members) for gid, members in small.items()}
    while len(pairs) < POOL:
        gid = small_ids[len(pairs) % len(small_ids)]
        uid = seeded[rng.randrange(len(seeded))]
        if uid not in taken[gid]:
            taken[gid].add(uid)
            pairs.append((gid, uid))

    def add_member(group_id: str, user_id: str) -> bytes:
        body = {"schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}]}
        return client.request("PATCH", f"/Groups/{group_id}", body)
    add_small = Scenario("add_small", lambda i: add_member(*pairs[i]), _expect(204),
                         limit=len(pairs))
    scenarios.append((add_small, None))

    if big:
        candidates: list[str] = []
        add_big = Scenario("add_big", lambda i: add_member(big, candidates[i]), _expect(204))

        def prepare_big() -> None:
            # Users who are not members yet: those POSTed above (and by earlier runs), topped
            # up through the service layer to 1.5 times what the 10-member case managed.
            small_rps = results_so_far.get("add_small")
            wanted = int((small_rps.rps if small_rps else 500) * (WARMUP + SECONDS) * 1.5) + 100
            candidates[:] = seed.non_members(db, big, wanted)
            if len(candidates) < wanted:
                note(f"    creating {wanted - len(candidates)} spare users (not members yet) "
                     "through services.create_user")
                seed.create_spares(db, wanted - len(candidates), run_tag)
                candidates[:] = seed.non_members(db, big, wanted)
            add_big.limit = len(candidates)
        scenarios.append((add_big, prepare_big))
    else:
        scenarios.append((None, None))
    return scenarios


results_so_far: dict[str, load.Result] = {}
# userName eq on Frontdesk and on the reference, round by round (compare_with_reference).
ratio_rounds: list[tuple[load.Result, load.Result]] = []


def create_token(db: Database) -> str:
    with UnitOfWork(db) as uow:
        _, plaintext = services.create_token(uow, f"bench-{uuid.uuid4().hex[:12]}", ("scim",),
                                             actor=seed.ACTOR)
    return plaintext


def bench_database(label: str, url: str, info: dict[str, Any]) -> dict[str, Any]:
    """Measure Frontdesk and the reference on one database; return the report."""
    BENCH_DIR.mkdir(exist_ok=True)
    results_so_far.clear()
    ratio_rounds.clear()
    env = {
        "FRONTDESK_DATABASE_URL": url,
        "FRONTDESK_INSTANCE_PATH": str(BENCH_DIR / f"instance-{label}"),
        "FRONTDESK_SECRET_KEY": "bench-secret-key",
        "FRONTDESK_LOG_LEVEL": LOG_LEVEL,
        "FRONTDESK_WORKERS": str(WORKERS),
    }
    if "scim" in PARTS:
        db = Database(url)
        bench_scim(label, db, env, create_token(db), info)
        db.dispose()
    sections: dict[str, Any] = {}
    if "jit" in PARTS:
        note(f"{label}: SAML JIT")
        sections["jit"] = jit_bench.bench(label, url, env, BENCH_DIR, workers=WORKERS,
                                          connections=CONNECTIONS)
    if "audit" in PARTS:
        note(f"{label}: audit log")
        sections["audit"] = audit_bench.bench(label, url, env, BENCH_DIR, workers=WORKERS,
                                              connections=CONNECTIONS, warmup=WARMUP,
                                              seconds=SECONDS)
    if "access" in PARTS:
        note(f"{label}: just-in-time access")
        sections["access"] = access_bench.bench(
            label, url, env, BENCH_DIR, workers=WORKERS, connections=CONNECTIONS, warmup=WARMUP,
            rounds=RATIO_ROUNDS, round_seconds=RATIO_SECONDS, round_warmup=RATIO_WARMUP)
    if "lifecycle" in PARTS:
        note(f"{label}: dormant accounts")
        sections["lifecycle"] = lifecycle_bench.bench(label, BENCH_DIR)
    return report(label, info, dict(results_so_far), sections)


def bench_scim(label: str, db: Database, env: dict[str, str], token: str,
               info: dict[str, Any]) -> None:
    note(f"{label}: starting Frontdesk (gunicorn, {WORKERS} workers)")
    server = Gunicorn(env, BENCH_DIR / f"frontdesk-{label}.log", workers=WORKERS)
    try:
        client = Client(server, token)
        for scenario, prepare in frontdesk_scenarios(db, client, info):
            if scenario is None:
                continue
            if prepare is not None:
                prepare()
            results_so_far[scenario.key] = client.run(scenario)
        note(f"{label}: starting the reference app (gunicorn, {WORKERS} workers)")
        reference = Gunicorn({**env, "FRONTDESK_LOG_LEVEL": "WARNING"},
                             BENCH_DIR / f"reference-{label}.log", workers=WORKERS,
                             app="tests.bench.reference_app:asgi_app")
        try:
            compare_with_reference(client, Client(reference, token))
        finally:
            reference.stop()
    finally:
        server.stop()


def compare_with_reference(frontdesk: Client, reference: Client) -> None:
    """Measure ``userName eq`` on Frontdesk and on the reference in alternating rounds.

    Both servers run side by side and take turns, ``RATIO_ROUNDS`` times, so a machine that
    speeds up or slows down during the run (a shared VM does) weighs on both alike. Each round
    gives one ratio; the target is judged on their median.
    """
    # itemsPerPage: Frontdesk always sends it, the reference never: the right app answered.
    on_reference = Scenario("reference", username_requests(reference),
                            _expect(200, totalResults=1, itemsPerPage=None))
    on_frontdesk = Scenario("username_eq", username_requests(frontdesk),
                            _expect(200, totalResults=1))
    rounds: list[tuple[load.Result, load.Result]] = []
    for _ in range(RATIO_ROUNDS):
        mine = frontdesk.run(on_frontdesk, seconds=RATIO_SECONDS, warmup=RATIO_WARMUP)
        theirs = reference.run(on_reference, seconds=RATIO_SECONDS, warmup=RATIO_WARMUP)
        rounds.append((mine, theirs))
    results_so_far["reference"] = load.merge("reference", [theirs for _, theirs in rounds])
    ratio_rounds[:] = rounds


# --- report ------------------------------------------------------------------------------


def ratio_text(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def evaluate(results: dict[str, load.Result], info: dict[str, Any], problems: list[str],
             more: list[tuple[bool, str]]) -> list[tuple[bool, str]]:
    """The SCIM targets (when that part ran), then ``more`` (other parts'), then the errors."""
    targets = scim_targets(results, info) if "scim" in PARTS else []
    targets += more
    failed = [f"{r.name}: {r.errors} ({r.first_error})" for r in results.values() if r.errors]
    failed += problems  # the other parts' errors
    targets.append((not failed, "every request answered as expected"
                    if not failed else "errors: " + "; ".join(failed)))
    return targets


def scim_targets(results: dict[str, load.Result], info: dict[str, Any]
                 ) -> list[tuple[bool, str]]:
    targets: list[tuple[bool, str]] = []
    eq = results.get("username_eq")
    if eq:
        targets.append((eq.p99 < USERNAME_P99_MS,
                        f"userName eq p99 {eq.p99:.2f} ms < {USERNAME_P99_MS:g} ms "
                        f"at {seed.USERS:,} users"))
    if ratio_rounds:
        ratios = sorted(mine.rps / theirs.rps if theirs.rps else 0.0
                        for mine, theirs in ratio_rounds)
        ratio = statistics.median(ratios)
        mine_rps = statistics.median(m.rps for m, _ in ratio_rounds)
        theirs_rps = statistics.median(t.rps for _, t in ratio_rounds)
        targets.append((ratio >= REFERENCE_RATIO,
                        f"userName eq throughput {ratio:.2f}x the reference app's (median of "
                        f"{len(ratios)} alternating rounds: {', '.join(f'{r:.2f}' for r in ratios)}"
                        f"; {mine_rps:.0f} vs {theirs_rps:.0f} req/s) (target >= "
                        f"{REFERENCE_RATIO:g}x)"))
    error = info.get("big_group_error")
    if error:
        stale = ("" if error.get("code") == seed.code_fingerprint() else
                 " [recorded before app/ changed]")
        built = ("; the big group was built by the FRONTDESK_BENCH_BIG_GROUP=chunked workaround"
                 if "WORKAROUND" in str(info.get("big_group_method")) else "")
        targets.append((False, f"create_group with {seed.USERS:,} members in one call: "
                               f"{error['error']} at {error['where']}{built}{stale}"))
    for big_key, small_key, what in (("add_big", "add_small", "PATCH add member"),
                                     ("get_big", "get_small", "GET ?excludedAttributes=members")):
        big, small = results.get(big_key), results.get(small_key)
        if big is None or small is None or not big.count or not small.count:
            targets.append((False, f"{what}: 100 000-member group within {BIG_GROUP_FACTOR:g}x of "
                                   "the 10-member group: NOT MEASURED (no big group)"))
            continue
        ok = (big.p50 <= BIG_GROUP_FACTOR * small.p50 and big.p99 <= BIG_GROUP_FACTOR * small.p99
              and big.rps * BIG_GROUP_FACTOR >= small.rps)
        targets.append((ok, f"{what}: 100 000-member vs 10-member group: "
                            f"p50 {ratio_text(big.p50, small.p50)}, "
                            f"p99 {ratio_text(big.p99, small.p99)}, "
                            f"req/s {ratio_text(big.rps, small.rps)} "
                            f"(target: latencies <= {BIG_GROUP_FACTOR:g}x, "
                            f"req/s >= 1/{BIG_GROUP_FACTOR:g})"))
    return targets


def report(label: str, info: dict[str, Any], results: dict[str, load.Result],
           sections: dict[str, Any]) -> dict[str, Any]:
    title = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[label]
    if "scim" in PARTS:
        print_scim(title, info, results)
    else:
        say(f"\n== {title}: SCIM scenarios skipped (FRONTDESK_BENCH_PARTS) ==")
    problems: list[str] = []
    if "jit" in sections:
        problems += jit_bench.print_report(sections["jit"], say)
    if "audit" in sections:
        problems += audit_bench.print_report(sections["audit"], say)
    more: list[tuple[bool, str]] = []
    if "lifecycle" in sections:
        lifecycle_bench.print_report(sections["lifecycle"], say)
    if "access" in sections:
        problems += access_bench.print_report(sections["access"], say)
        more += access_bench.targets(sections["access"])
    targets = evaluate(results, info, problems, more)
    say("targets:")
    for ok, line in targets:
        say(f"  {'PASS' if ok else 'FAIL'}  {line}")
    out = {
        "database": label,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {"workers": WORKERS, "connections": CONNECTIONS, "seconds": SECONDS,
                     "warmup": WARMUP, "log_level": LOG_LEVEL, "users": seed.USERS,
                     "parts": sorted(PARTS)},
        "seed": info,
        "scenarios": {key: r.as_dict() for key, r in results.items()},
        "reference_rounds": [{"frontdesk": m.as_dict(), "reference": t.as_dict(),
                              "ratio": round(m.rps / t.rps, 3) if t.rps else None}
                             for m, t in ratio_rounds],
        **sections,
        "targets": [{"pass": ok, "target": line} for ok, line in targets],
    }
    (BENCH_DIR / f"results-{label}.json").write_text(json.dumps(out, indent=2))
    say(f"(figures in {(BENCH_DIR / f'results-{label}.json').relative_to(ROOT)})")
    return out


def print_scim(title: str, info: dict[str, Any], results: dict[str, load.Result]) -> None:
    say()
    say(f"== {title}: {seed.USERS:,} users, 1,000 groups; gunicorn {WORKERS} asyncio workers, "
        f"log level {LOG_LEVEL}; client: {CONNECTIONS} connections, closed loop, "
        f"{WARMUP:g} s warm-up + {SECONDS:g} s per scenario ==")
    say(f"{'':54} {'':>8} {'':>8} {'':>7} {'':>8} {'':>6}   CPU cores used: client")
    say(f"{'scenario':54} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} {'requests':>8} "
        f"{'errors':>6}   {'server':>6} {'pg':>5} {'client':>6} {'other':>5} {'steal':>5}")
    busy = []
    for key, name in NAMES.items():
        r = results.get(key)
        if r is None:
            say(f"{name:54} {'not measured (no big group)':>38}")
            continue
        flag = "  (ran out of unique inputs)" if r.exhausted else ""
        cpu = r.cpu or {}
        lost = cpu.get("other", 0) + cpu.get("steal", 0)
        if lost > OTHER_CPU_WARNING:
            busy.append(f"{name} ({lost:.2f} cores)")
            flag += "  <- machine busy"
        cores = " ".join(f"{cpu[k]:{w}.2f}" if k in cpu else f"{'?':>{w}}"
                         for k, w in (("server", 6), ("postgres", 5), ("client", 6),
                                      ("other", 5), ("steal", 5)))
        say(f"{name:54} {r.p50:8.2f} {r.p99:8.2f} {r.rps:7.0f} {r.count:8d} {r.errors:6d}   "
            f"{cores}{flag}")
    if ratio_rounds:
        say(f"(reference app: {len(ratio_rounds)} rounds of {RATIO_SECONDS:g} s, each right after "
            f"a round of Frontdesk's userName eq; the throughput target compares round by round)")
    if busy:
        say(f"WARNING: other processes or the hypervisor (steal) took CPU during: "
            f"{', '.join(busy)}; those figures are not this code's alone. Run again on an idle "
            "machine.")
    seeded = (f"seed: users {info.get('users_seconds')} s ({info.get('users_per_second')}/s, "
              f"{info.get('batch')} per transaction), small groups {info.get('groups_seconds')} s, "
              f"big group: {info.get('big_group_method') or 'MISSING'}"
              + (f" {info.get('big_group_seconds')} s" if info.get("big_group") else ""))
    say(seeded)


def main() -> int:
    only = {s.strip() for s in os.environ.get("FRONTDESK_BENCH_ONLY", "").split(",") if s.strip()}
    started = time.perf_counter()
    reports = []
    scim_seed = bool(PARTS & SCIM_SEED_PARTS)
    if not only or "sqlite" in only:
        url, info = prepare_sqlite() if scim_seed else (f"sqlite:///{BENCH_DIR / 'run-sqlite.db'}",
                                                        {})
        reports.append(bench_database("sqlite", url, info))
    pg_url, why = postgresql_url()
    if only and "postgresql" not in only:
        say("\nPostgreSQL: skipped (FRONTDESK_BENCH_ONLY)")
    elif pg_url is None:
        say(f"\nPostgreSQL: SKIPPED: {why}")
    else:
        note(f"PostgreSQL: {why}")
        try:
            info = prepare_postgresql(pg_url) if scim_seed else reach_postgresql(pg_url)
        except OperationalError as err:
            say(f"\nPostgreSQL: cannot use the database {why}: {str(err.orig or err).strip()}")
            return 1
        reports.append(bench_database("postgresql", pg_url, info))
    failed = sum(not t["pass"] for r in reports for t in r["targets"])
    say(f"\nbench finished in {time.perf_counter() - started:.0f} s; "
        + ("nothing was measured" if not reports else
           f"{failed} target(s) FAILED (see above)" if failed else "every target passed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
