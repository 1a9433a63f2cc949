"""``make bench``, SAML JIT: accepted logins over gunicorn, and the time to refuse hostile bodies.

Runs on the SCIM bench's database (the 100 000 seeded users and 999 small groups), against a
gunicorn that trusts a demo IdP (``jit/demo_idp.py``; its key stays in ``.bench/jit-idp``):

1. logins: ``FRONTDESK_BENCH_JIT_LOGINS`` (default 300) IdP-initiated responses, each with its
   own assertion ID, are signed BEFORE the clock starts (signing is the IdP's cost): half for
   new people (first login: JIT create, link, group membership), half for returning people
   (linked by an earlier login, done in-process through ``app.provisioning.provision_login``
   before the clock starts; the timed login carries a changed name: the update path). They
   alternate, and are POSTed to ``/saml/acs`` over ``CONNECTIONS`` connections, no redirects
   followed; 303 is an accepted login, anything else an error (with the page's reason code).
   A few untimed logins warm the workers up first;
2. hostile bodies: ``FRONTDESK_BENCH_JIT_HOSTILE`` (default 50) POSTs each of a deflate bomb,
   an oversized body, a billion-laughs DOCTYPE and a tampered signed response (which reaches
   xmlsec1); each must be refused with its 4xx and reason code.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func
from sqlalchemy import select

from app.db import Database
from app.models import AuditEvent
from app.models import User
from app.provisioning import JitPolicy
from app.provisioning import LoginClaims
from app.provisioning import provision_login
from app.uow import UnitOfWork
from jit.mapping import map_attributes
from jit.mapping import resolve_map
from tests.bench import load
from tests.bench.progress import Progress
from tests.bench.servers import Gunicorn
from tests.bench.servers import free_port

with warnings.catch_warnings():
    # pysaml2's IdP side touches cryptography's moved CFB mode on import (as in tests/jit).
    warnings.filterwarnings("ignore", message="CFB has been moved")
    from jit.demo.idp import DemoIdP
    from jit.demo.idp import encode_response
    from tests.jit import saml_attacks as attacks

LOGINS = max(2, int(os.environ.get("FRONTDESK_BENCH_JIT_LOGINS", "300")))
HOSTILE = max(1, int(os.environ.get("FRONTDESK_BENCH_JIT_HOSTILE", "50")))
WARMUP_LOGINS = 10  # untimed, half new and half returning
IDP_URL = "https://idp.bench.example"
LIFETIME = timedelta(minutes=30)  # signing N responses takes a while; none may expire meanwhile
REASON_RE = re.compile(rb"Reason code: <code>([^<]*)</code>")
SMALL_GROUPS = 999  # tests/bench/seed.py's group-000 .. group-998

NAMES = {
    "logins": "POST /saml/acs: accepted login (half new, half returning)",
    "deflate_bomb": "refuse: deflate bomb (64 MiB inflated)",
    "oversized": "refuse: oversized body (200 000 base64 chars)",
    "doctype": "refuse: DOCTYPE billion laughs",
    "tampered": "refuse: tampered signed response (xmlsec1)",
}
# kind -> (HTTP status, reason code) Frontdesk must answer
EXPECTED = {
    "deflate_bomb": (400, "malformed"),
    "oversized": (413, "too_large"),
    "doctype": (400, "doctype"),
    "tampered": (400, "signature"),
}


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reason_of(body: bytes) -> str | None:
    found = REASON_RE.search(body)
    return found.group(1).decode(errors="replace") if found else None


def expect(status: int, reason: str | None) -> load.Check:
    """A check for every response: the status, and the page's reason code when one is given."""
    def check(got: int, body: bytes) -> str | None:
        said = reason_of(body)
        if got != status or (reason is not None and said != reason):
            snippet = body[:200].decode(errors="replace").replace("\n", " ")
            return (f"HTTP {got} reason {said!r}, expected {status}"
                    + (f" {reason!r}" if reason else "") + f": {snippet}")
        return None
    return check


