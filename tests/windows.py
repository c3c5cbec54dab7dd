"""Tests that count requests in one rpm/tpm window run clear of the window's edge.

Limits use fixed windows of 60 s on the wall clock (state/memory.py, the Redis scripts): a test
that sends a handful of requests expecting the first N to pass and the rest to be refused would
see a fresh window, and extra passes, if it straddled a minute boundary.
"""

from __future__ import annotations

import time

WINDOW_S = 60.0


def clear_of_window_edge(needed_s: float = 15.0) -> None:
    """Returns once at least `needed_s` seconds remain in the current window (waits for the
    next one to begin when fewer do)."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < needed_s:
        time.sleep(left + 0.05)
