"""Durations as people write them: ``"90d"``, ``"8h"``, ``"30s"``, ISO 8601 ``"PT2H"``, seconds.

Config files use the suffix form (``s``, ``m``, ``h``, ``d``) so a rule can be tried in seconds;
APIs also take ISO 8601 durations (days, hours, minutes, seconds; no months or years, whose
length depends on the calendar) and whole seconds as numbers.
"""

from __future__ import annotations

import re
from datetime import timedelta

_SUFFIX = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$")
_ISO = re.compile(r"^P(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Nothing Frontdesk times runs longer than this; bigger values are typos (or overflows).
MAX = timedelta(days=3650)


class DurationError(ValueError):
    """Not a duration Frontdesk reads; the message says which forms are."""


def parse_duration(value: object) -> timedelta:
    """Return the duration ``value`` names: ``"8h"``, ``"PT8H"`` or a number of seconds."""
    seconds: int
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip()
        if (suffix := _SUFFIX.match(text)) is not None:
            seconds = int(suffix[1]) * _UNIT[suffix[2]]
        elif text.isdigit() and len(text) <= 12:
            seconds = int(text)
        elif (iso := _ISO.match(text.upper())) is not None and text.upper() not in {"P", "PT"} \
                and not text.upper().endswith("T"):
            days, hours, minutes, secs = (int(part or 0) for part in iso.groups())
            seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
        else:
            raise DurationError(
                f"{value!r} is not a duration: use a number with s, m, h or d (\"90d\", \"30s\"), "
                "an ISO 8601 duration (\"PT2H\") or whole seconds")
    else:
        raise DurationError(f"{value!r} is not a duration")
    if seconds < 0:
        raise DurationError(f"{value!r} is negative")
    result = timedelta(seconds=seconds)
    if result > MAX:
        raise DurationError(f"{value!r} is longer than {MAX.days} days")
    return result


def format_duration(value: timedelta) -> str:
    """Return the shortest suffix form of ``value`` (``"2h"``, ``"90d"``, ``"45s"``)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
