"""What text from outside may hold: the one rule every door applies.

- **NUL** (U+0000) can be stored by no column: PostgreSQL refuses it in ``text`` and ``jsonb``.
  The SCIM door refuses it anywhere in a request (``has_nul``); SCIM values may otherwise hold
  any character, tabs and newlines included (a formatted address has lines).
- **Control characters** are Unicode's category Cc, exactly: C0 (U+0000-U+001F), DEL (U+007F)
  and C1 (U+0080-U+009F, where U+009B is a terminal's CSI). They never belong in a one-line
  value an IdP sends (a NameID, a mapped attribute, a group name) or in a redirect target,
  where they could forge a log line or drive a terminal, so those are refused when they hold
  one (``has_control``). Format characters (Cf) are not refused: the zero-width joiner and
  non-joiner belong in Persian and Indic names.
"""

from __future__ import annotations


def is_control(char: str) -> bool:
    """Return whether ``char`` is a control character (C0, DEL or C1; Unicode category Cc)."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def has_control(text: str) -> bool:
    """Return whether ``text`` holds a control character (C0, DEL or C1)."""
    return any(is_control(char) for char in text)


def has_nul(text: str) -> bool:
    """Return whether ``text`` holds U+0000, which no database column stores."""
    return "\x00" in text
