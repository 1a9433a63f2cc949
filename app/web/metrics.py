"""Prometheus metrics: what the doors count, and the text a scrape of ``/metrics`` returns.

Under gunicorn every worker counts in its own files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``config/gunicorn_conf.py`` before the workers start) and a scrape, answered by any one worker,
adds them all up (prometheus_client's multiprocess mode). Without that variable (the CLI, the
tests' in-process apps) the counts are this process's own.

Labels are bounded: a route is Flask's URL rule (``/scim/v2/Users/<user_id>``), never the raw
path; methods outside the standard few are ``OTHER``; reasons are the codes the doors define.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from app.audit.chain import head_seq
from app.db import Database

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"  # a 404 for a URL no route knows: one label, whatever the path
log = logging.getLogger("frontdesk.metrics")
# The labelled children of the request metrics, by (route, method, status): bounded as those are.
_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

HTTP_REQUESTS = Counter(
    "frontdesk_http_requests", "HTTP requests answered, by route (URL rule), method and status.",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "frontdesk_http_request_duration_seconds",
    "Time from the first request hook to the response, by route and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
SCIM_OPERATIONS = Counter(
    "frontdesk_scim_operations",
    "SCIM operations by resource (users, groups, all), operation and status.",
    ["resource", "operation", "status"])
JIT_LOGINS = Counter(
    "frontdesk_jit_logins", "SAML sign-ins by outcome (allowed, denied) and reason code.",
    ["outcome", "reason"])
AUTH_FAILURES = Counter(
    "frontdesk_auth_failures",
    "Bearer credentials presented and refused (reason: malformed, invalid).", ["reason"])
# livesum: the workers alive now, added up (a dead worker's files go at child_exit).
DB_POOL_CHECKED_OUT = Gauge(
    "frontdesk_db_pool_checked_out", "Database connections checked out of the pools now.",
    multiprocess_mode="livesum")
DB_POOL_SIZE = Gauge(
    "frontdesk_db_pool_size", "Configured size of the database pools (all workers).",
    multiprocess_mode="livesum")


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    key = (route or UNMATCHED_ROUTE, method if method in METHODS else "OTHER", status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:  # labels() costs as much as the count itself: once per label set
        children = _REQUEST_CHILDREN[key] = (HTTP_REQUESTS.labels(key[0], key[1], str(status)),
                                             HTTP_LATENCY.labels(key[0], key[1]))
    children[0].inc()
    children[1].observe(seconds)


def scim_operation(kind: tuple[str, str] | None, status: int) -> None:
    """Count a SCIM operation ``kind`` = (resource, operation); None (a discovery endpoint):
    nothing."""
    if kind is not None:
        SCIM_OPERATIONS.labels(kind[0], kind[1], str(status)).inc()


def jit_login(outcome: str, reason: str) -> None:
    """Count a SAML sign-in: ``allowed`` (reason ``created`` or ``existing``) or ``denied``
    with the refusal's reason code."""
    JIT_LOGINS.labels(outcome, reason).inc()


def auth_failed(reason: str) -> None:
    """Count refused bearer credentials."""
    AUTH_FAILURES.labels(reason).inc()


def watch_pool(db: Database) -> None:
    """Report ``db``'s pool use in the pool gauges."""
    db.watch_pool(DB_POOL_CHECKED_OUT.inc, DB_POOL_SIZE.set)


class DatabaseCollector(Collector):
    """Values read from the database at scrape time: the audit chain's head (one row by
    primary key). With the database unreachable the gauge is left out, never a failed scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.db.read_session() as session:
                seq = head_seq(session)
        except Exception:  # noqa: BLE001 - any database failure: no value, the scrape goes on
            log.warning("metrics: the audit head could not be read", exc_info=True)
            return
        yield GaugeMetricFamily("frontdesk_audit_head_seq",
                                "Sequence number of the newest audit event.", value=seq)


class _ThisProcess(Collector):
    """This process's own metrics (no multiprocess folder), beside the database's values."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(db: Database, accept: str | None) -> tuple[bytes, str]:
    """Return the scrape body and its content type, in the format the scraper's ``Accept``
    asks for (Prometheus text 0.0.4 by default, OpenMetrics on request): every worker's
    counts, and the values read from the database now."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(db))
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
