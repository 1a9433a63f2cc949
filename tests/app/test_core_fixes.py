"""Bugs of the core, each pinned by a test that failed before its fix (issue 8)."""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import runpy
import secrets
import sqlite3
import stat
import subprocess
import sys
import threading
import unicodedata
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from click.testing import Result
from sqlalchemy import select

import config
from app import services
from app.audit.events import Actor
from app.audit.query import AuditFilter
from app.audit.query import list_events
from app.cli.main import main as cli
from app.db import Database
from app.db import make_engine
from app.db import sqlite_lower_keys
from app.models import AuditEvent
from app.models import Group
from app.models import Membership
from app.models import User
from app.provisioning import JitPolicy
from app.provisioning import LoginClaims
from app.provisioning import provision_login
from app.repository.accounts import GroupRepository
from app.text import is_control
from app.uow import UnitOfWork
from app.web.context import get_db
from app.web.factory import create_app
from jit.mapping import first_value
from jit.redirects import safe_next
from tests.helpers.plans import statements_during

ACTOR = Actor("test", "t", "test")


def _create_users(db: Database, *user_names: str) -> None:
    for user_name in user_names:
        with UnitOfWork(db) as uow:
            services.create_user(uow, {"userName": user_name}, actor=ACTOR)


def _labels(db: Database, f: AuditFilter) -> set[str | None]:
    with db.read_session() as session:
        return {e.target_label for e in list_events(session, f, limit=100).events}


# -- 1. the audit filter folds case like the rest of the project (not ASCII-only) -----------------

@pytest.mark.parametrize(("stored", "asked"), [
    ("Äda", "äDA"),
    ("äda", "ÄDA"),
    ("Strauß", "strauß"),
    ("Strauß", "STRAUß"),
    ("STRAUẞ", "strauß"),
])
def test_audit_target_filter_folds_non_ascii_names(db: Database, stored: str, asked: str) -> None:
    _create_users(db, stored, "someone-else")
    assert _labels(db, AuditFilter(target=asked)) == {stored}


@pytest.mark.parametrize(("stored", "asked"),
                         [("Äda Lovelace", "äDA"), ("Johann Strauß", "STRAUß")])
def test_audit_text_filter_folds_non_ascii_names(db: Database, stored: str, asked: str) -> None:
    _create_users(db, stored, "someone-else")
    assert _labels(db, AuditFilter(text=asked)) == {stored}


def test_audit_target_filter_with_too_many_spellings_still_folds(db: Database) -> None:
    """Eight s have more spellings (s, ſ, ß, ẞ, ...) than SQLite is asked to look up."""
    assert sqlite_lower_keys("s" * 8) is None
    labels = ("SSSSSSSS", "sSsSsSsS", "ßßßß", "sſsſßẞ", "sssssss")
    with UnitOfWork(db) as uow:
        for label in labels:
            uow.audit.record("test:event", actor=ACTOR, target_kind="user", target_label=label)
        uow.commit()
    # PostgreSQL's lower() keeps ß and ſ; SQLite's casefold spells them out.
    expected = {"SSSSSSSS", "sSsSsSsS"} | ({"ßßßß", "sſsſßẞ"} if db.dialect == "sqlite" else set())
    assert _labels(db, AuditFilter(target="s" * 8)) == expected


TRICKY = "sSſßẞkKKfFﬁﬀﬆﬅtiIİıΣσςµμäÄ"


def test_sqlite_lower_keys_find_exactly_what_casefold_finds() -> None:
    rng = random.Random(8)

    def sqlite_lower(text: str) -> str:  # SQLite's lower(): ASCII capitals only
        return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)

    for _ in range(5000):
        value = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 4)))
        label = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 5)))
        keys = sqlite_lower_keys(value)
        if keys is None:  # too many spellings: the filter folds every label instead
            continue
        assert (sqlite_lower(label) in keys) == (label.casefold() == value.casefold()), (
            value, label)
        assert all(key.casefold() == value.casefold() for key in keys)
        for spelling in (value.upper(), value.lower(), value.swapcase(), value.title(),
                         value.casefold()):
            if spelling.casefold() == value.casefold():
                assert sqlite_lower(spelling) in keys, (value, spelling)


def test_casefold_changes_nothing_from_u1f000_on() -> None:
    """``sqlite_lower_keys`` only looks at the characters below U+1F000."""
    assert all(chr(c).casefold() == chr(c) for c in range(0x1F000, sys.maxunicode + 1))


