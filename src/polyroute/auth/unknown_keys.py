"""How often one client address may make the gateway look up API keys it does not know.

A lookup of an unknown `sk-` token costs a shared-state and a database read; a client sending
random tokens could otherwise turn each request into SQL. Each address gets a token bucket
(`rate_per_s`, `burst`); past it the request is refused with 429 and Retry-After before any
lookup. Known keys, cached answers and the master key never count. Addresses are kept in an LRU
of `max_addresses`, so a flood from many addresses costs bounded memory (an evicted address
starts again with a full bucket, which bounds what it gains to `burst` lookups).

Behind a reverse proxy every client shares the proxy's address: raise the rate there, or let
the proxy limit per client.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from polyroute.errors import RateLimitError


class UnknownKeyLimiter:
    def __init__(
        self,
        rate_per_s: float = 5.0,
        burst: float = 20.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._max = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, at)
        self.refused = 0  # lookups refused (a metric)

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, address: str | None) -> None:
        """Takes one lookup from `address`'s bucket, or raises RateLimitError (429)."""
        key = address or ""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            self.refused += 1
            raise RateLimitError(
                "too many requests with unknown API keys from this address; retry later",
                code="too_many_unknown_keys",
                retry_after=(1.0 - tokens) / self.rate_per_s,
            )
        self._buckets[key] = (tokens - 1.0, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
