"""JSON log lines for every record of the process, with the request's ids when there is one.

One formatter for Frontdesk's own loggers, the libraries' (pysaml2, SQLAlchemy, ...), Python
warnings, uncaught errors and gunicorn's own lines (``config/gunicorn_conf.py`` names
``app.logs.JsonFormatter`` in its ``logconfig_dict``): an operator's log pipeline parses every
line the same way. No Flask here: gunicorn's master loads this module before any app exists.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from contextvars import ContextVar
from datetime import UTC
from datetime import datetime
from types import TracebackType
from typing import Any

# The ids of the request this thread serves (request_id, trace_id, ...); the web shell sets and
# resets it around each request, so a library's record written meanwhile carries them too.
REQUEST_FIELDS: ContextVar[dict[str, str] | None] = ContextVar("frontdesk_request_fields",
                                                               default=None)
uncaught = logging.getLogger("frontdesk.uncaught")


class JsonFormatter(logging.Formatter):
    """One JSON object a line; extra fields given as ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,  # which gunicorn worker (or the master) wrote it
        }
        entry.update(REQUEST_FIELDS.get() or {})
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii: a lone surrogate in a message must not make the line unwritable.
        return json.dumps(entry, default=str)


def json_handler() -> logging.Handler:
    """Return a stderr handler writing JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    return handler


def library_level(level: str) -> str:
    """Return the level for the libraries' records (the root logger): WARNING and above, all of
    them at DEBUG. Their INFO lines (alembic's plugins, xmlschema's loads, per worker) would
    drown the service's own."""
    return "DEBUG" if level.upper() == "DEBUG" else max(
        level.upper(), "WARNING", key=logging.getLevelName)


def configure(level: str) -> None:
    """Make every record of the process a JSON line on stderr: a root handler (unless gunicorn's
    ``logconfig_dict`` put one there already), Python warnings, uncaught exceptions."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.addHandler(json_handler())
    root.setLevel(library_level(level))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException,
                  traceback: TracebackType | None) -> None:
    uncaught.critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or isinstance(args.exc_value, SystemExit):
        return
    thread = args.thread.name if args.thread is not None else None
    uncaught.critical("uncaught exception in a thread", extra={"fields": {"thread": thread}},
                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