def _plan(db: Database, f: AuditFilter) -> str:
    """Return the database's plan of the statement ``list_events`` runs for ``f``."""
    def run() -> None:
        with db.read_session() as session:
            list_events(session, f)

    statement, parameters = statements_during(db, run)[-1]
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            # A few rows: ask what it could use. Without plain index scans too, a fresh database
            # (no statistics) walks the primary key backwards for ORDER BY seq DESC LIMIT.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
            return "\n".join(row[0] for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(row[-1] for row in rows)


@pytest.mark.parametrize("target", ["ada@example.com", "Strauß", "ÄDA"])
def test_audit_target_filter_uses_the_label_index(db: Database, target: str) -> None:
    _create_users(db, "ada@example.com")
    plan = _plan(db, AuditFilter(target=target))
    assert "ix_audit_events_target_label_lower" in plan, plan
    assert "ix_audit_events_target_seq" in plan, plan  # the id half of the OR


def test_audit_text_filter_escapes_like_wildcards(db: Database) -> None:
    _create_users(db, "a_b%c", "axbyc")
    assert _labels(db, AuditFilter(text="_B%")) == {"a_b%c"}


# -- 2. the generated secret key is never read empty or half-written -----------------------------

def test_a_worker_losing_the_first_start_race_reads_the_winners_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first worker is held while it makes its key; a second one starts meanwhile.

    Before the fix the first had already created the (empty) file, and the second failed on it.
    """
    generate = secrets.token_urlsafe
    first_is_generating = threading.Event()
    release_first = threading.Event()
    calls = 0

    def slow_first(nbytes: int) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            first_is_generating.set()
            assert release_first.wait(10)
        return generate(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", slow_first)
    settings = config.load(environ={}, instance_path=str(tmp_path / "instance"))
    keys: dict[str, str] = {}
    errors: list[BaseException] = []

    def start(name: str) -> None:
        try:
            keys[name] = config.ensure_secret_key(settings).secret_key
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    first = threading.Thread(target=start, args=("first",))
    first.start()
    assert first_is_generating.wait(10)
    start("second")  # while the first is held
    release_first.set()
    first.join(10)
    assert errors == []
    assert keys["first"] == keys["second"] != ""
    assert (tmp_path / "instance" / "secret_key").read_text() == keys["first"]


def test_workers_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    script = ("import config, sys; "
              "s = config.load(environ={}, instance_path=sys.argv[1]); "
              "print(config.ensure_secret_key(s).secret_key)")
    processes = [subprocess.Popen([sys.executable, "-c", script, str(instance)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
    results = [p.communicate(timeout=60) for p in processes]
    assert [err for _, err in results if err] == []
    keys = {out.strip() for out, _ in results}
    assert len(keys) == 1 and "" not in keys
    assert sorted(p.name for p in instance.iterdir()) == ["secret_key"]  # no temporary left


def test_publish_new_file_writes_and_syncs_before_the_name_appears(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "secret_key"
    steps: list[str] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd: int) -> None:
        steps.append("fsync")
        real_fsync(fd)

    def link(source: str, destination: Path) -> None:
        # At the moment the name appears, the file behind it is whole.
        steps.append(f"link:{Path(source).read_text()}")
        real_link(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    assert config.publish_new_file(target, "the-key") is True
    assert steps[:2] == ["fsync", "link:the-key"]
    assert target.read_text() == "the-key"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    # The name exists: a later caller changes nothing and says so.
    assert config.publish_new_file(target, "another-key") is False
    assert target.read_text() == "the-key"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(config.SettingsError, match="empty"):
        config.ensure_secret_key(config.load(environ={}, instance_path=str(tmp_path)))


# -- 3. read-only commands read: they never wait for SQLite's write lock -------------------------

@pytest.mark.parametrize("command", [["users", "show", "ada@example.com"], ["tokens", "list"]])
def test_read_commands_run_while_another_connection_holds_the_write_lock(
        runner: CliRunner, db: Database, command: list[str]) -> None:
    _create_users(db, "ada@example.com")
    with UnitOfWork(db) as uow:
        services.create_token(uow, "okta", ("scim",), actor=ACTOR)
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        if db.dialect == "sqlite":
            path = db.engine.url.database
            assert path
            writer = sqlite3.connect(path, isolation_level=None)
            stack.callback(writer.close)
            writer.execute("BEGIN IMMEDIATE")  # another process is writing, as long as it likes
            stack.callback(writer.execute, "ROLLBACK")
        else:
            # EXCLUSIVE lets plain reads through and stops every writer and SELECT FOR UPDATE.
            conn = stack.enter_context(db.engine.connect())
            conn.exec_driver_sql("LOCK TABLE users, api_tokens IN EXCLUSIVE MODE")
            stack.callback(conn.rollback)
        # A command that asked for the write lock would wait (SQLite: out the 30 s busy timeout).
        thread = threading.Thread(target=lambda: results.append(runner.invoke(cli, command)),
                                  daemon=True)
        thread.start()
        thread.join(10)
        finished = not thread.is_alive()
    thread.join(60)
    assert finished, f"`frontdesk {' '.join(command)}` waited for the write lock"
    assert results[0].exit_code == 0, results[0].output
    assert ("ada@example.com" if command[0] == "users" else "okta") in results[0].output


# -- 4. JIT writes groups and memberships through the service layer ------------------------------

IDP = "https://idp.example.com/metadata"


def _jit_login(db: Database, groups: tuple[str, ...], n: int) -> None:
    claims = LoginClaims(
        idp_entity_id=IDP, name_id="ada@example.com", assertion_id=f"assertion-{n}",
        assertion_expires_at=datetime.now(UTC) + timedelta(minutes=5), in_response_to=None,
        user_name="ada@example.com", attributes={"displayName": "Ada"}, groups=groups)
    policy = JitPolicy(groups_mode="sync", create_unknown_groups=True)
    with UnitOfWork(db) as uow:
        provision_login(uow, claims, policy, browser_binding=None, allow_unsolicited=True)


def test_jit_writes_groups_and_memberships_only_through_services(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with UnitOfWork(db) as uow:
        engineering = services.create_group(uow, {"displayName": "Engineering"}, (), actor=ACTOR)
    writers: list[str] = []

    def through_services(name: str) -> None:
        def wrapper(self: GroupRepository, *args: Any, **kwargs: Any) -> Any:
            callers = [Path(frame.filename).as_posix() for frame in inspect.stack()[1:]]
            writers.append(name)
            assert any(c.endswith("app/services.py") for c in callers), (
                f"GroupRepository.{name} called outside app/services.py")
            return original(self, *args, **kwargs)

        original = getattr(GroupRepository, name)
        monkeypatch.setattr(GroupRepository, name, wrapper)

    for name in ("add", "save", "add_members", "remove_members", "remove_all_members"):
        through_services(name)

    _jit_login(db, ("Engineering", "Brand New"), 1)
    _jit_login(db, ("Engineering",), 2)
    assert {"add", "add_members", "remove_members"} <= set(writers)

    with db.read_session() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.action.like("group:%"))
                               .order_by(AuditEvent.seq)).scalars().all()
        groups = {g.display_name: g for g in session.execute(select(Group)).scalars()}
        user_id = session.execute(select(User.id)).scalar_one()
        managed = {row[0]: row[1] for row in session.execute(
            select(Membership.group_id, Membership.idp_entity_id))}
    # The events JIT always wrote, with the IdP as actor (a login changes its groups in the
    # order of their ids, as every writer locks them).
    seen = [(e.action, e.actor_kind, e.actor_id, e.target_label, e.changes) for e in rows[1:]]
    assert seen[0] == ("group:create", "idp", IDP, "Brand New",
                       {"displayName": [None, "Brand New"]})
    assert sorted(seen[1:3]) == [
        ("group:member:add", "idp", IDP, "Brand New", {"member": [None, user_id],
                                                       "memberName": [None, "ada@example.com"]}),
        ("group:member:add", "idp", IDP, "Engineering", {"member": [None, user_id],
                                                         "memberName": [None, "ada@example.com"]}),
    ]
    assert seen[3:] == [
        ("group:member:remove", "idp", IDP, "Brand New", {"member": [user_id, None],
                                                          "memberName": ["ada@example.com", None]})]
    assert groups["Brand New"].source == "jit"
    assert groups["Engineering"].id == engineering.id
    assert groups["Engineering"].version == 2  # created, then one member added
    assert groups["Brand New"].version == 3  # created, one member added, one removed
    assert managed == {engineering.id: IDP}


# -- 5. one rule for control characters, used by every door --------------------------------------

def test_a_control_character_is_unicode_category_cc() -> None:
    assert all(is_control(chr(c)) == (unicodedata.category(chr(c)) == "Cc")
               for c in range(sys.maxunicode + 1))


@pytest.mark.parametrize(("value", "kept"), [
    ("Ada", True),
    ("Zahrā\u200cKarimi", True),  # ZWNJ (a format character) belongs in Persian names
    ("Ada\x1b[2J", False),  # ESC: C0
    ("Ada\x7f", False),  # DEL
    ("Ada\x9b2J", False),  # CSI: C1
    ("Ada\nLovelace", False),
])
def test_jit_attributes_and_redirects_refuse_control_characters(value: str, kept: bool) -> None:
    assert (first_value({"givenName": [value]}, "givenName") == value) is kept
    assert (safe_next(f"/me/{value}") is not None) is kept


@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u2028", "\u3000"])
def test_a_redirect_target_holds_no_whitespace(space: str) -> None:
    assert safe_next(f"/me{space}x") is None
    assert safe_next("/me") == "/me"


# -- 6. gunicorn takes its settings from config.load(), like the app -----------------------------

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn_conf.py"


def _gunicorn_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Run the settings module as gunicorn's master does (it builds the app once, on a SQLite
    file in the instance folder given)."""
    for name in ("BIND", "WORKERS", "THREADS", "LOG_LEVEL", "CONFIG"):
        monkeypatch.delenv(f"FRONTDESK_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_reads_bind_workers_threads_and_log_level_from_the_settings(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "frontdesk.toml"
    toml.write_text('bind = "0.0.0.0:9000"\nworkers = 3\nlog_level = "DEBUG"\n')
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    monkeypatch.setenv("FRONTDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    from_file = _gunicorn_settings(monkeypatch, FRONTDESK_CONFIG=str(toml))
    assert (from_file["bind"], from_file["workers"], from_file["threads"],
            from_file["loglevel"]) == ("0.0.0.0:9000", 3, 4, "debug")

    from_env = _gunicorn_settings(monkeypatch, FRONTDESK_CONFIG=str(toml),
                                  FRONTDESK_BIND="127.0.0.1:9100", FRONTDESK_THREADS="6")
    assert (from_env["bind"], from_env["workers"], from_env["threads"]) == (
        "127.0.0.1:9100", 3, 6)

    defaults = _gunicorn_settings(monkeypatch, FRONTDESK_CONFIG=str(empty))
    assert defaults["bind"] == "127.0.0.1:8000"
    assert 1 <= defaults["workers"] <= 4

    # A bad value ends the start with one line and exit status 2 (tests/app/test_misconfiguration)
    with pytest.raises(SystemExit) as stopped:
        _gunicorn_settings(monkeypatch, FRONTDESK_CONFIG=str(empty), FRONTDESK_WORKERS="many")
    assert stopped.value.code == 2


def test_gunicorn_itself_takes_the_settings(tmp_path: Path) -> None:
    env = {**os.environ, "FRONTDESK_BIND": "127.0.0.1:9200", "FRONTDESK_WORKERS": "3",
           "FRONTDESK_THREADS": "2", "FRONTDESK_LOG_LEVEL": "WARNING",
           "FRONTDESK_CONFIG": str(tmp_path / "empty.toml"),
           "FRONTDESK_INSTANCE_PATH": str(tmp_path / "instance")}
    env.pop("FRONTDESK_DATABASE_URL", None)
    (tmp_path / "empty.toml").write_text("")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    printed = subprocess.run([gunicorn, "-c", str(GUNICORN_CONF), "--print-config"], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    settings = {key.strip(): value.strip() for key, _, value in
                (line.partition(" = ") for line in printed.splitlines()) if value}
    assert {k: settings[k] for k in ("bind", "workers", "threads", "loglevel")} == {
        "bind": "['127.0.0.1:9200']", "workers": "3", "threads": "2", "loglevel": "warning"}


def test_a_jit_login_that_changes_no_membership_locks_no_group(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everyone signs in with the same popular groups: such logins must not queue on their rows."""
    for name in ("Everyone", "Engineering"):
        with UnitOfWork(db) as uow:
            services.create_group(uow, {"displayName": name}, (), actor=ACTOR)
    _jit_login(db, ("Everyone", "Engineering"), 1)
    locked: list[str] = []
    original = GroupRepository.get

    def get(self: GroupRepository, group_id: str, *, lock: bool = False) -> Group:
        if lock:
            locked.append(group_id)
        return original(self, group_id, lock=lock)

    monkeypatch.setattr(GroupRepository, "get", get)
    with db.read_session() as session:
        before = {g.display_name: g.version for g in session.execute(select(Group)).scalars()}
    _jit_login(db, ("Everyone", "Engineering"), 2)
    with db.read_session() as session:
        after = {g.display_name: g.version for g in session.execute(select(Group)).scalars()}
    assert locked == []
    assert after == before


def test_an_app_takes_a_shared_engine_and_leaves_it_open(settings: config.Settings,
                                                          tmp_path: Path) -> None:
    """``create_app(database=...)`` uses the database given; disposing of the app's database
    leaves a shared engine open for the others, and a database on another URL is refused."""
    url = settings.resolved_database_url
    engine = make_engine(url)
    try:
        shared = Database(url, engine=engine)
        application = create_app(settings, database=shared)
        assert get_db(application) is shared
        assert get_db(application).engine is engine
        get_db(application).dispose()
        with engine.connect() as conn:  # still usable: the app did not own it
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        other = Database(f"sqlite:///{tmp_path / 'other.db'}")
        with pytest.raises(ValueError, match="the settings name"):
            create_app(settings, database=other)
        other.dispose()
    finally:
        engine.dispose()
