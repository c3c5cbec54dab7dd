"""`FailoverState`: Redis while it answers, process memory while it does not.

A gateway must keep serving when Redis goes away; refusing every request because the rate-limit
store is down would turn a Redis outage into a full outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from polyroute.state.base import Admission, Clock, Cooldown, LatencyStats, SharedState, WorkerRecord
from polyroute.state.memory import MemoryState
from polyroute.state.redis import RedisState

logger = logging.getLogger("polyroute.state")

T = TypeVar("T")

# Only "cannot reach Redis" falls back. A ResponseError (wrong type, script error) is a bug and
# must surface, not hide behind per-process limits. AuthenticationError is a ConnectionError in
# redis-py, so a wrong password also falls back (with the warning saying why).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


class FailoverState(SharedState):
    """Serves every call from Redis; when Redis cannot be reached, serves from a MemoryState for
    `retry_s` seconds, then tries Redis again.

    While Redis is down, limits hold per process only: each gateway process counts on its own, so
    N processes together may admit up to N times a limit, and cooldowns, failure counts and
    latencies are not shared. What was counted in memory is not copied to Redis on return.
    """

    def __init__(
        self,
        redis: RedisState,
        memory: MemoryState,
        retry_s: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._redis = redis
        self._memory = memory
        self._retry_s = retry_s
        self._clock = clock
        self._down = False
        self._retry_at = 0.0
        #: calls served from memory because Redis was unreachable (read by a metric)
        self.fallback_operations = 0

    @property
    def backend(self) -> str:  # type: ignore[override]
        return "memory (redis unreachable)" if self._down else "redis"

    async def _call(self, operation: Callable[[SharedState], Awaitable[T]]) -> T:
        if self._down and self._clock() < self._retry_at:
            self.fallback_operations += 1
            return await operation(self._memory)
        probing = self._down
        try:
            result = await operation(self._redis)
        except UNREACHABLE as exc:
            self._mark_down(exc)
            self.fallback_operations += 1
            return await operation(self._memory)
        # Only a call made as a retry proves Redis is back: one sent before the outage may
        # still complete after it began.
        if probing and self._down:
            self._down = False
            logger.info("shared state resumed: redis at %s answers again", self._redis.target)
        return result

    def _mark_down(self, exc: BaseException) -> None:
        # No await between the check and the update: concurrent failures log one warning.
        self._retry_at = self._clock() + self._retry_s
        reason = self._redis.redact(f"{type(exc).__name__}: {exc}")
        if self._down:
            logger.debug("shared state: redis still unreachable (%s)", reason)
            return
        self._down = True
        logger.warning(
            "shared state: redis at %s unreachable (%s); serving from process memory, retrying in %gs."
            " Limits hold per process only until it returns.",
            self._redis.target,
            reason,
            self._retry_s,
        )

    # -- the interface, each call through _call ---------------------------------------------------------
    async def try_take(self, key: str, amount: int, limit: int, window_s: float, now: float) -> Admission:
        return await self._call(lambda s: s.try_take(key, amount, limit, window_s, now))

    async def try_reserve(
        self, key: str, amount: int, limit: int, seed: int, window_s: float, now: float
    ) -> Admission:
        return await self._call(lambda s: s.try_reserve(key, amount, limit, seed, window_s, now))

    async def adjust(self, key: str, delta: int, window_s: float, now: float) -> int:
        return await self._call(lambda s: s.adjust(key, delta, window_s, now))

    async def window_usage(self, keys: list[str], window_s: float, now: float) -> list[int]:
        return await self._call(lambda s: s.window_usage(keys, window_s, now))

    async def inflight_add(self, key: str, delta: int) -> int:
        return await self._call(lambda s: s.inflight_add(key, delta))

    async def inflight(self, keys: list[str]) -> list[int]:
        return await self._call(lambda s: s.inflight(keys))

    async def record_failure(self, key: str, window_s: float, now: float) -> int:
        return await self._call(lambda s: s.record_failure(key, window_s, now))

    async def clear_failures(self, key: str) -> None:
        return await self._call(lambda s: s.clear_failures(key))

    async def set_cooldown(self, key: str, cooldown: Cooldown, now: float) -> None:
        return await self._call(lambda s: s.set_cooldown(key, cooldown, now))

    async def clear_cooldown(self, key: str) -> None:
        return await self._call(lambda s: s.clear_cooldown(key))

    async def cooldowns(self, keys: list[str], now: float) -> list[Cooldown | None]:
        return await self._call(lambda s: s.cooldowns(keys, now))

    async def record_latency(self, key: str, ttft: float | None, total: float, alpha: float = 0.2) -> None:
        return await self._call(lambda s: s.record_latency(key, ttft, total, alpha))

    async def latencies(self, keys: list[str]) -> list[LatencyStats]:
        return await self._call(lambda s: s.latencies(keys))

    # Worker registrations made while Redis is down live in this process's memory: a worker that
    # heartbeats here meanwhile is told it is unknown and registers again, so the registry heals.
    async def register_worker(self, record: WorkerRecord, ttl_s: float, now: float) -> WorkerRecord:
        return await self._call(lambda s: s.register_worker(record, ttl_s, now))

    async def refresh_worker(
        self, address: str, queue_length: int, ttl_s: float, now: float
    ) -> WorkerRecord | None:
        return await self._call(lambda s: s.refresh_worker(address, queue_length, ttl_s, now))

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        return await self._call(lambda s: s.list_workers(now))

    async def get_worker(self, address: str, now: float) -> WorkerRecord | None:
        return await self._call(lambda s: s.get_worker(address, now))

    async def remove_worker(self, address: str) -> bool:
        return await self._call(lambda s: s.remove_worker(address))

    async def get_value(self, key: str) -> bytes | None:
        return await self._call(lambda s: s.get_value(key))

    async def set_value(self, key: str, value: bytes, ttl_s: float) -> None:
        return await self._call(lambda s: s.set_value(key, value, ttl_s))

    async def delete_values(self, keys: list[str]) -> None:
        return await self._call(lambda s: s.delete_values(keys))

    # -- lifecycle --------------------------------------------------------------------------------------
    async def healthy(self) -> bool:
        """Always true: with Redis down this state still serves (from memory); `backend` tells which."""
        return True

    async def close(self) -> None:
        try:
            await self._redis.close()
        finally:
            await self._memory.close()
