"""Where a browser may be sent after sign-in: never an open redirect.

The next path and the RelayState come from the browser (anyone can post a RelayState with a
valid assertion), so only a path on this site, or an https URL of an allowed host, is followed.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from app.text import has_control

MAX_LENGTH = 2048


def safe_next(value: str | None, allowed_hosts: Collection[str] = ()) -> str | None:
    """Return ``value`` when it is a same-origin path (or an allowed host's https URL), else None.

    Refused: ``//host``, ``/\\host``, any backslash, any scheme (``javascript:``, ``https:``
    unless the host is allowed), control characters and whitespace, and anything very long.
    """
    if not value or len(value) > MAX_LENGTH:
        return None
    if has_control(value) or any(c.isspace() for c in value) or "\\" in value:
        return None
    parts = urlsplit(value)
    if value.startswith("/") and not value.startswith("//"):
        if parts.scheme or parts.netloc:
            return None
        return value
    if parts.scheme == "https" and parts.hostname and parts.hostname in allowed_hosts \
            and not parts.username and not parts.password:
        return value
    return None
