"""Engine, sessions and the declarative base.

SQLite needs help to behave like a server database under several gunicorn workers: WAL so readers
never wait for the writer, a busy timeout instead of instant "database is locked", foreign keys,
and ``BEGIN IMMEDIATE`` for write transactions so two writers queue up instead of deadlocking
when both upgrade a read lock (the audit chain reads its head, then appends).
"""

from __future__ import annotations

import functools
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Connection
from sqlalchemy import DateTime
from sqlalchemy import Engine
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator

from app.clock import Clock
from app.clock import SystemClock
from app.lifecycle.rules import LifecycleConfig


class UTCDateTime(TypeDecorator[datetime]):
    """Store timezone-aware UTC datetimes and always hand back aware ones (SQLite drops tz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class casefold(GenericFunction[str]):  # noqa: N801 - a SQL function, named like one
    """``casefold(x)``: case-insensitive form of a text, the same on both sides of a comparison.

    PostgreSQL's ``lower()`` follows the database's Unicode ctype; SQLite's built-in ``lower()``
    only knows ASCII, so on SQLite this is Python's ``str.casefold`` registered on every
    connection. Compare ``casefold(column)`` with ``casefold(value)``, never with a value folded
    in Python: the two foldings differ (``ß``).
    """

    type = String()
    name = "casefold"
    inherit_cache = True


@compiles(casefold)
def _casefold_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(casefold, "sqlite")
def _casefold_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"fd_casefold({compiler.process(element.clauses, **kw)})"


# str.casefold maps each character on its own, to one to three characters; no character from
# U+1F000 on changes (the last cased script, Adlam, ends at U+1E94B).
_CASED_BELOW = 0x1F000
MAX_LOWER_KEYS = 256


@functools.cache
def _unfoldings() -> dict[str, tuple[str, ...]]:
    """Return each casefolded piece -> the other characters that casefold to it, leaving out
    ASCII capitals (SQLite's ``lower()`` folds those itself)."""
    pieces: dict[str, list[str]] = {}
    for code in range(_CASED_BELOW):
        char = chr(code)
        folded = char.casefold()
        if folded != char and not "A" <= char <= "Z":
            pieces.setdefault(folded, []).append(char)
    return {piece: tuple(chars) for piece, chars in pieces.items()}


def sqlite_lower_keys(value: str, limit: int = MAX_LOWER_KEYS) -> list[str] | None:
    """Return what SQLite's ``lower()`` (ASCII letters only) makes of every text whose
    ``casefold`` is ``value``'s, or None when there are more than ``limit``.

    ``lower(column) IN (keys)`` then finds exactly the rows ``casefold(column) =
    casefold(value)`` finds, through an index on ``lower(column)`` instead of calling Python
    on every row. ``Strauß`` gives ``strauss``, ``strauß``, ``strauẞ`` and the spellings with a
    long s (``ſ``) or an ``ﬆ`` ligature; a name without s, k or f mostly gives one key.
    """
    folded = value.casefold()
    unfold = _unfoldings()
    # keys[i]: the keys of every text that casefolds to folded[:i].
    keys: list[set[str]] = [{""}] + [set() for _ in folded]
    for end in range(1, len(folded) + 1):
        for start in range(max(0, end - 3), end):
            piece = folded[start:end]
            chars = unfold.get(piece, ())
            if end - start == 1:
                chars = (piece, *chars)  # a casefolded character folds to itself
            keys[end].update(prefix + char for prefix in keys[start] for char in chars)
        if len(keys[end]) > limit:
            return None
    return sorted(keys[-1])


class json_rows(GenericFunction[Any]):  # noqa: N801 - a SQL function, named like one
    """``json_rows(a, b, ...)``: aggregate the rows of a subquery into one JSON array of arrays
    (``[[a, b], ...]``), so a page can carry each row's children in the same statement.

    No rows give ``[]`` on SQLite and NULL on PostgreSQL; the order of the rows is unspecified.
    """

    type = JSON()
    name = "json_rows"
    inherit_cache = True


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


def _sqlite_casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


class Base(DeclarativeBase):
    """The one declarative base; every table hangs off its metadata."""


def utcnow() -> datetime:
    """Return the current time in UTC, aware."""
    return datetime.now(UTC)


def new_id() -> str:
    """Return a new resource id: a random UUID, as SCIM wants ids opaque and stable."""
    return str(uuid.uuid4())


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver (``postgresql://...``)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def display_url(url: str) -> str:
    """Return ``url`` fit to print: the password, if any, shown as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL SQLAlchemy can read: show no credentials at all
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else "(not a database URL)"


CONNECT_TIMEOUT = 5  # seconds, PostgreSQL; the URL's own ``?connect_timeout=`` wins


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-dialect settings Frontdesk relies on."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    # A dead connection in the pool is replaced when taken, not found out by a failed request.
    kwargs.setdefault("pool_pre_ping", True)
    # A server that drops packets (rather than refusing) must not hold a request until the
    # worker is killed: give up connecting after a few seconds, and the door answers 503.
    if "connect_timeout" not in url:
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is off).
        dbapi_connection.isolation_level = None
        dbapi_connection.create_function("fd_casefold", 1, _sqlite_casefold, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def _begin_with(engine: Engine, statement: str) -> Engine:
    """Open this engine's SQLite transactions with ``statement`` (``BEGIN IMMEDIATE`` takes the
    write lock up front, so two writers queue instead of deadlocking when both upgrade a read
    lock; a plain ``BEGIN`` gives a snapshot across statements).

    The listener goes on the derived engine only: reads on the base engine run in autocommit
    (each SELECT sees the latest commit, as on PostgreSQL's READ COMMITTED) and, with no
    connection events on it, skip SQLAlchemy's event dispatch on every statement.
    """

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    return engine


# Engines whose pool use is reported (``Database.watch_pool``).
_WATCHED_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
class DatabaseUnreachableError(RuntimeError):
    """The settings' database cannot be opened; the message says why and what to check, in
    one line (the CLI and the server start print it instead of a traceback)."""


def _describe_connect_failure(url: str, err: DBAPIError) -> str:
    """One line for a failed connection: the driver's first line, the URL without its password,
    and the likely fix."""
    shown = make_url(url).render_as_string(hide_password=True)
    reason = " ".join(str(err.orig).split()) if err.orig is not None else str(err)
    reason = reason.removeprefix("connection failed: ")
    lowered = reason.lower()
    if "does not exist" in lowered and "database" in lowered:
        fix = "create that database or fix FRONTDESK_DATABASE_URL"
    elif "refused" in lowered or "could not connect" in lowered or "timeout" in lowered:
        fix = "start the database server or fix the host and port in FRONTDESK_DATABASE_URL"
    elif "password" in lowered or "authentication" in lowered:
        fix = "fix the user or password in FRONTDESK_DATABASE_URL"
    elif "unable to open database file" in lowered:
        fix = "make the folder writable or fix FRONTDESK_DATABASE_URL / FRONTDESK_INSTANCE_PATH"
    else:
        fix = "check FRONTDESK_DATABASE_URL"
    return f"database {shown} unreachable: {reason}; {fix}"


class Database:
    """The engine and the two session factories (read, write) of one app."""

    def __init__(self, url: str, *, engine: Engine | None = None, **engine_kwargs: Any) -> None:
        """Open ``url``, or wrap ``engine``, an engine already open on it whose pool and
        compiled-statement cache this database then shares (a process that builds many apps on
        one database: the test suite). Whoever made a shared engine disposes of it."""
        self.url = url
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self.read_session = sessionmaker(self.engine, expire_on_commit=False)
        # The engine of every write transaction (``write_session``, and bulk loads that bypass
        # the ORM): it shares the pool; on SQLite it takes the write lock up front.
        self.write_engine = self.engine.execution_options()
        if self.dialect == "sqlite":
            _begin_with(self.write_engine, "BEGIN IMMEDIATE")
        self.write_session = sessionmaker(self.write_engine, expire_on_commit=False)
        # One consistent view across many statements (verifying the audit chain while writers
        # append): a deferred transaction on SQLite, REPEATABLE READ on PostgreSQL.
        snapshot_engine = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.dialect == "postgresql"
            else _begin_with(self.engine.execution_options(), "BEGIN")
        )
        self.snapshot_session = sessionmaker(snapshot_engine, expire_on_commit=False)
        # Where committed audit events are also appended as JSON lines ("" = nowhere).
        self.audit_log_file = ""
        # What time-driven decisions read as "now" (grant expiry, deadlines); tests freeze it.
        self.clock: Clock = SystemClock()
        # Webhook endpoints the outbox writes to, by name (``app.outbox.Endpoint``).
        self.webhooks: dict[str, Any] = {}
        # Where signed audit checkpoints are made and kept (``app.audit.checkpoint``); None:
        # not scheduled (a database opened without settings).
        self.checkpoints: Any = None
        # The dormant-account rules the time-driven work runs, and who counts as an admin (the
        # rules may exclude admins); both from the settings, set by the app factory.
        self.lifecycle = LifecycleConfig()
        self.admin_groups: tuple[str, ...] = ()

    def read_connection(self) -> Connection:
        """Return a connection for a request's reads, in autocommit.

        On PostgreSQL that saves the BEGIN and ROLLBACK round trips around a request's few
        SELECTs, each of which sees the latest commit just as under READ COMMITTED; SQLite
        reads run in autocommit already. Set per connection, not with an engine option, which
        would put an event listener on every statement.
        """
        connection = self.engine.connect()
        if self.dialect == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection

    def watch_pool(self, checked_out: Callable[[int], None], size: Callable[[int], None]
                   ) -> None:
        """Report pool use: ``checked_out(+1/-1)`` at each checkout and checkin, ``size(n)``
        now. Once per engine (the tests build many databases on one shared engine); the
        listeners stay on the engine, so a pool recreated by ``dispose`` keeps them."""
        pool_size = getattr(self.engine.pool, "size", None)
        size(pool_size() if callable(pool_size) else 0)
        if self.engine in _WATCHED_ENGINES:
            return
        _WATCHED_ENGINES.add(self.engine)
        event.listen(self.engine, "checkout", lambda *_args: checked_out(1))
        event.listen(self.engine, "checkin", lambda *_args: checked_out(-1))

    def check_connection(self) -> None:
        """Open one connection and return it to the pool, so that a wrong URL or a database
        that is down stops a start with one line, not the first request with a traceback.

        :raise DatabaseUnreachableError: naming the database (never its password) and the fix.
        """
        try:
            with self.engine.connect():
                pass
        except DBAPIError as err:
            raise DatabaseUnreachableError(_describe_connect_failure(self.url, err)) from err

    def dispose(self) -> None:
        """Close every pooled connection (after fork, or at shutdown); a shared engine stays
        open for the others."""
        if self._owns_engine:
            self.engine.dispose()


def is_unavailable(err: BaseException) -> bool:
    """Tell whether ``err`` means the database cannot be reached right now (server down,
    connection refused or cut, pool exhausted, SQLite file unopenable or locked), as opposed to
    a bad statement: the doors answer 503 with ``Retry-After`` instead of a 500.

    SQLAlchemy wraps every driver error; ``OperationalError`` is the DB-API's class for errors
    "not necessarily under the control of the programmer" (disconnects, timeouts, locks), and a
    ``DBAPIError`` whose connection was invalidated is a disconnect whatever its class.
    """
    if isinstance(err, exc.OperationalError | exc.TimeoutError | exc.DisconnectionError):
        return True
    return isinstance(err, exc.DBAPIError) and err.connection_invalidated