@dataclass(frozen=True)
class Person:
    email: str
    group: str
    returning: bool

    def attributes(self, login: int) -> dict[str, list[str]]:
        """Okta-style attributes; a returning person's later logins carry a changed name."""
        last = f"Bench{'' if login == 0 else f' v{login}'}"
        return {"email": [self.email], "firstName": ["Jit"], "lastName": [last],
                "displayName": [f"Jit {last}"], "groups": [self.group]}


def people(tag: str, count: int, offset: int = 0) -> list[Person]:
    """``count`` people alternating new / returning; each claims one seeded small group."""
    out = []
    for i in range(offset, offset + count):
        returning = i % 2 == 1
        kind = "ret" if returning else "new"
        out.append(Person(f"jit-{tag}-{kind}-{i}@example.com", f"group-{i % SMALL_GROUPS:03d}",
                          returning))
    return out


def first_logins(db: Database, idp: DemoIdP, returning: list[Person]) -> None:
    """Link the returning people by a first login through the service layer (no HTTP)."""
    attribute_map = resolve_map("default")  # Frontdesk's default FRONTDESK_SAML_ATTRIBUTE_MAP
    expires = datetime.now(UTC) + LIFETIME
    for person in returning:
        mapped = map_attributes(person.attributes(0), attribute_map)
        claims = LoginClaims(
            idp_entity_id=idp.entity_id, name_id=person.email,
            assertion_id=f"_bench_{uuid.uuid4().hex}", assertion_expires_at=expires,
            in_response_to=None, user_name=person.email, attributes=mapped.document,
            groups=mapped.groups)
        with UnitOfWork(db) as uow:
            provision_login(uow, claims, JitPolicy(), browser_binding=None,
                            allow_unsolicited=True)


def form(saml_response: str) -> bytes:
    return urlencode({"SAMLResponse": saml_response}).encode()


def acs_request(host: str, saml_response: str) -> bytes:
    return load.build_request("POST", "/saml/acs", host, {
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "frontdesk-bench",
        "Accept": "text/html"}, form(saml_response))


