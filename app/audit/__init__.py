"""The audit log, by job.

- ``events``: the vocabulary (``AuditAction``), who acted (``Actor``) and where from.
- ``chain``: recording in the caller's transaction, sealing into the hash chain, verifying it.
- ``query``: filters, pages and exports for the console, the API and the CLI.
- ``sink``: the SIEM copy of committed events (JSON lines).
- ``prune``: dropping old events behind an anchor; ``triggers``: append-only in the database.
"""
