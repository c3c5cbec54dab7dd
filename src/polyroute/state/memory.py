"""`MemoryState`: the shared-state interface for a single process, in plain dicts.

Atomic by construction: no method awaits between reading a value and writing it back, so on one
event loop nothing can interleave. Memory stays bounded by the number of keys: each window key
keeps its newest window and the one before, failure lists are pruned on every call, and entries
that have gone to zero (in-flight counts) or expired (cooldowns) are dropped when next touched.
"""

from __future__ import annotations

import dataclasses
import time
from bisect import bisect_right, insort
from dataclasses import dataclass

from polyroute.state.base import Admission, Cooldown, LatencyStats, SharedState, WorkerRecord


@dataclass(slots=True)
class _Ewma:
    ttft: float | None
    total: float | None
    samples: int


def window_index(now: float, window_s: float) -> int:
    """The fixed window containing `now`; both backends use this so their windows line up."""
    if window_s <= 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
    return int(now // window_s)


def window_retry_after(index: int, window_s: float, now: float) -> float:
    """Seconds from `now` until window `index` ends (never negative)."""
    return max(0.0, (index + 1) * window_s - now)


def check_alpha(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")


def ewma(previous: float | None, sample: float, alpha: float) -> float:
    """The first sample is the average; later ones move it by `alpha`. The Redis script uses the
    same expression, in the same order, so both backends give bit-identical averages."""
    if previous is None:
        return sample
    return alpha * sample + (1 - alpha) * previous


class MemoryState(SharedState):
    """Shared state for one process; limits are per process when several run."""

    backend = "memory"

    def __init__(self) -> None:
        # Windows are keyed by (key, window_s) so one key used with two window lengths cannot
        # make them reset each other; the Redis backend puts the length in its keys for the same reason.
        # Each holds {window index: used} for at most two windows: a call whose `now` was read just
        # before a boundary may run just after a call from the next window, and must not wipe it.
        self._windows: dict[tuple[str, float], dict[int, int]] = {}
        self._inflight: dict[str, int] = {}
        self._failures: dict[str, list[float]] = {}  # sorted timestamps, like a Redis sorted set
        self._cooldowns: dict[str, Cooldown] = {}
        self._latencies: dict[str, _Ewma] = {}
        self._workers: dict[str, WorkerRecord] = {}
        self._values: dict[str, tuple[bytes, float]] = {}  # key -> (value, monotonic expiry)

    # -- windowed counters ----------------------------------------------------------------------
    @staticmethod
    def _store(windows: dict[int, int], index: int, value: int) -> None:
        windows[index] = value
        # The lazy pruning: anything older than the newest window's predecessor goes.
        newest = max(windows)
        for old in [i for i in windows if i < newest - 1]:
            del windows[old]

    async def try_take(self, key: str, amount: int, limit: int, window_s: float, now: float) -> Admission:
        index = window_index(now, window_s)
        windows = self._windows.setdefault((key, window_s), {})
        used = windows.get(index, 0)
        if used + amount > limit:
            return Admission(False, used, window_retry_after(index, window_s, now))
        self._store(windows, index, used + amount)
        return Admission(True, used + amount, 0.0)

    async def adjust(self, key: str, delta: int, window_s: float, now: float) -> int:
        index = window_index(now, window_s)
        windows = self._windows.setdefault((key, window_s), {})
        value = max(0, windows.get(index, 0) + delta)
        self._store(windows, index, value)
        return value

    async def try_reserve(
        self, key: str, amount: int, limit: int, seed: int, window_s: float, now: float
    ) -> Admission:
        index = window_index(now, window_s)
        windows = self._windows.setdefault((key, window_s), {})
        used = windows.get(index)
        if used is None:
            used = max(0, seed)
            self._store(windows, index, used)
        if used >= limit:
            return Admission(False, used, window_retry_after(index, window_s, now))
        self._store(windows, index, used + amount)
        return Admission(True, used + amount, 0.0)

    async def window_usage(self, keys: list[str], window_s: float, now: float) -> list[int]:
        index = window_index(now, window_s)
        return [self._windows.get((key, window_s), {}).get(index, 0) for key in keys]

    # -- in-flight counts -----------------------------------------------------------------------
    async def inflight_add(self, key: str, delta: int) -> int:
        count = max(0, self._inflight.get(key, 0) + delta)
        if count:
            self._inflight[key] = count
        else:
            self._inflight.pop(key, None)
        return count

    async def inflight(self, keys: list[str]) -> list[int]:
        return [self._inflight.get(key, 0) for key in keys]

    # -- failures and cooldowns -----------------------------------------------------------------
    async def record_failure(self, key: str, window_s: float, now: float) -> int:
        # A sorted list rather than a deque: callers' clocks need not be monotonic (several
        # tasks read the clock before awaiting), and a failure must still leave at its own time.
        times = self._failures.setdefault(key, [])
        insort(times, now)
        # A failure at t counts while now - t < window_s; the Redis script removes the same ones.
        del times[: bisect_right(times, now - window_s)]
        return len(times)

    async def clear_failures(self, key: str) -> None:
        self._failures.pop(key, None)

    async def set_cooldown(self, key: str, cooldown: Cooldown, now: float) -> None:
        if cooldown.until <= now:
            return
        current = self._cooldowns.get(key)
        # An ended cooldown cannot be later than this one, so only a live one can win.
        if current is None or current.until < cooldown.until:
            self._cooldowns[key] = cooldown

    async def clear_cooldown(self, key: str) -> None:
        self._cooldowns.pop(key, None)

    async def cooldowns(self, keys: list[str], now: float) -> list[Cooldown | None]:
        active: list[Cooldown | None] = []
        for key in keys:
            cooldown = self._cooldowns.get(key)
            if cooldown is not None and cooldown.until <= now:
                del self._cooldowns[key]
                cooldown = None
            active.append(cooldown)
        return active

    # -- latency statistics ---------------------------------------------------------------------
    async def record_latency(self, key: str, ttft: float | None, total: float, alpha: float = 0.2) -> None:
        check_alpha(alpha)
        stats = self._latencies.setdefault(key, _Ewma(None, None, 0))
        if ttft is not None:
            stats.ttft = ewma(stats.ttft, ttft, alpha)
        stats.total = ewma(stats.total, total, alpha)
        stats.samples += 1

    async def latencies(self, keys: list[str]) -> list[LatencyStats]:
        result = []
        for key in keys:
            stats = self._latencies.get(key)
            if stats is None:
                result.append(LatencyStats(None, None, 0))
            else:
                result.append(LatencyStats(stats.ttft, stats.total, stats.samples))
        return result

    # -- worker registry --------------------------------------------------------------------------
    async def register_worker(self, record: WorkerRecord, ttl_s: float, now: float) -> WorkerRecord:
        check_ttl(ttl_s)
        stored = dataclasses.replace(record, heartbeat_at=now, expires_at=now + ttl_s)
        self._workers[record.address] = stored
        return stored

    async def refresh_worker(
        self, address: str, queue_length: int, ttl_s: float, now: float
    ) -> WorkerRecord | None:
        check_ttl(ttl_s)
        current = self._live_worker(address, now)
        if current is None:
            return None
        stored = dataclasses.replace(
            current, queue_length=queue_length, heartbeat_at=now, expires_at=now + ttl_s
        )
        self._workers[address] = stored
        return stored

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        for address in [a for a, r in self._workers.items() if r.expires_at <= now]:
            del self._workers[address]
        return [self._workers[address] for address in sorted(self._workers)]

    async def get_worker(self, address: str, now: float) -> WorkerRecord | None:
        return self._live_worker(address, now)

    async def remove_worker(self, address: str) -> bool:
        return self._workers.pop(address, None) is not None

    def _live_worker(self, address: str, now: float) -> WorkerRecord | None:
        record = self._workers.get(address)
        if record is not None and record.expires_at <= now:
            del self._workers[address]
            return None
        return record

    # -- small shared values --------------------------------------------------------------------
    async def get_value(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry[0]

    async def set_value(self, key: str, value: bytes, ttl_s: float) -> None:
        now = time.monotonic()
        if len(self._values) > 10_000:  # bounded: expired entries go first
            for stale in [k for k, (_, ends) in self._values.items() if ends <= now]:
                del self._values[stale]
        self._values[key] = (value, now + ttl_s)

    async def delete_values(self, keys: list[str]) -> None:
        for key in keys:
            self._values.pop(key, None)


def check_ttl(ttl_s: float) -> None:
    if not ttl_s > 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