def bench(label: str, url: str, env: dict[str, str], bench_dir: Path, *, workers: int,
          connections: int, seconds_cap: float = 600.0) -> dict[str, Any]:
    """Run the JIT figures on the database at ``url``; return them (``print_report`` shows)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    idp = DemoIdP.for_frontdesk(bench_dir / "jit-idp", IDP_URL, base)
    tag = uuid.uuid4().hex[:8]
    warm = people(tag, WARMUP_LOGINS)
    timed = people(tag, LOGINS, offset=WARMUP_LOGINS)
    returning = [p for p in warm + timed if p.returning]

    db = Database(url)
    note(f"  JIT: first logins of {len(returning)} returning people (service layer, untimed)")
    first_logins(db, idp, returning)

    note(f"  JIT: signing {len(warm) + len(timed)} IdP-initiated responses (the IdP's cost, "
         "untimed)")
    host = f"127.0.0.1:{port}"
    signed: list[bytes] = []
    with Progress(len(warm) + len(timed), "responses") as bar:
        for person in warm + timed:
            signed.append(acs_request(host, idp.response(
                person.email, person.attributes(1), lifetime=LIFETIME)))
            bar.advance()
    mallory = idp.response_xml("mallory@example.com",
                               Person("mallory@example.com", "group-000", False).attributes(0),
                               lifetime=LIFETIME)
    hostile = {
        "deflate_bomb": attacks.deflate_bomb(),
        "oversized": attacks.oversized_body(200_000),
        "doctype": encode_response(attacks.billion_laughs(mallory)),
        "tampered": encode_response(attacks.tamper_name_id(mallory, "admin@example.com")),
    }

    results: dict[str, load.Result] = {}
    note(f"{label}: starting Frontdesk for SAML (gunicorn, {workers} workers)")
    server = Gunicorn({**env, "FRONTDESK_SAML_IDP_METADATA": str(idp.metadata_path)},
                      bench_dir / f"frontdesk-jit-{label}.log", workers=workers, port=port)
    try:
        warm_result = _run("warm-up", server, signed[:len(warm)], expect(303, None),
                           connections, seconds_cap)
        if warm_result.errors:
            note(f"    warm-up logins failed: {warm_result.first_error}")
        note(f"  {NAMES['logins']} ...")
        results["logins"] = _run(NAMES["logins"], server, signed[len(warm):],
                                 expect(303, None), connections, seconds_cap)
        for kind, body in hostile.items():
            note(f"  {NAMES[kind]} ...")
            status, reason = EXPECTED[kind]
            request = acs_request(host, body)
            results[kind] = _run(NAMES[kind], server, [request] * HOSTILE,
                                 expect(status, reason), connections, seconds_cap)
    finally:
        server.stop()
    sanity = _outcome(db, tag, warm + timed)
    db.dispose()
    return {
        "logins": LOGINS, "hostile_each": HOSTILE, "workers": workers,
        "connections": connections, "warmup_errors": warm_result.errors,
        "body_bytes": {k: len(form(v)) for k, v in hostile.items()},
        "outcome": sanity,
        "scenarios": {k: r.as_dict() for k, r in results.items()},
    }


def _run(name: str, server: Gunicorn, requests: list[bytes], check: load.Check,
         connections: int, cap: float) -> load.Result:
    """POST each request once (a closed loop until they run out); check every response."""
    source = load.RequestSource(lambda i: requests[i], len(requests))
    result = load.run(name, server.host, server.port, source, check=check,
                      concurrency=connections, warmup=0.0, duration=cap,
                      checked=len(requests),
                      meter=load.CpuMeter(server.pids, children=True),
                      status_ok=lambda status: True)
    result.exhausted = False  # running out is the plan here, not a shortage
    return result


def _outcome(db: Database, tag: str, everyone: list[Person]) -> dict[str, Any]:
    """What the logins left behind (warm-up included), next to what they should have."""
    with db.read_session() as session:
        created = session.execute(select(func.count()).select_from(User).where(
            User.user_name_key.like(f"jit-{tag}-new-%"))).scalar_one()
        events = dict(session.execute(
            select(AuditEvent.action, func.count()).where(
                AuditEvent.target_label.like(f"jit-{tag}-%"),
                AuditEvent.action.in_(("jit:user:create", "jit:user:update", "login:success")))
            .group_by(AuditEvent.action)).tuples().all())
    new = sum(not p.returning for p in everyone)
    back = len(everyone) - new
    # Returning people: their first login (service layer) created them; the HTTP one updates.
    return {"users_created": created, "new_people": new, "events": events,
            "expected_events": {"jit:user:create": new + back, "jit:user:update": back,
                                "login:success": new + 2 * back}}


def print_report(section: dict[str, Any], say: Any) -> list[str]:
    """Print the JIT table; return the problems found (errors), for the targets list."""
    problems: list[str] = []
    say()
    say(f"-- SAML JIT: gunicorn {section['workers']} workers, {section['connections']} "
        f"connections; {section['logins']} signed responses pre-generated (half new people, "
        f"half returning), {section['hostile_each']} of each hostile body --")
    problems += load.print_table(
        say, [(name, section["scenarios"][key]) for key, name in NAMES.items()
              if key in section["scenarios"]],
        "JIT", "CPU cores used (server: with its xmlsec1 runs)")
    out = section["outcome"]
    say(f"accepted logins: {section['scenarios']['logins']['rps']:.1f}/s; users created over "
        f"HTTP: {out['users_created']} of {out['new_people']} new people (warm-up included); "
        f"audit events: {out['events']}")
    say("hostile body sizes (form-encoded): " + ", ".join(
        f"{k} {v:,} B" for k, v in section["body_bytes"].items()))
    if section["warmup_errors"]:
        problems.append(f"JIT warm-up: {section['warmup_errors']} login(s) not accepted")
    if out["users_created"] != out["new_people"]:
        problems.append(f"JIT: {out['users_created']} users created for {out['new_people']} new "
                        "people")
    if out["events"] != out["expected_events"]:
        problems.append(f"JIT: audit events {out['events']}, expected {out['expected_events']}")
    return problems
