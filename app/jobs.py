"""Time-driven work inside the server: access sweeps, dormant-account rules (once a minute),
webhook deliveries, signed audit checkpoints and pruning of ended throttle windows, every
few seconds.

Each gunicorn worker runs one daemon thread (started by ``app.web.wsgi`` as the worker loads
the app), so ``make run`` needs no cron and no second process. Workers and instances may
all run it: every transition is a compare-and-set in the database and every delivery a lease,
so nothing is done twice. ``frontdesk access sweep`` and ``frontdesk lifecycle run`` run the
same work once, for cron.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from app.access.sweep import sweep
from app.audit.checkpoint import take_if_due
from app.db import Database
from app.db import is_unavailable
from app.lifecycle.dormant import RunResult
from app.lifecycle.dormant import run as run_dormant
from app.outbox import deliver_due
from app.throttle import prune

log = logging.getLogger("frontdesk.jobs")
# Seconds between two runs of the dormant rules in one worker (each reads every user once).
LIFECYCLE_EVERY = 60.0


@dataclass(frozen=True)
class JobsResult:
    expired: int
    started: int
    ended: int
    ending_soon: int
    delivered: int
    checkpoints: int
    throttle_pruned: int  # rows of failed authentications whose window had ended
    warned: int = 0
    deactivated: int = 0
    suspended: int = 0


def run_due(db: Database, *, lifecycle: bool = True) -> JobsResult:
    """Do once whatever is due; ``lifecycle=False`` leaves the dormant rules for a later tick
    (they read every user, so the loop runs them once a minute, not every few seconds)."""
    swept = sweep(db)
    dormant = run_dormant(db, db.lifecycle, db.admin_groups) if lifecycle else RunResult()
    delivered = deliver_due(db)
    checkpoints = take_if_due(db, db.checkpoints)
    return JobsResult(swept.expired, swept.started, swept.ended, swept.ending_soon, delivered,
                      checkpoints, prune(db), dormant.warned, dormant.deactivated,
                      dormant.suspended)


class BackgroundJobs:
    """A daemon thread running ``run_due`` every ``interval`` seconds until stopped."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db = db
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="frontdesk-jobs", daemon=True)

    def start(self) -> BackgroundJobs:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        last_lifecycle = 0.0
        while not self._stop.wait(self.interval):
            lifecycle = time.monotonic() - last_lifecycle >= LIFECYCLE_EVERY
            try:
                result = run_due(self.db, lifecycle=lifecycle)
                if lifecycle:
                    last_lifecycle = time.monotonic()
            except Exception as err:  # noqa: BLE001 - a database hiccup must not kill the loop
                if is_unavailable(err):  # an outage is not a bug: one line, no traceback
                    log.warning("background jobs: database unavailable; retrying at the next "
                                "tick", extra={"fields": {"error": type(err).__name__}})
                else:
                    log.exception("background jobs failed; retrying at the next tick")
                continue
            if any(vars(result).values()):
                log.info("background jobs", extra={"fields": vars(result)})
