"""Brute force: a client address that keeps presenting wrong API keys is refused for a while.

Two layers, from the cheapest:
* slowed: lookups of `sk-` keys a process does not know are a token bucket per address
  (auth/unknown_keys.py, `unknown_key_lookups_per_s`/`unknown_key_lookup_burst`): past it, 429
  before any lookup, so guessing runs at that rate at most;
* locked out (this module): `auth_lockout_failures` failed authentications (a key presented and
  refused as invalid) from one address within `auth_lockout_window_s` lock the address for
  `auth_lockout_duration_s`: its unknown keys are refused with 429 `auth_locked_out` and
  Retry-After, without a lookup. The lock is logged once, in a line fail2ban can match:
  `auth lockout: address=203.0.113.7 failures=20 retry_after=300`.

Why a valid key is not locked out with its address: the lock is consulted only for keys this
process does not already hold (auth/authenticator.py). The master key (compared first) and any
virtual key that authenticated here before pass as usual, so one client's typo, or an attacker
behind the same NAT or proxy, cannot shut out the address's legitimate callers; the attacker
gains nothing, as a key it guesses is never looked up while the lock holds. The price: a valid
key first used from a locked address (after a restart, or past the cache's memory) waits for the
lock to end. A missing key is not a failure (a misconfigured client is not guessing), nor is a
blocked or expired one (it was real).

Shared through Redis when `router_settings` configure it (the counts and the lock are the
shared state's failure window and cooldown, keyed by address), so an address locked by one
replica is locked by all; in process otherwise, in an LRU of `max_addresses` so a flood from
many addresses costs bounded memory.

Loopback addresses are never locked out: on the same machine sit the reverse proxy, probes and
sidecars, and locking the proxy's address out would lock out everyone behind it. A proxy that
sends X-Forwarded-For from loopback (deploy/nginx/polyroute.conf does) has uvicorn put the real
client's address in its place (uvicorn's `forwarded_allow_ips`, 127.0.0.1 by default), and
that address is what is counted. A proxy on another machine: add it to FORWARDED_ALLOW_IPS,
or every client shares its address.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from polyroute.auth.master_key import is_loopback
from polyroute.errors import RateLimitError
from polyroute.state.base import Cooldown, SharedState

log = logging.getLogger("polyroute.auth")

FAILURES_KEY = "authfail:"
LOCK_KEY = "authlock:"
LOCK_REASON = "auth"


@dataclass(frozen=True, slots=True)
class LockoutSettings:
    failures: int = 20  # 0 turns the lockout off
    window_s: float = 60.0
    duration_s: float = 300.0


class _LocalLocks:
    """One process's failures and locks, per address, in a bounded LRU."""

    def __init__(self, max_addresses: int) -> None:
        self._max = max_addresses
        # address -> (recent failure times, at most `failures` of them; locked until)
        self._entries: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def locked_until(self, address: str, now: float) -> float | None:
        entry = self._entries.get(address)
        return entry[1] if entry is not None and entry[1] > now else None

    def record(self, address: str, settings: LockoutSettings, now: float) -> int:
        entry = self._entries.pop(address, None)
        times = entry[0] if entry is not None else deque(maxlen=settings.failures)
        until = entry[1] if entry is not None else 0.0
        times.append(now)
        while times and now - times[0] >= settings.window_s:
            times.popleft()
        self._entries[address] = (times, until)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return len(times)

    def lock(self, address: str, until: float) -> None:
        times, _ = self._entries.pop(address, (deque(), 0.0))
        times.clear()  # the lock answers for these; after it the address starts afresh
        self._entries[address] = (times, until)


class LockoutEvents:
    """What the lockout reports (the server counts them as metrics; auth imports no
    observability, which would close an import cycle)."""

    def locked(self) -> None:
        """An address was locked out."""

    def refused(self) -> None:
        """A request from a locked-out address was refused."""


class AuthLockout:
    def __init__(
        self,
        settings: LockoutSettings = LockoutSettings(),  # noqa: B008  # frozen, so one shared default is fine
        shared: SharedState | None = None,
        clock: Callable[[], float] = time.time,  # wall time: Redis shares it between machines
        max_addresses: int = 10_000,
        events: LockoutEvents | None = None,
    ) -> None:
        self.settings = settings
        self.events = events or LockoutEvents()
        self._shared = shared
        self._clock = clock
        self._local = _LocalLocks(max_addresses)

    @property
    def enabled(self) -> bool:
        return self.settings.failures > 0

    async def check(self, address: str | None) -> None:
        """Raises RateLimitError (429 `auth_locked_out`, Retry-After) while `address` is locked."""
        if not self.enabled or is_loopback(address):
            return
        key = address or ""
        now = self._clock()
        if self._shared is not None:
            [cooldown] = await self._shared.cooldowns([LOCK_KEY + key], now)
            until = cooldown.until if cooldown is not None else None
        else:
            until = self._local.locked_until(key, now)
        if until is not None:
            self.events.refused()
            raise RateLimitError(
                "too many failed authentications from this address; retry later",
                code="auth_locked_out",
                retry_after=until - now,
            )

    async def failed(self, address: str | None) -> None:
        """Counts one failed authentication; locks the address when the window holds enough."""
        if not self.enabled or is_loopback(address):
            return
        key = address or ""
        now = self._clock()
        settings = self.settings
        if self._shared is not None:
            count = await self._shared.record_failure(FAILURES_KEY + key, settings.window_s, now)
        else:
            count = self._local.record(key, settings, now)
        if count < settings.failures:
            return
        until = now + settings.duration_s
        if self._shared is not None:
            await self._shared.set_cooldown(LOCK_KEY + key, Cooldown(until, LOCK_REASON), now)
            await self._shared.clear_failures(FAILURES_KEY + key)
        else:
            self._local.lock(key, until)
        self.events.locked()
        log.warning(
            "auth lockout: address=%s failures=%d retry_after=%d", key or "-", count, int(settings.duration_s)
        )
