"""Outbound webhooks through an outbox: written with the change, delivered after the commit.

A change that announces something (an access request created, a grant ended) adds one outbox
row per subscribed endpoint in its own transaction, so a crash or a restart loses none. The
deliverer claims a due row with a compare-and-set lease (one instance wins it), posts it, and
marks it delivered; a failure is retried with exponential back-off. A crash between the post
and the mark can send a row twice: every delivery carries ``X-Frontdesk-Delivery`` (the row's
``event_id``) for receivers to drop repeats.

Endpoints come from the TOML file and only those URLs are ever called::

    [webhooks.sre-slack]
    url = "https://hooks.slack.com/services/..."
    secret = "..."            # or secret_file = "/run/secrets/frontdesk-webhook"
    format = "slack"          # json (default) | slack
    topics = ["access.*"]     # default: everything
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy import update

from app.db import Database
from app.models import OutboxMessage

log = logging.getLogger("frontdesk.webhooks")
FORMATS = ("json", "slack")
LEASE = timedelta(seconds=60)  # a claimed row is retried by anyone after this
FIRST_RETRY = timedelta(seconds=10)
LAST_RETRY = timedelta(hours=1)
_KEYS = frozenset({"url", "secret", "secret_file", "format", "topics", "max_attempts",
                   "timeout"})


class WebhookConfigError(ValueError):
    """A ``[webhooks.<name>]`` table is wrong; the message names the key."""


@dataclass(frozen=True)
class Endpoint:
    """One configured webhook receiver."""

    name: str
    url: str
    secret: str
    format: str = "json"
    topics: tuple[str, ...] = ("*",)
    max_attempts: int = 12
    timeout: float = 5.0

    def wants(self, topic: str) -> bool:
        return any(fnmatch.fnmatchcase(topic, pattern) for pattern in self.topics)


def load_endpoints(extra: Mapping[str, Any]) -> dict[str, Endpoint]:
    """Validate the TOML file's ``[webhooks.*]`` tables."""
    tables = extra.get("webhooks", {})
    if not isinstance(tables, Mapping):
        raise WebhookConfigError("webhooks: expected tables [webhooks.<name>]")
    endpoints = {}
    for name, table in tables.items():
        where = f"webhooks.{name}"
        if not isinstance(table, Mapping):
            raise WebhookConfigError(f"{where}: expected a table")
        for key in table:
            if key not in _KEYS:
                raise WebhookConfigError(f"{where}.{key}: unknown key "
                                         f"(known: {', '.join(sorted(_KEYS))})")
        url = table.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise WebhookConfigError(f"{where}.url: an http:// or https:// URL is required")
        secret = table.get("secret")
        if "secret_file" in table:
            try:
                secret = Path(str(table["secret_file"])).read_text().strip()
            except OSError as err:
                raise WebhookConfigError(f"{where}.secret_file: cannot read it ({err.strerror})"
                                         ) from None
        if not isinstance(secret, str) or len(secret) < 16:
            raise WebhookConfigError(f"{where}.secret: at least 16 characters, used to sign "
                                     "every delivery (or secret_file)")
        fmt = table.get("format", "json")
        if fmt not in FORMATS:
            raise WebhookConfigError(f"{where}.format: one of {', '.join(FORMATS)}")
        topics = table.get("topics", ["*"])
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise WebhookConfigError(f"{where}.topics: expected a list of topics (\"access.*\")")
        attempts = table.get("max_attempts", 12)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 50:
            raise WebhookConfigError(f"{where}.max_attempts: a whole number from 1 to 50")
        timeout = table.get("timeout", 5)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or not 0 < timeout <= 60:
            raise WebhookConfigError(f"{where}.timeout: seconds, more than 0 and at most 60")
        endpoints[name] = Endpoint(str(name), url, secret, fmt, tuple(topics), attempts,
                                   float(timeout))
    return endpoints


def enqueue(session: Any, endpoints: Mapping[str, Endpoint], topic: str,
            payload: dict[str, Any], now: datetime) -> int:
    """Add one row per endpoint that wants ``topic``, in the caller's transaction."""
    rows = [OutboxMessage(endpoint=e.name, topic=topic, payload=payload, created_at=now,
                          next_attempt_at=now, attempts=0)
            for e in endpoints.values() if e.wants(topic)]
    session.add_all(rows)
    return len(rows)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Frontdesk-Signature`` value: HMAC-SHA256 of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def render(endpoint: Endpoint, message: OutboxMessage) -> bytes:
    """Return the body sent to ``endpoint``: our JSON, or a Slack-compatible message."""
    if endpoint.format == "slack":
        text = message.payload.get("summary") or message.topic
        return json.dumps({"text": f"[Frontdesk] {text}"}).encode()
    return json.dumps({"id": message.event_id, "topic": message.topic,
                       "created_at": message.created_at.isoformat(),
                       "data": message.payload}).encode()


Poster = Callable[[Endpoint, bytes, dict[str, str]], None]


def http_post(endpoint: Endpoint, body: bytes, headers: dict[str, str]) -> None:
    """POST ``body``; any answer but 2xx, or no answer in time, raises ``OSError``."""
    request = urllib.request.Request(endpoint.url, data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"HTTP {response.status}")
    except urllib.error.HTTPError as err:
        raise OSError(f"HTTP {err.code}") from None


def backoff(attempts: int) -> timedelta:
    """Wait before try ``attempts + 1``: 10 s, 20 s, 40 s, ... at most an hour."""
    delay: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 20))
    return min(delay, LAST_RETRY)


def _claim(db: Database, now: datetime) -> OutboxMessage | None:
    """Lease the oldest due row to this process (compare-and-set), or None."""
    with db.write_session() as session:
        stmt = (select(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None),
                       OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1))
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = session.execute(stmt).scalar_one_or_none()
        if row is None:
            return None
        won = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.attempts == row.attempts,
                   OutboxMessage.delivered_at.is_(None))
            .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
        if won != 1:
            return None
        session.refresh(row)
        session.expunge(row)
        return row


def deliver_due(db: Database, *, post: Poster = http_post, limit: int = 100) -> int:
    """Deliver up to ``limit`` due rows; return how many were delivered."""
    delivered = 0
    for _ in range(limit):
        now = db.clock.now()
        row = _claim(db, now)
        if row is None:
            break
        endpoint = db.webhooks.get(row.endpoint)
        error: str | None
        if endpoint is None:
            error = "the endpoint is no longer configured"
        else:
            body = render(endpoint, row)
            stamp = int(time.time())
            headers = {"X-Frontdesk-Delivery": row.event_id, "X-Frontdesk-Topic": row.topic,
                       "X-Frontdesk-Timestamp": str(stamp),
                       "X-Frontdesk-Signature": sign(endpoint.secret, stamp, body)}
            try:
                post(endpoint, body, headers)
                error = None
            except OSError as err:
                error = str(err)[:500] or err.__class__.__name__
        values: dict[str, Any]
        done = db.clock.now()
        if error is None:
            values = {"delivered_at": done, "last_error": None}
            delivered += 1
        elif endpoint is None or row.attempts >= endpoint.max_attempts:
            values = {"failed_at": done, "last_error": error}
            log.warning("webhook delivery gave up", extra={"fields": {
                "endpoint": row.endpoint, "topic": row.topic, "attempts": row.attempts}})
        else:
            values = {"next_attempt_at": done + backoff(row.attempts), "last_error": error}
        with db.write_session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                            .values(**values))
            session.commit()
    return delivered
