"""The core's SQL for users, groups and memberships, by job.

- ``compile``: neutral criteria (``app.query``) → SQL expressions; unknown paths are refused.
- ``search``: the read road of SCIM lists and lookups (one statement per filter shape, cached).
- ``accounts``: the repositories of users, groups and memberships that a ``UnitOfWork``
  carries for writes; reads use them on a read session.
- ``browse``: the console's keyset-paged lists.
- ``common``: what they (and the audit log's reader) share: the case-insensitive key, LIKE
  patterns, the unique-constraint flush, keyset pages.
"""
