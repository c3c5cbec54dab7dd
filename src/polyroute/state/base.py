"""The shared-state interface: what several gateway processes must agree on.

Two implementations: `MemoryState` (in process, the embedded default) and `RedisState` (several
processes or machines), plus `FailoverState`, which serves from memory while Redis is down and
goes back to Redis when it returns. Every operation that decides admission is atomic in both
(a Lua script in Redis), so two processes never both take the last unit of a limit.

Keys are plain strings chosen by the caller (the router), e.g. "rpm:<deployment-id>".
The worker registry (FastChat's controller state) is keyed by worker address; its entries carry
their own expiry (the heartbeat TTL), so a worker that stops heartbeating disappears by itself.
Time comes from an injectable clock (`now()`, seconds) so tests need not sleep; Redis
implementations pass the caller's time into their scripts for the same reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Admission:
    """The result of trying to take `amount` units of a windowed limit."""

    allowed: bool
    used: int  # units used in the current window after this call (unchanged when refused)
    retry_after: float  # seconds until the window resets (0 when allowed)


@dataclass(frozen=True, slots=True)
class Cooldown:
    until: float  # clock time the cooldown ends
    reason: str  # short code, e.g. "429", "allowed_fails", "401"


@dataclass(frozen=True, slots=True)
class LatencyStats:
    ttft: float | None  # moving average time to first token, seconds
    total: float | None  # moving average total latency, seconds
    samples: int


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One registered model worker, as the controller knows it."""

    address: str  # normalised base URL the gateway calls, e.g. "http://10.0.0.5:21002"
    model_names: tuple[str, ...]
    speed: float = 1.0  # FastChat's relative speed: lottery weight, shortest-queue divisor
    queue_length: int = 0  # requests running or waiting at the worker, from its last heartbeat
    protocol: str = "fastchat"  # "fastchat" (worker protocol) or "openai" (an OpenAI API at /v1)
    multimodal: bool = False
    heartbeat_at: float = 0.0  # clock time of the registration or the last heartbeat
    expires_at: float = 0.0  # clock time after which the worker is gone unless it heartbeats
    # Who registered it: a digest of the worker token (controller/security.py), never the token;
    # only that token may heartbeat, deregister or replace it. "" when no token is needed.
    owner: str = ""


class SharedState(ABC):
    """All methods are coroutines; implementations must be safe under concurrency."""

    #: "memory" or "redis": shown in /health so operators know which limits are global
    backend: str = "memory"

    # -- windowed counters (rpm / tpm / budgets per minute) -------------------------------------
    @abstractmethod
    async def try_take(self, key: str, amount: int, limit: int, window_s: float, now: float) -> Admission:
        """Atomically add `amount` to the fixed window containing `now` if that keeps it <= limit."""

    @abstractmethod
    async def adjust(self, key: str, delta: int, window_s: float, now: float) -> int:
        """Add `delta` (may be negative: reconcile an estimate) to the window containing `now`,
        unconditionally; returns the new value (never below 0)."""

    @abstractmethod
    async def window_usage(self, keys: list[str], window_s: float, now: float) -> list[int]:
        """Current window's value of each key (0 when absent)."""

    @abstractmethod
    async def try_reserve(
        self, key: str, amount: int, limit: int, seed: int, window_s: float, now: float
    ) -> Admission:
        """Budgets: atomically start the window at `seed` if it holds no value yet, refuse when its
        value (spend plus outstanding reservations) is already >= `limit`, else add `amount`.
        Settle later with `adjust(key, actual - amount, window_s, same now)`. Admitting while
        anything is left, with reservations that bound each request's cost, means concurrent
        requests overshoot a budget by at most one request's cost."""

    # -- in-flight counts (least-busy routing, max parallel requests) ----------------------------
    @abstractmethod
    async def inflight_add(self, key: str, delta: int) -> int:
        """Add delta (+1 at start, -1 at end) and return the new count (never below 0).
        Redis: the key expires after 10 minutes without change, so a crashed process's
        counts do not stick forever."""

    @abstractmethod
    async def inflight(self, keys: list[str]) -> list[int]: ...

    # -- failures and cooldowns ------------------------------------------------------------------
    @abstractmethod
    async def record_failure(self, key: str, window_s: float, now: float) -> int:
        """Count one failure in a sliding window of `window_s` seconds ending at `now`;
        returns how many failures the window holds now (this one included)."""

    @abstractmethod
    async def clear_failures(self, key: str) -> None: ...

    @abstractmethod
    async def set_cooldown(self, key: str, cooldown: Cooldown, now: float) -> None:
        """Start (or extend: the later `until` wins) a cooldown; it disappears by itself after."""

    @abstractmethod
    async def clear_cooldown(self, key: str) -> None: ...

    @abstractmethod
    async def cooldowns(self, keys: list[str], now: float) -> list[Cooldown | None]:
        """The active cooldown of each key, None where there is none or it has ended."""

    # -- latency statistics -----------------------------------------------------------------------
    @abstractmethod
    async def record_latency(self, key: str, ttft: float | None, total: float, alpha: float = 0.2) -> None:
        """Fold one observation into exponentially weighted moving averages."""

    @abstractmethod
    async def latencies(self, keys: list[str]) -> list[LatencyStats]: ...

    # -- worker registry (the controller) ---------------------------------------------------------
    @abstractmethod
    async def register_worker(self, record: WorkerRecord, ttl_s: float, now: float) -> WorkerRecord:
        """Store (or replace) a worker, alive until `now + ttl_s`; returns what was stored
        (`heartbeat_at`/`expires_at` set from `now`)."""

    @abstractmethod
    async def refresh_worker(
        self, address: str, queue_length: int, ttl_s: float, now: float
    ) -> WorkerRecord | None:
        """A heartbeat: update the queue length and push the expiry to `now + ttl_s`. None when
        the worker is unknown or already expired (it must register again), atomically."""

    @abstractmethod
    async def list_workers(self, now: float) -> list[WorkerRecord]:
        """Every worker alive at `now`, by address; expired ones are dropped on the way."""

    @abstractmethod
    async def get_worker(self, address: str, now: float) -> WorkerRecord | None: ...

    @abstractmethod
    async def remove_worker(self, address: str) -> bool:
        """Deregister; True when the worker was registered."""

    # -- small shared values (the key cache) -------------------------------------------------------
    @abstractmethod
    async def get_value(self, key: str) -> bytes | None:
        """A value stored with set_value, or None when absent or expired."""

    @abstractmethod
    async def set_value(self, key: str, value: bytes, ttl_s: float) -> None: ...

    @abstractmethod
    async def delete_values(self, keys: list[str]) -> None: ...

    # -- lifecycle ----------------------------------------------------------------------------------
    async def close(self) -> None:
        return None

    async def healthy(self) -> bool:
        return True
