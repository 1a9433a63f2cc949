"""Reading the audit log: filters, newest-first cursor pages, and streaming for exports.

A cursor is the ``seq`` of the last event on the page, opaque to clients: the next page is
"older than that", so events written meanwhile (always newer) never shift or repeat a page.
The usual filters are indexed: ``(column, seq)`` indexes on action, actor id, target id and
outcome let the database walk one in ``seq`` order and stop after one page; a target name is
looked up in the expression index on ``lower(target_label)`` (see ``_label_is``). The free text
(``q``) and the other filters read the log newest first until a page is full.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from app.audit.events import AuditAction
from app.db import casefold
from app.db import sqlite_lower_keys
from app.errors import InvalidInputError
from app.models import AuditAnchor
from app.models import AuditEvent
from app.models import AuditHead
from app.repository.common import contains_text
from app.repository.common import keyset_page
from app.repository.common import like_escape
from app.text import csv_cell

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every field is optional and they combine with AND."""

    actor_kind: str | None = None
    actor_id: str | None = None
    action: str | None = None  # exact, or a prefix when it ends with ":" or "*"
    target_kind: str | None = None
    target_id: str | None = None
    target: str | None = None  # an id or a label (userName, displayName), case-insensitive
    outcome: str | None = None
    reason: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # free text over actor and target labels

    def active(self) -> dict[str, Any]:
        """Return the filters that are set, for echoing back and building links."""
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Return the seq a cursor stands for; a cursor we did not issue raises InvalidInputError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s"):
            raise ValueError(cursor)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError("the cursor is not valid; start from the first page") from None


def _label_is(value: str, dialect: str) -> ColumnElement[bool]:
    """``target_label`` is ``value``, case-insensitively, through the expression index
    ``ix_audit_events_target_label_lower`` on ``lower(target_label)``.

    ``casefold`` is ``lower()`` on PostgreSQL, so the index serves it as it stands. SQLite's
    ``lower()`` only folds ASCII: there the label's ``lower()`` is looked up among the keys of
    every spelling that casefolds like ``value`` (``app.db.sqlite_lower_keys``), and only a value
    with too many spellings makes SQLite fold every label in Python.
    """
    keys = sqlite_lower_keys(value) if dialect == "sqlite" else None
    if keys is not None:
        return func.lower(AuditEvent.target_label).in_(keys)
    return casefold(AuditEvent.target_label) == casefold(value)


def _conditions(f: AuditFilter, dialect: str) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.actor_kind:
        conds.append(AuditEvent.actor_kind == f.actor_kind)
    if f.actor_id:
        conds.append(AuditEvent.actor_id == f.actor_id)
    if f.action:
        if f.action.endswith(("*", ":")):
            prefix = f.action.rstrip("*")
            conds.append(AuditEvent.action.like(like_escape(prefix) + "%", escape="\\"))
        else:
            conds.append(AuditEvent.action == f.action)
    if f.target_kind:
        conds.append(AuditEvent.target_kind == f.target_kind)
    if f.target_id:
        conds.append(AuditEvent.target_id == f.target_id)
    if f.target:
        conds.append(or_(AuditEvent.target_id == f.target, _label_is(f.target, dialect)))
    if f.outcome:
        conds.append(AuditEvent.outcome == f.outcome)
    if f.reason:
        conds.append(AuditEvent.reason == f.reason)
    if f.request_id:
        conds.append(AuditEvent.request_id == f.request_id)
    if f.since:
        conds.append(AuditEvent.occurred_at >= f.since)
    if f.until:
        conds.append(AuditEvent.occurred_at < f.until)
    if f.text:
        conds.append(or_(contains_text(AuditEvent.actor_label, f.text),
                         contains_text(AuditEvent.target_label, f.text)))
    return conds


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True)
class AuditPage:
    """One page of events, newest first, and the cursor of the next (older) page."""

    events: list[AuditEvent]
    next_cursor: str | None


def list_events(session: Session, f: AuditFilter, *, cursor: str | None = None,
                limit: int = 50) -> AuditPage:
    """Return one page of events matching ``f``, newest first."""
    stmt = select(AuditEvent).where(*_conditions(f, _dialect(session)))
    rows, last = keyset_page(session, stmt, AuditEvent.seq,
                             decode_cursor(cursor) if cursor else None,
                             max(1, min(limit, MAX_PAGE)), lambda row: row[0].seq,
                             descending=True)
    return AuditPage([row[0] for row in rows], encode_cursor(last) if last is not None else None)


COUNT_CAP = 10_000  # a filtered count stops here: "more than 10,000" costs what 10,000 does


def count_events(session: Session, f: AuditFilter, *, cap: int = COUNT_CAP) -> int:
    """Return how many events match ``f``, for the total above a page; over ``cap`` matches
    it returns ``cap + 1`` ("more than"). The whole log's count is exact and
    costs nothing: events are numbered without gaps from the prune anchor to the chain head.
    """
    if not f.active():
        head = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar()
        anchor = session.execute(select(AuditAnchor.seq).where(AuditAnchor.id == 1)).scalar()
        return int(head or 0) - int(anchor or 0)
    matching = (select(AuditEvent.seq).where(*_conditions(f, _dialect(session)))
                .limit(cap + 1).subquery())
    total = session.execute(select(func.count()).select_from(matching)).scalar_one()
    return int(total)


