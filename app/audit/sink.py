"""The SIEM sink: committed audit events (and signed checkpoints) appended to a file as JSON
lines."""

from __future__ import annotations

import json
import logging
import os

from app.audit.query import event_to_dict
from app.models import AuditEvent

log = logging.getLogger("frontdesk.audit")


def copy_to_sink(path: str, rows: list[AuditEvent]) -> None:
    """Append committed events to the SIEM file as JSON lines; never fail the caller.

    Lines from different workers may interleave out of ``seq`` order (each carries its
    ``seq``). The database stays the record: a failed copy is logged, not raised.
    """
    append_lines(path, [json.dumps(event_to_dict(row)) for row in rows],
                 what=f"events #{rows[0].seq}-#{rows[-1].seq}")


def append_lines(path: str, lines: list[str], *, what: str) -> bool:
    """Append ``lines`` in one ``write`` with ``O_APPEND`` (lines stay whole when several workers
    append at once); log and return False when the file cannot be written."""
    data = "".join(line + "\n" for line in lines).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError:
        log.exception("could not append to a file outside the database",
                      extra={"fields": {"path": path, "what": what}})
        return False
    return True
