"""The core's SQL for users, groups and memberships, by job.

- ``compile``: neutral criteria (``app.query``) → SQL expressions; unknown paths are refused.
- ``search``: the read road of SCIM lists and lookups (one statement per filter shape, cached).
- ``accounts``: the write-side repositories a ``UnitOfWork`` carries.
- ``browse``: the console's keyset-paged lists.
- ``common``: the case-insensitive key and LIKE escaping they share.
"""
