"""How a secret we must recognise but never keep is stored: its SHA-256, in hex.

API tokens, admin login links and the browser binding of a SAML login are random values of 256
bits when we make them, so a plain (unsalted, fast) hash is enough: there is nothing to guess.
"""

from __future__ import annotations

import hashlib


def sha256_hex(secret: str) -> str:
    """Return the hex SHA-256 of ``secret`` (UTF-8)."""
    return hashlib.sha256(secret.encode()).hexdigest()
