"""The SIEM sink: committed audit events appended to a file as JSON lines."""

from __future__ import annotations

import json
import logging
import os

from app.audit.query import event_to_dict
from app.models import AuditEvent

log = logging.getLogger("frontdesk.audit")


def copy_to_sink(path: str, rows: list[AuditEvent]) -> None:
    """Append committed events to the SIEM file as JSON lines; never fail the caller.

    One ``write`` with ``O_APPEND`` per transaction keeps lines whole when several workers
    append at once; lines from different workers may interleave out of ``seq`` order (each
    carries its ``seq``). The database stays the record: a failed copy is logged, not raised.
    """
    data = "".join(json.dumps(event_to_dict(row)) + "\n" for row in rows).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError:
        log.exception("could not copy audit events to the sink file",
                      extra={"fields": {"first_seq": rows[0].seq, "last_seq": rows[-1].seq}})
