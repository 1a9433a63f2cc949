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
- **Unencodable text**: a lone UTF-16 surrogate (``"\\ud800"`` in JSON) has no UTF-8 form, so no
  database can store it and no response can carry it (``is_encodable``).
- **JSON values** a door stores (``json_problem``) hold only text the store keeps exactly:
  encodable strings without NUL, finite numbers (integers within 64 bits, decimals below 2^53
  in magnitude: PostgreSQL's ``jsonb`` reads a larger decimal back as an integer, SQLite's JSON
  functions a larger integer as a float) and at most ``MAX_DEPTH`` levels of nesting, a depth
  that parsing, PATCH, PUT, filters and rendering all handle.
- **Printing** stored text to a terminal or a CSV file escapes what is not printable
  (``printable``), and a CSV cell never starts a formula (``csv_cell``).
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32
MAX_INTEGER = 2**63 - 1
MIN_INTEGER = -(2**63)
MAX_DECIMAL = 2.0**53
_JOINERS = "\u200c\u200d"


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



def is_encodable(text: str) -> bool:
    """Return whether ``text`` has a UTF-8 form (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """Return ``text`` safe to write to a terminal or a CSV cell: every character that is not
    printable (controls such as ESC and CSI, bidi overrides, line separators, lone surrogates)
    as its ``\\x1b``-style escape. The zero-width (non-)joiners stay: Persian and Indic names
    hold them."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in _JOINERS
        else char.encode("unicode_escape", "backslashreplace").decode("ascii")
        for char in text)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Return a CSV cell that a spreadsheet shows as text: non-printable characters escaped
    (``printable``) and a leading ``=``, ``+``, ``-``, ``@``, tab or CR neutralised with a ``'``
    (OWASP's advice against CSV formula injection). Anything but text is left as it is."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if value.startswith(FORMULA_STARTS) else text


def _string_problem(text: str) -> str | None:
    if has_nul(text):
        return "may not contain NUL (\\u0000) characters"
    if not is_encodable(text):
        return "holds a lone UTF-16 surrogate, which is not text"
    return None


def _number_problem(value: int | float) -> str | None:
    if isinstance(value, int):
        if not MIN_INTEGER <= value <= MAX_INTEGER:
            return "is an integer out of range (64 bits)"
        return None
    if not math.isfinite(value):
        return "must be a finite number"
    if abs(value) >= MAX_DECIMAL:
        return "is a decimal out of range (magnitude 2^53 or more)"
    return None


def json_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """Return ``(path, reason)`` for the first value in a parsed JSON document the store cannot
    keep exactly (see the module docstring), or None. Iterative: any depth is safe to check."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            reason = _string_problem(item)
        elif isinstance(item, bool) or item is None:
            reason = None
        elif isinstance(item, int | float):
            reason = _number_problem(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return where or "body", f"nests deeper than {MAX_DEPTH} levels"
            reason = None
            if isinstance(item, list):
                stack.extend((v, f"{where}[{i}]", depth + 1)
                             for i, v in reversed(list(enumerate(item))))
                continue
            for key in reversed(list(item)):
                label = f"{where}.{key}" if where else str(key)
                key_reason = _string_problem(key) if isinstance(key, str) else None
                if key_reason is not None:
                    return printable(label), f"has a name that {key_reason}"
                stack.append((item[key], label, depth + 1))
        else:
            reason = None
        if reason is not None:
            return printable(where or "body"), reason
    return None
