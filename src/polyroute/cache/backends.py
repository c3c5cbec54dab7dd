"""Where exact-cache entries live: process memory, a disk folder, or Redis.

One small interface (`get`, `set`, `close`), keys are hex digests (cache/keys.py), values bytes.
Every backend is bounded: memory and disk by entries and bytes (least recently used goes first),
Redis by the TTL and the server's own maxmemory policy. Time comes from an injected clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

Clock = Callable[[], float]


class CacheBackend(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """An LRU dict bounded by entries and bytes; entries past their TTL are misses (and dropped)."""

    name = "local"

    def __init__(self, max_entries: int, max_bytes: int, clock: Clock = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and self.clock() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        if len(value) > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (value, self.clock() + ttl_s if ttl_s else None)
        self.bytes += len(value)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        value, _ = self._entries.pop(key)
        self.bytes -= len(value)

    async def close(self) -> None:
        self._entries.clear()
        self.bytes = 0


class DiskBackend:
    """diskcache in a folder (survives restarts; shared by the processes of one machine). Its
    calls are file and SQLite I/O, so they run off the event loop."""

    name = "disk"

    def __init__(self, directory: str, max_bytes: int, max_entries: int) -> None:
        try:
            import diskcache
        except ImportError:
            raise RuntimeError(
                "cache_params.type disk needs the diskcache package: pip install 'polyroute[cache]'"
            ) from None
        # least-recently-used eviction once size_limit bytes are reached
        self._cache: Any = diskcache.Cache(
            directory, size_limit=max_bytes, eviction_policy="least-recently-used", cull_limit=16
        )
        self.max_entries = max_entries

    async def get(self, key: str) -> bytes | None:
        value = await asyncio.to_thread(self._cache.get, key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        await asyncio.to_thread(self._set, key, value, ttl_s)

    def _set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        self._cache.set(key, value, expire=ttl_s)
        if len(self._cache) > self.max_entries:
            self._cache.expire()
            self._cache.cull()
            # Past the entry bound: the oldest stored go first (diskcache's LRU works by bytes).
            while len(self._cache) > self.max_entries:
                try:
                    oldest, _ = self._cache.peekitem(last=False)
                except KeyError:
                    break
                self._cache.delete(oldest)

    async def close(self) -> None:
        await asyncio.to_thread(self._cache.close)


class RedisBackend:
    """Entries under `<prefix><digest>` with Redis' own expiry; shared by every gateway process."""

    name = "redis"

    def __init__(self, client: Any, prefix: str = "polyroute:cache:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: dict[str, Any], prefix: str = "polyroute:cache:") -> RedisBackend:
        import redis.asyncio as aioredis

        common = {"socket_timeout": 2, "socket_connect_timeout": 2, "max_connections": 64, "timeout": 5}
        url = settings.get("redis_url")
        if url:
            pool = aioredis.BlockingConnectionPool.from_url(url, **common)
        else:
            pool = aioredis.BlockingConnectionPool(
                host=settings.get("redis_host"),
                port=int(settings.get("redis_port") or 6379),
                password=settings.get("redis_password"),
                db=int(settings.get("redis_db") or 0),
                **common,
            )
        return cls(aioredis.Redis.from_pool(pool), prefix)

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(self.prefix + key)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        await self.client.set(self.prefix + key, value, px=int(ttl_s * 1000) if ttl_s else None)

    async def close(self) -> None:
        await self.client.aclose()
