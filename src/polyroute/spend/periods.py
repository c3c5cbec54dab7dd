"""Budget periods: LiteLLM's `budget_duration` / `duration` strings and which period `now` is in.

A budget with a duration resets every `duration` seconds counted from its anchor (the moment the
key, team or user got its budget); periods are numbered from 0. A budget without a duration is
one long period. The same numbering names the shared-state window and the database's
`spend_period`, so both agree on when spend starts again from zero.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

# LiteLLM's units; a month is 30 days here (periods must be of equal length to be numbered).
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "mo": 2_592_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d|w)\s*$")
LIFETIME_S = 10 * 365 * 86_400.0  # "no reset": one period of ten years (a finite expiry for Redis)


class DurationError(ValueError):
    pass


def duration_seconds(value: str) -> int:
    """'30d' -> 2592000. Raises DurationError naming the accepted forms."""
    match = _DURATION.match(value or "")
    if not match or int(match.group(1)) <= 0:
        raise DurationError(
            f"'{value}' is not a duration: use a positive number with s, m, h, d, w or mo (e.g. '30d')"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def period_length(budget_duration: str | None) -> float:
    return float(duration_seconds(budget_duration)) if budget_duration else LIFETIME_S


def period_index(anchor: float, length_s: float, now: float) -> int:
    """The period containing `now` (epoch seconds); 0 before the anchor too."""
    return max(0, math.floor((now - anchor) / length_s))


def period_reset_at(anchor: datetime, budget_duration: str | None, now: datetime) -> datetime | None:
    """When the current period ends (LiteLLM's `budget_reset_at`); None without a duration."""
    if not budget_duration:
        return None
    length = duration_seconds(budget_duration)
    index = period_index(anchor.timestamp(), length, now.timestamp())
    return anchor + timedelta(seconds=length * (index + 1))
