"""Durations and UTC timestamps: the two time types every config and data frame uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"``, ``"2w"``, a number of seconds or a timedelta."""
    if isinstance(value, timedelta):
        return value
    seconds = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds is not None:
        try:
            return timedelta(seconds=seconds)
        except (OverflowError, ValueError):  # beyond timedelta's ~2.7 million years, or NaN: not a crash
            raise ValueError(f"duration {value!r} is out of range; expected at most about 2.7 million years") from None
    raise ValueError(f"expected a duration such as '30s', '15m', '1h' or '7d', got {value!r}")


def format_duration(td: timedelta) -> str:
    """Render a timedelta in the shortest unit that divides it ("90m" -> "90m", 3600 s -> "1h")."""
    seconds = td.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def human_duration(value: timedelta | None, none: str = "—") -> str:
    """Format a timedelta for people: ``"2d 03h"``, ``"2h 05m"``, ``"42m"`` or ``"30s"``; negative ones get a minus.

    The one formatter of elapsed times in reports, boards, messages and the CLI (``format_duration``
    writes the config syntax instead). ``none`` is shown for a missing value.
    """
    if value is None:
        return none
    seconds = round(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def utc(ts: Any) -> datetime:
    """Return ``ts`` as a timezone-aware UTC datetime; naive input is an error, not a guess."""
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} has no timezone; give it as UTC, e.g. '2026-01-01T12:00:00Z'")
    return t.tz_convert("UTC").to_pydatetime()


def now_utc() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
