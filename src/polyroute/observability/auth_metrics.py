"""The brute-force lockout's events as Prometheus metrics (auth/lockout.py reports them through
`LockoutEvents` and imports no observability; the server hands it this)."""

from __future__ import annotations

from polyroute.auth.lockout import LockoutEvents
from polyroute.observability.metrics import METRICS


class LockoutMetrics(LockoutEvents):
    __slots__ = ()

    def locked(self) -> None:
        METRICS.auth_lockouts.inc(())

    def refused(self) -> None:
        METRICS.auth_lockout_refusals.inc(())


LOCKOUT_METRICS = LockoutMetrics()
