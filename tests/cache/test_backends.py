"""The exact cache's stores: bounded process memory, a disk folder, and real Redis on loopback."""

from __future__ import annotations

import uuid

import pytest

from polyroute.cache.backends import DiskBackend, MemoryBackend, RedisBackend
from tests.state.support import FakeClock, delete_prefix, redis_client


async def test_memory_is_an_lru_bounded_by_entries() -> None:
    store = MemoryBackend(max_entries=2, max_bytes=1 << 20)
    await store.set("a", b"1", None)
    await store.set("b", b"2", None)
    assert await store.get("a") == b"1"  # a is now the most recently used
    await store.set("c", b"3", None)
    assert await store.get("b") is None
    assert await store.get("a") == b"1" and await store.get("c") == b"3"
    assert len(store) == 2


async def test_memory_is_bounded_by_bytes() -> None:
    store = MemoryBackend(max_entries=100, max_bytes=10)
    await store.set("a", b"12345", None)
    await store.set("b", b"12345", None)
    await store.set("c", b"123", None)
    assert await store.get("a") is None
    assert store.bytes == 8
    await store.set("huge", b"x" * 11, None)  # larger than the whole store: not kept
    assert await store.get("huge") is None and store.bytes == 8
    await store.set("b", b"1", None)  # replacing an entry counts only the new bytes
    assert store.bytes == 4


async def test_memory_ttl_with_an_injected_clock() -> None:
    clock = FakeClock()
    store = MemoryBackend(max_entries=10, max_bytes=1 << 20, clock=clock)
    await store.set("a", b"1", 30)
    await store.set("forever", b"2", None)
    clock.advance(29.9)
    assert await store.get("a") == b"1"
    clock.advance(0.1)
    assert await store.get("a") is None
    assert len(store) == 1 and await store.get("forever") == b"2"


async def test_disk_round_trip_and_entry_bound(tmp_path) -> None:
    store = DiskBackend(str(tmp_path / "cache"), max_bytes=1 << 20, max_entries=3)
    try:
        for i in range(5):
            await store.set(f"k{i}", f"v{i}".encode(), 60)
        assert await store.get("k4") == b"v4"
        assert await store.get("k0") is None  # the oldest went first
        assert len(store._cache) == 3
    finally:
        await store.close()
    reopened = DiskBackend(str(tmp_path / "cache"), max_bytes=1 << 20, max_entries=3)
    try:
        assert await reopened.get("k4") == b"v4"  # survives a restart
    finally:
        await reopened.close()


@pytest.fixture
async def redis_prefix():
    prefix = f"polyroute-test:cache:{uuid.uuid4().hex}:"
    yield prefix
    await delete_prefix(prefix)


async def test_redis_round_trip_with_expiry(redis_prefix) -> None:
    store = RedisBackend(redis_client(), prefix=redis_prefix)
    try:
        await store.set("k", b"value", 120)
        await store.set("forever", b"v", None)
        assert await store.get("k") == b"value"
        assert await store.get("missing") is None
        ttl_ms = await store.client.pttl(redis_prefix + "k")
        assert 0 < ttl_ms <= 120_000
    finally:
        await store.close()
