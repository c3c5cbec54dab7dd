"""The key cache: at most one lookup per key per TTL, none for a key in use, and revocation
within the TTL (a clock the test moves; a loader that counts its calls)."""

from __future__ import annotations

import asyncio

import pytest

from polyroute.auth.key_cache import KeyCache
from polyroute.auth.keys import KeyRecord
from polyroute.state.memory import MemoryState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loader:
    def __init__(self) -> None:
        self.records: dict[str, KeyRecord] = {"known": KeyRecord(token="known", key_alias="a")}
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, token: str) -> KeyRecord | None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionRefusedError("database down")
        return self.records.get(token)


async def test_concurrent_misses_share_one_lookup_and_unknown_keys_are_cached() -> None:
    loader, clock = Loader(), Clock()
    cache = KeyCache(loader, ttl_s=5, clock=clock)
    loader.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(cache.get("known")) for _ in range(50)]
    await asyncio.sleep(0)
    loader.gate.set()
    assert all(r.key_alias == "a" for r in await asyncio.gather(*waiting))
    assert loader.calls == 1
    for _ in range(20):
        assert await cache.get("nope") is None
    assert loader.calls == 2  # one read for the unknown key, then its "no such key" is cached


async def test_a_key_in_use_is_refreshed_in_the_background_and_never_waits() -> None:
    loader, clock = Loader(), Clock()
    cache = KeyCache(loader, ttl_s=4, clock=clock)
    await cache.get("known")
    clock.now += 2.5  # past half the TTL: served at once, refreshed behind the request
    loader.gate = asyncio.Event()
    assert (await cache.get("known")).key_alias == "a"  # answered while the refresh is held up
    await asyncio.sleep(0)
    assert loader.calls == 2
    loader.records["known"] = KeyRecord(token="known", key_alias="b")
    loader.gate.set()
    await asyncio.sleep(0.01)
    assert (await cache.get("known")).key_alias == "b"


async def test_no_entry_older_than_the_ttl_is_used() -> None:
    loader, clock = Loader(), Clock()
    cache = KeyCache(loader, ttl_s=4, clock=clock)
    await cache.get("known")
    del loader.records["known"]  # deleted in another process
    clock.now += 4.0
    assert await cache.get("known") is None


async def test_known_keys_survive_a_database_outage_unknown_keys_do_not() -> None:
    loader, clock = Loader(), Clock()
    cache = KeyCache(loader, ttl_s=1, clock=clock)
    await cache.get("known")
    loader.fail = True
    clock.now += 5
    assert (await cache.get("known")).key_alias == "a"
    with pytest.raises(ConnectionRefusedError):
        await cache.get("other")


async def test_shared_state_spares_the_database_and_eviction_reaches_it() -> None:
    shared = MemoryState()
    first, second = Loader(), Loader()
    a = KeyCache(first, shared, ttl_s=5)
    b = KeyCache(second, shared, ttl_s=5)
    assert (await a.get("known")).key_alias == "a"
    assert (await b.get("known")).key_alias == "a"
    assert (first.calls, second.calls) == (1, 0)  # the second process read the shared copy
    await a.evict(["known"])
    assert await shared.get_value("vkey:known") is None
