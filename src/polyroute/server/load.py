"""This process's model requests in flight: the load-shedding limit and the drain on SIGTERM.

One object per process (`AppState.load`), touched twice per model request (`enter`, `leave`):
a set add and remove, O(1), no await. It serves two purposes:

* load shedding: a model request is refused at once with 503 `overloaded` and Retry-After,
  before its body is read or its caller authenticated, so an overloaded process spends nothing
  more on it and the client (or the load balancer) tries elsewhere:
  - while the event loop's lag shows a standing queue (server/loop_lag.py: CoDel on the lag,
    `general_settings.shed_on_event_loop_lag`, off by default), those past the number in
    flight when the queue began (and at least `MIN_IN_FLIGHT`);
  - past `general_settings.max_in_flight_requests` model requests in flight, a hard cap. Off
    (None) by default: the right number depends on the upstreams' speed and the process's
    memory, and the connection cap (`max_connections`) already bounds what a peer can hold;
* graceful shutdown (server/shutdown.py): while `draining`, readiness answers 503, and the
  requests still in flight at the end of the grace period are cancelled, each then ending with
  an OpenAI-shaped error (a 503, or an error event closing its stream).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from polyroute.errors import ServiceUnavailableError
from polyroute.observability.metrics import METRICS
from polyroute.server.loop_lag import MIN_IN_FLIGHT, LagPolicy

log = logging.getLogger("polyroute.server")

SHED_RETRY_AFTER_S = 1.0  # long enough for a load balancer to pick another process
LOG_EVERY_S = 10.0  # at most one shed line per this many seconds, with the count since the last


class InFlight:
    __slots__ = ("limit", "lag", "tasks", "draining", "on_idle", "peak", "_clock", "_unlogged", "_logged_at")

    def __init__(
        self,
        limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        lag: LagPolicy | None = None,
    ) -> None:
        self.limit = limit
        # Fed by the lag probe the app starts (server/app.py); until then it never sheds.
        self.lag = lag if lag is not None else LagPolicy()
        self.tasks: set[asyncio.Task[object]] = set()
        # The most in flight since the lag probe last asked (take_peak): a probe between two
        # batches of the loop sees fewer than the requests admitted see.
        self.peak = 0
        self.draining = False
        self.on_idle: Callable[[], None] | None = None  # the drain's wake-up when the last one leaves
        self._clock = clock
        self._unlogged = 0
        self._logged_at: float | None = None

    def __len__(self) -> int:
        return len(self.tasks)

    def enter(self, task: asyncio.Task[object]) -> None:
        """Counts `task` in, or raises ServiceUnavailableError (503 `overloaded`): while the loop's
        lag says the process is overloaded, or past the hard limit."""
        reason = self.shed_reason()
        if reason is not None:
            raise self.shed(reason)
        tasks = self.tasks
        tasks.add(task)
        if len(tasks) > self.peak:
            self.peak = len(tasks)

    def shed_reason(self) -> str | None:
        """Why a new model request would be refused now, or None: an attribute read and a len()."""
        in_flight = len(self.tasks)
        lag = self.lag
        if lag.shedding and in_flight >= MIN_IN_FLIGHT and in_flight >= lag.knee:
            return "queueing_delay"
        if self.limit is not None and in_flight >= self.limit:
            return "in_flight_limit"
        return None

    def shed(self, reason: str) -> ServiceUnavailableError:
        """Counts and logs (bounded) one request refused for `reason`; the error to answer."""
        METRICS.shed_requests.inc((reason,))
        self._log_shed(reason)
        if reason == "in_flight_limit":
            message = f"the gateway is at its limit of {self.limit} requests in flight; retry shortly"
        else:
            message = "the gateway is overloaded; retry shortly"
        return ServiceUnavailableError(message, code="overloaded", retry_after=SHED_RETRY_AFTER_S)

    def _log_shed(self, reason: str) -> None:
        self._unlogged += 1
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < LOG_EVERY_S:
            return
        log.warning(
            "requests shed: %d refused with 503 overloaded since the last such line (this one: %s; "
            "event loop lag %s, in flight %d, general_settings.max_in_flight_requests %s)",
            self._unlogged,
            reason,
            "over target" if self.lag.shedding else "under target",
            len(self.tasks),
            self.limit,
        )
        self._unlogged = 0
        self._logged_at = now

    def take_peak(self) -> int:
        """The most in flight since the last call (the lag probe's, every few ms)."""
        peak = max(self.peak, len(self.tasks))
        self.peak = len(self.tasks)
        return peak

    def leave(self, task: asyncio.Task[object]) -> None:
        self.tasks.discard(task)
        if not self.tasks and self.on_idle is not None:
            self.on_idle()

    def cancel_all(self) -> int:
        """Cancels every request still in flight (the grace period is over); returns how many."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        return len(tasks)
