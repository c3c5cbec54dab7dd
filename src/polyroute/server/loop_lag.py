"""Adaptive load shedding: CoDel on the event loop's lag, nothing to tune but whether it runs.

One process serves every request on one event loop: past what its core can do, each request in
flight gets a smaller share of it, and every request's latency grows with the number admitted
(a fixed in-flight cap cannot know where that point lies: it depends on the upstreams, the
request mix and the machine). The loop's lag (how late a timer runs) measures that queue
directly: it is the time any ready request waits for its next turn, whatever the upstreams do,
so a process with 10,000 streams waiting on slow upstreams sheds nothing while one whose core is
saturated does.

The policy (CoDel's, RFC 8289, with the loop's lag as the sojourn time): a probe every
`PROBE_S` measures the lag, as much of it as the process's own work caused (LagProbe). A lag
above `TARGET_S` for a whole `INTERVAL_S` is a standing queue, not a burst (a GC pause, a batch
of spend rows): the process starts shedding, and new model requests are answered 503
`overloaded` at once (server/load.py; from the request's head, server/connections.py), before
their body is read, until a probe sees the lag back under the target. Having shed within the
last `RECENT_S`, the process sheds again as soon as the lag is over the target (the overload is
still there; waiting a full interval again would let the queue grow back each time).

Shedding refuses only the requests past the knee: the most in flight while the queue stood
before shedding began.
The process keeps serving that many at once, so refusals never starve it: clients that resend
a refused request at once (a closed-loop load generator: its connections bound what is in
flight) cannot push the admitted work below what the core was doing when the queue was found,
while an open-loop flood is held there instead of growing until clients give up. A
process with fewer than `MIN_IN_FLIGHT` requests in flight admits anyway: its lag is not its
requests' doing (a slow admin call), and refusing them would not lower it.

It runs where `general_settings.shed_on_event_loop_lag` is true (off by default: a closed-loop
load at capacity, such as a benchmark's 64 connections, stands a queue too, and would get 503s
where waiting is what it needs). The defaults hold for any deployment because they measure the
process's own CPU queue, not the upstreams: 5 ms is CoDel's target, a few times a loop turn of
a busy process, and well under the latency that model requests are used to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PROBE_S = 0.005  # how often the lag is measured; the timer costs ~1 µs a turn
TARGET_S = 0.005  # CoDel's target: the lag a busy, not overloaded, process stays under
INTERVAL_S = 0.1  # CoDel's interval: how long the lag must stay over the target
RECENT_S = 1.0  # after shedding this recently, the next lag over the target sheds at once
MIN_IN_FLIGHT = 4  # below this many requests in flight, the lag is not theirs to pay for


class LagPolicy:
    """When to shed, from the lag samples; the clock comes with each sample (deterministic tests)."""

    __slots__ = (
        "target_s",
        "interval_s",
        "recent_s",
        "shedding",
        "knee",
        "_peak",
        "_above_since",
        "_shed_at",
    )

    def __init__(
        self, target_s: float = TARGET_S, interval_s: float = INTERVAL_S, recent_s: float = RECENT_S
    ) -> None:
        self.target_s = target_s
        self.interval_s = interval_s
        self.recent_s = recent_s
        self.shedding = False  # read once per model request: a plain attribute
        # The requests in flight when shedding began: while shedding, only requests past it are
        # refused, so the process keeps the concurrency it had when the queue was found.
        self.knee = 0
        self._peak = 0  # the most in flight seen since the lag went over the target
        self._above_since: float | None = None  # when the lag went over the target
        self._shed_at: float | None = None  # the last sample taken while shedding

    def observe(self, lag_s: float, now: float, in_flight: int) -> None:
        if lag_s <= self.target_s:
            self._above_since = None
            self.shedding = False
            return
        if self._above_since is None:
            self._above_since = now
            self._peak = in_flight
        elif in_flight > self._peak:
            self._peak = in_flight
        if self._peak < MIN_IN_FLIGHT:
            return  # not the requests' doing (start-up, a slow admin call): no episode, no knee
        recently = self._shed_at is not None and now - self._shed_at <= self.recent_s
        if self.shedding or recently or now - self._above_since >= self.interval_s:
            if not self.shedding:
                # The most in flight while the queue stood (a sample misses requests not yet
                # read). Within an episode the knee only rises: what is in flight at a re-entry
                # is what the last shedding let through, and taking it would ratchet it down.
                self.knee = max(self.knee, self._peak) if recently else self._peak
            self.shedding = True
            self._shed_at = now


class LagProbe:
    """A timer every `probe_s` on the running loop; how late each one runs feeds the policy.

    Only the part of the lag this process's own work caused counts: a timer is late by at most
    the CPU time the loop's thread spent since it was set. A process the kernel runs half the
    time (another busy process on its core) runs its timers late too, but refusing its requests
    would not give it the core back; one saturated by its own requests spends all that time."""

    __slots__ = (
        "policy",
        "in_flight",
        "probe_s",
        "last_lag_s",
        "_clock",
        "_cpu_clock",
        "_due",
        "_cpu_at",
        "_handle",
        "_loop",
    )

    def __init__(
        self,
        policy: LagPolicy,
        in_flight: Callable[[], int],
        probe_s: float = PROBE_S,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.policy = policy
        self.in_flight = in_flight  # the most model requests in flight since the last tick
        self.probe_s = probe_s
        self.last_lag_s = 0.0
        self._clock = clock
        self._cpu_clock = cpu_clock  # the loop thread's CPU time
        self._due = 0.0
        self._cpu_at = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.policy.shedding = False

    def _schedule(self) -> None:
        self._due = self._clock() + self.probe_s
        self._cpu_at = self._cpu_clock()
        self._handle = self._loop.call_later(self.probe_s, self.tick)  # type: ignore[union-attr]

    def tick(self) -> None:
        now = self._clock()
        # uvloop's timers count whole milliseconds and may run up to one early: never negative.
        late = max(0.0, now - self._due)
        self.last_lag_s = min(late, self._cpu_clock() - self._cpu_at)
        self.policy.observe(self.last_lag_s, now, self.in_flight())
        self._schedule()
