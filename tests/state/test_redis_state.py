"""RedisState against the real Redis on 127.0.0.1:6379: the shared contract, atomicity across two
clients, one round trip per operation, and keys that expire by themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from polyroute.state.base import Admission, Cooldown, LatencyStats, WorkerRecord
from polyroute.state.redis import INFLIGHT_TTL_MS, LATENCY_TTL_S, MAX_COUNT, RedisState
from tests.state.contract import T0, StateContract, W
from tests.state.support import (
    REDIS_HOST,
    REDIS_PORT,
    delete_prefix,
    free_port,
    keys_under,
    open_redis_state,
    redis_client,
    unique_prefix,
)


class TestRedisContract(StateContract):
    @pytest.fixture
    async def state(self) -> AsyncIterator[RedisState]:
        state = await open_redis_state()
        try:
            yield state
        finally:
            await delete_prefix(state.prefix)
            await state.close()


class TestRedisContractDecodedResponses(StateContract):
    """The same behaviour through a client built with decode_responses=True (str, not bytes)."""

    @pytest.fixture
    async def state(self) -> AsyncIterator[RedisState]:
        state = await open_redis_state(decode_responses=True)
        try:
            yield state
        finally:
            await delete_prefix(state.prefix)
            await state.close()


@pytest.fixture
async def state() -> AsyncIterator[RedisState]:
    state = await open_redis_state()
    try:
        yield state
    finally:
        await delete_prefix(state.prefix)
        await state.close()


async def test_two_clients_admit_exactly_the_limit() -> None:
    """Two connection pools, as two gateway processes would have: 200 takes, limit 50."""
    prefix = unique_prefix()
    first = RedisState.from_settings(host=REDIS_HOST, port=REDIS_PORT, prefix=prefix)
    second = RedisState.from_settings(url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0", prefix=prefix)
    try:
        assert first._client.connection_pool is not second._client.connection_pool
        takes = [(first if i % 2 else second).try_take("rpm:x", 1, 50, W, T0 + 7) for i in range(200)]
        results = await asyncio.gather(*takes)
        assert sum(r.allowed for r in results) == 50
        assert sorted(r.used for r in results if r.allowed) == list(range(1, 51))
        assert {r for r in results if not r.allowed} == {Admission(False, 50, 53.0)}
        assert await first.window_usage(["rpm:x"], W, T0 + 8) == [50]
        # Both pools really did work, in parallel: each opened many connections of its own.
        for pool in (first._client.connection_pool, second._client.connection_pool):
            assert len(pool._available_connections) > 10
    finally:
        await delete_prefix(prefix)
        await first.close()
        await second.close()


class CountingConnection(aioredis.Connection):
    """Counts writes to the socket: one per round trip (a pipeline sends all its commands at once)."""

    sends = 0

    async def send_packed_command(self, command, check_health=True):
        CountingConnection.sends += 1
        return await super().send_packed_command(command, check_health)


async def test_one_round_trip_per_operation() -> None:
    state = await open_redis_state(connection_class=CountingConnection)
    keys = ["a", "b", "c"]
    operations = {
        "try_take": lambda: state.try_take("a", 1, 10, W, T0),
        "adjust": lambda: state.adjust("a", -1, W, T0),
        "window_usage": lambda: state.window_usage(keys, W, T0),
        "inflight_add": lambda: state.inflight_add("a", 1),
        "inflight": lambda: state.inflight(keys),
        "record_failure": lambda: state.record_failure("a", 60, T0),
        "clear_failures": lambda: state.clear_failures("a"),
        "set_cooldown": lambda: state.set_cooldown("a", Cooldown(T0 + 5, "429"), T0),
        "cooldowns": lambda: state.cooldowns(keys, T0),
        "clear_cooldown": lambda: state.clear_cooldown("a"),
        "record_latency": lambda: state.record_latency("a", 0.1, 0.2),
        "latencies": lambda: state.latencies(keys),
        "register_worker": lambda: state.register_worker(WorkerRecord("http://w:1", ("m",)), 90, T0),
        "refresh_worker": lambda: state.refresh_worker("http://w:1", 2, 90, T0 + 1),
        "list_workers": lambda: state.list_workers(T0 + 2),
        "get_worker": lambda: state.get_worker("http://w:1", T0 + 2),
        "remove_worker": lambda: state.remove_worker("http://w:1"),
    }
    try:
        for operation in operations.values():  # the first call of each script loads it
            await operation()
        sends = {}
        for name, operation in operations.items():
            before = CountingConnection.sends
            await operation()
            sends[name] = CountingConnection.sends - before
        assert sends == dict.fromkeys(operations, 1)
    finally:
        await delete_prefix(state.prefix)
        await state.close()


async def test_keys_are_named_by_family_and_expire_by_themselves(state: RedisState) -> None:
    p = state.prefix
    await state.try_take("rpm:d", 1, 10, W, T0 + 15)
    await state.inflight_add("d", 1)
    await state.record_failure("d", 30, T0)
    await state.set_cooldown("d", Cooldown(T0 + 20, "429"), T0)
    await state.record_latency("d", 0.1, 0.2)
    window_key = f"{p}win:rpm:d:60.0:28333334"
    client = state._client
    assert await keys_under(client, p) == {
        window_key,
        f"{p}inflight:d",
        f"{p}fail:d",
        f"{p}cool:d",
        f"{p}lat:d",
    }
    # Expiry = time left (by the caller's clock) + 1 s of slack for clock skew between machines.
    assert 45_000 < await client.pttl(window_key) <= 46_000
    assert INFLIGHT_TTL_MS - 5_000 < await client.pttl(f"{p}inflight:d") <= INFLIGHT_TTL_MS
    assert 30_000 < await client.pttl(f"{p}fail:d") <= 31_000
    assert 20_000 < await client.pttl(f"{p}cool:d") <= 21_000
    assert LATENCY_TTL_S - 5 < await client.ttl(f"{p}lat:d") <= LATENCY_TTL_S
    assert await client.hgetall(f"{p}cool:d") == {b"until": b"1700000060.0", b"reason": b"429"}
    assert await client.zcard(f"{p}fail:d") == 1


async def test_worker_keys_expire_by_themselves(state: RedisState) -> None:
    """A worker whose heartbeats stop leaves Redis even when no gateway ever lists again."""
    p = state.prefix
    client = state._client
    await state.register_worker(WorkerRecord("http://w:1", ("m",)), 30, T0)
    assert await keys_under(client, p) == {f"{p}worker:http://w:1", f"{p}workers:index"}
    assert 30_000 < await client.pttl(f"{p}worker:http://w:1") <= 31_000
    assert 30_000 < await client.pttl(f"{p}workers:index") <= 31_000
    await state.refresh_worker("http://w:1", 1, 90, T0 + 1)
    assert 90_000 < await client.pttl(f"{p}worker:http://w:1") <= 91_000
    assert 90_000 < await client.pttl(f"{p}workers:index") <= 91_000
    # A shorter registration elsewhere never shortens the index under a longer-lived worker.
    await state.register_worker(WorkerRecord("http://w:2", ("m",)), 5, T0 + 1)
    assert 85_000 < await client.pttl(f"{p}workers:index") <= 91_000
    # Real expiry: a TTL of 50 ms (plus the slack) passes, the hash is gone and listing prunes.
    short = await open_redis_state(prefix=p + "short:")
    try:
        await short.register_worker(WorkerRecord("http://w:3", ("m",)), 0.05, T0)
        await asyncio.sleep(1.2)
        assert await keys_under(client, p + "short:") == set()
    finally:
        await short.close()


async def test_adjust_below_zero_keeps_an_expiry(state: RedisState) -> None:
    assert await state.adjust("tpm:e", -3, W, T0 + 30) == 0
    assert 30_000 < await state._client.pttl(f"{state.prefix}win:tpm:e:60.0:28333334") <= 31_000


async def test_counts_past_what_lua_and_incrby_hold_are_clamped_not_an_error(state: RedisState) -> None:
    """A budget reservation grows with the request's max_tokens (up to 2**64 in JSON): Redis's
    INCRBY refused such amounts, a 500 per request. They are clamped to MAX_COUNT instead."""
    huge = 2**64 * 10**6
    taken = await state.try_reserve("budget:huge", huge, 10**7, 0, W, T0)
    assert taken == Admission(True, MAX_COUNT, 0.0)  # admitted below the budget, reserving the most
    assert await state.try_reserve("budget:huge", 1, 10**7, 0, W, T0) == Admission(False, MAX_COUNT, 60.0)
    assert await state.adjust("budget:huge", -huge, W, T0) == 0  # the settlement gives it back
    assert await state.try_take("tpm:huge", huge, huge, W, T0) == Admission(True, MAX_COUNT, 0.0)
    assert await state.inflight_add("parallel:huge", huge) == MAX_COUNT
    assert await state.inflight_add("parallel:huge", -huge) == 0


async def test_wrong_key_type_is_an_error_not_a_silent_pass(state: RedisState) -> None:
    await state._client.set(f"{state.prefix}cool:bad", "x")
    with pytest.raises(aioredis.ResponseError, match="WRONGTYPE"):
        await state.set_cooldown("bad", Cooldown(T0 + 5, "429"), T0)


async def test_healthy() -> None:
    state = await open_redis_state()
    dead = RedisState.from_settings(host=REDIS_HOST, port=free_port())
    try:
        assert await state.healthy() is True
        assert await dead.healthy() is False
    finally:
        await state.close()
        await dead.close()


async def test_from_settings_by_url_and_by_host() -> None:
    prefix = unique_prefix()
    by_url = RedisState.from_settings(url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0", prefix=prefix)
    by_host = RedisState.from_settings(host=REDIS_HOST, port=REDIS_PORT, prefix=prefix)
    try:
        assert by_url.target == by_host.target == f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        assert await by_url.try_take("k", 2, 3, W, T0) == Admission(True, 2, 0.0)
        assert await by_host.try_take("k", 2, 3, W, T0) == Admission(False, 2, W)
        await by_host.record_latency("k", None, 4.0)
        assert await by_url.latencies(["k"]) == [LatencyStats(None, 4.0, 1)]
    finally:
        await delete_prefix(prefix)
        await by_url.close()
        await by_host.close()


async def test_target_and_redact_never_show_credentials() -> None:
    state = RedisState.from_settings(url="redis://admin:s3cr3t-pw@redis.internal:6380/2")
    other = RedisState.from_settings(host="10.0.0.5", password="hunter2-pw", db=3)
    try:
        assert state.target == "redis://redis.internal:6380/2"
        assert state.redact("AUTH admin s3cr3t-pw failed") == "AUTH admin *** failed"
        assert other.target == "redis://10.0.0.5:6379/3"
        assert "hunter2-pw" not in other.redact("bad password hunter2-pw")
    finally:
        await state.close()
        await other.close()


def test_from_settings_needs_a_server() -> None:
    with pytest.raises(ValueError, match="url or a host"):
        RedisState.from_settings(password="x")


async def test_redis_is_reachable() -> None:
    """Not a skip: without Redis on 127.0.0.1:6379 this and every Redis test fail."""
    client = redis_client()
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()