def membership_events(session: Session, member_id: str, *, limit: int = 20) -> list[AuditEvent]:
    """Return the newest membership changes (added to, removed from a group) of ``member_id``.

    Those events target the group and name the member in ``changes`` (``{"member": [old,
    new]}``). PostgreSQL finds them by jsonb containment in ``ix_audit_events_member`` (GIN,
    migration 0010); SQLite searches the JSON text for the id (a UUID, part of no other value).
    """
    actions = [AuditAction.GROUP_MEMBER_ADD.value, AuditAction.GROUP_MEMBER_REMOVE.value]
    if _dialect(session) == "postgresql":
        names: ColumnElement[bool] = type_coerce(AuditEvent.changes, JSONB).contains(
            {"member": [member_id]})
    else:
        names = cast(AuditEvent.changes, Text).like(
            '%"' + like_escape(member_id) + '"%', escape="\\")
    stmt = (select(AuditEvent).where(AuditEvent.action.in_(actions), names)
            .order_by(AuditEvent.seq.desc()).limit(max(1, min(limit, MAX_PAGE))))
    return list(session.execute(stmt).scalars())


def get_event(session: Session, event_id: str) -> AuditEvent | None:
    """Return one event by its id (or by its ``seq`` number), or None."""
    stmt = select(AuditEvent).where(AuditEvent.id == event_id)
    if event_id.isdigit():
        stmt = select(AuditEvent).where(or_(AuditEvent.id == event_id,
                                            AuditEvent.seq == int(event_id)))
    return session.execute(stmt).scalars().first()


def stream_events(session: Session, f: AuditFilter, *, batch: int = 2000,
                  after_seq: int = 0) -> Iterator[AuditEvent]:
    """Yield every matching event oldest first, in batches: constant memory for any size."""
    conds = _conditions(f, _dialect(session))
    last = after_seq
    while True:
        rows = list(session.execute(
            select(AuditEvent).where(*conds, AuditEvent.seq > last)
            .order_by(AuditEvent.seq).limit(batch)
        ).scalars())
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def event_to_dict(row: AuditEvent) -> dict[str, Any]:
    """Render an event for the API, exports and the CLI."""
    return {
        "id": row.id,
        "seq": row.seq,
        "occurredAt": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "actor": {"kind": row.actor_kind, "id": row.actor_id, "label": row.actor_label},
        "action": row.action,
        "target": {"kind": row.target_kind, "id": row.target_id, "label": row.target_label},
        "outcome": row.outcome,
        "reason": row.reason,
        "changes": row.changes,
        "requestId": row.request_id,
        "sourceIp": row.source_ip,
        "userAgent": row.user_agent,
        "hash": row.hash,
        "prevHash": row.prev_hash,
    }


CSV_FIELDS = ("seq", "id", "occurredAt", "actor.kind", "actor.id", "actor.label", "action",
              "target.kind", "target.id", "target.label", "outcome", "reason", "changes",
              "requestId", "sourceIp", "userAgent", "prevHash", "hash")


def csv_row(event: dict[str, Any]) -> list[Any]:
    """Flatten an ``event_to_dict`` result into CSV cells (nested values as JSON), each safe
    to open in a spreadsheet (app.text.csv_cell: no formulas, nothing unprintable)."""
    row = []
    for name in CSV_FIELDS:
        head, _, tail = name.partition(".")
        value = event[head][tail] if tail else event[head]
        row.append(csv_cell(json.dumps(value) if isinstance(value, dict | list) else value))
    return row


FILTER_PARAMS = ("actor_kind", "actor_id", "action", "target_kind", "target_id", "target",
                 "outcome", "reason", "request_id", "q")


def parse_time(name: str, value: str | None) -> datetime | None:
    """Read an ISO 8601 time (``Z`` or offset; a bare date means midnight UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"'{name}' must be an ISO 8601 time, e.g. 2026-01-31T12:00Z"
                                ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filter_from_args(args: Mapping[str, Any]) -> AuditFilter:
    """Build an ``AuditFilter`` from query parameters (the API's and the console's)."""
    values = {k: (args.get(k) or "").strip() or None for k in FILTER_PARAMS}
    actor = (args.get("actor") or "").strip()
    if actor and ":" in actor and not values["actor_kind"]:
        values["actor_kind"], _, rest = actor.partition(":")
        values["actor_id"] = values["actor_id"] or rest or None
    elif actor and not values["actor_id"]:
        values["actor_id"] = actor
    for key, value in values.items():
        if value is not None and len(value) > 512:
            raise InvalidInputError(f"'{key}' is too long")
    text = values.pop("q")
    return AuditFilter(**values, text=text,
                       since=parse_time("since", args.get("since")),
                       until=parse_time("until", args.get("until")))
