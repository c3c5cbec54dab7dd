"""FailoverState against an unreachable Redis and against a real Redis whose connection breaks and
comes back (through a loopback TCP proxy); then build_state, which picks the backend."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from polyroute.config.env_refs import MissingCredentialError
from polyroute.state.base import Admission, Cooldown, LatencyStats
from polyroute.state.factory import build_state
from polyroute.state.failover import FailoverState
from polyroute.state.memory import MemoryState
from polyroute.state.redis import RedisState
from tests.state.contract import T0, StateContract, W
from tests.state.support import (
    REDIS_HOST,
    REDIS_PORT,
    FakeClock,
    TcpProxy,
    delete_prefix,
    free_port,
    unique_prefix,
)

LOGGER = "polyroute.state"


class CallCounter:
    """Wraps a RedisState and counts the calls that reach it (reaching Redis is what we test)."""

    def __init__(self, inner: RedisState) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str):
        attribute = getattr(self.inner, name)
        if name in ("target", "redact", "prefix") or not callable(attribute):
            return attribute

        def counted(*args, **kwargs):
            self.calls += 1
            return attribute(*args, **kwargs)

        return counted


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == level]


class TestFailoverContractWhileRedisIsUp(StateContract):
    @pytest.fixture
    async def state(self) -> AsyncIterator[FailoverState]:
        prefix = unique_prefix()
        state = FailoverState(
            RedisState.from_settings(host=REDIS_HOST, port=REDIS_PORT, prefix=prefix), MemoryState()
        )
        try:
            yield state
            assert state.fallback_operations == 0 and state.backend == "redis"
        finally:
            await delete_prefix(prefix)
            await state.close()


class TestFailoverContractWhileRedisIsDown(StateContract):
    @pytest.fixture
    async def state(self) -> AsyncIterator[FailoverState]:
        state = FailoverState(RedisState.from_settings(host=REDIS_HOST, port=free_port()), MemoryState())
        try:
            assert await state.inflight(["probe"]) == [0]  # finds Redis down
            assert (state.fallback_operations, state.backend) == (1, "memory (redis unreachable)")
            yield state
            assert state.backend == "memory (redis unreachable)"
        finally:
            await state.close()


async def test_unreachable_redis_is_served_from_memory(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = FakeClock()
    redis = CallCounter(
        RedisState.from_settings(url=f"redis://admin:pw-never-logged@{REDIS_HOST}:{free_port()}/0")
    )
    state = FailoverState(redis, MemoryState(), retry_s=5, clock=clock)  # type: ignore[arg-type]
    try:
        assert state.backend == "redis"
        assert await state.try_take("rpm:a", 1, 2, W, T0) == Admission(True, 1, 0.0)
        assert (redis.calls, state.fallback_operations, state.backend) == (1, 1, "memory (redis unreachable)")
        # Until retry_s has passed, memory answers without trying Redis.
        clock.advance(4.9)
        assert await state.try_take("rpm:a", 1, 2, W, T0) == Admission(True, 2, 0.0)
        assert await state.try_take("rpm:a", 1, 2, W, T0) == Admission(False, 2, W)
        assert await state.inflight_add("dep", 1) == 1
        assert (redis.calls, state.fallback_operations) == (1, 4)
        # Then one call tries Redis again; it still fails, so memory serves it, and the next ones.
        clock.advance(0.1)
        assert await state.window_usage(["rpm:a"], W, T0) == [2]
        assert await state.inflight(["dep"]) == [1]
        assert (redis.calls, state.fallback_operations) == (2, 6)
        clock.advance(5)
        assert await state.inflight(["dep"]) == [1]
        assert (redis.calls, state.fallback_operations) == (3, 7)

        warnings = records(caplog, logging.WARNING)
        assert len(warnings) == 1
        message = warnings[0].getMessage()
        assert f"redis at redis://{REDIS_HOST}:" in message and "per process only" in message
        assert "Error" in message  # why: the connection error's class and text
        assert "pw-never-logged" not in caplog.text and "admin" not in caplog.text
        assert records(caplog, logging.INFO) == []
    finally:
        await state.close()


async def test_concurrent_failures_log_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    state = FailoverState(RedisState.from_settings(host=REDIS_HOST, port=free_port()), MemoryState())
    try:
        results = await asyncio.gather(*(state.try_take("rpm:c", 1, 5, W, T0) for _ in range(20)))
        assert sum(r.allowed for r in results) == 5
        assert state.fallback_operations == 20
        assert len(records(caplog, logging.WARNING)) == 1
    finally:
        await state.close()


async def test_redis_errors_other_than_unreachable_are_raised() -> None:
    prefix = unique_prefix()
    redis = RedisState.from_settings(host=REDIS_HOST, port=REDIS_PORT, prefix=prefix)
    state = FailoverState(redis, MemoryState())
    try:
        await redis._client.set(f"{prefix}cool:bad", "not a hash")
        with pytest.raises(Exception, match="WRONGTYPE"):
            await state.set_cooldown("bad", Cooldown(T0 + 5, "429"), T0)
        assert (state.fallback_operations, state.backend) == (0, "redis")
    finally:
        await delete_prefix(prefix)
        await state.close()


async def test_resumes_when_redis_comes_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    proxy = TcpProxy()
    await proxy.start()
    prefix = unique_prefix()
    state = FailoverState(
        RedisState.from_settings(host=REDIS_HOST, port=proxy.port, prefix=prefix), MemoryState(), 5, clock
    )
    try:
        assert await state.try_take("rpm:r", 3, 10, W, T0) == Admission(True, 3, 0.0)
        await state.record_latency("dep", 0.5, 1.0)
        assert (state.backend, state.fallback_operations) == ("redis", 0)

        await proxy.stop()  # Redis "goes away": listener and open connections both
        assert await state.try_take("rpm:r", 1, 10, W, T0 + 1) == Admission(True, 1, 0.0)  # memory's count
        assert (state.backend, state.fallback_operations) == ("memory (redis unreachable)", 1)
        assert len(records(caplog, logging.WARNING)) == 1

        await proxy.start()  # same port
        assert await state.try_take("rpm:r", 1, 10, W, T0 + 2) == Admission(True, 2, 0.0)  # still memory
        assert state.fallback_operations == 2
        clock.advance(5)
        # Redis again, with what it held before the outage (the memory-time take is not in it).
        assert await state.try_take("rpm:r", 1, 10, W, T0 + 3) == Admission(True, 4, 0.0)
        assert await state.latencies(["dep"]) == [LatencyStats(0.5, 1.0, 1)]
        assert (state.backend, state.fallback_operations) == ("redis", 2)
        resumed = records(caplog, logging.INFO)
        assert [r.getMessage() for r in resumed] == [
            f"shared state resumed: redis at redis://{REDIS_HOST}:{proxy.port}/0 answers again"
        ]
        assert len(records(caplog, logging.WARNING)) == 1
    finally:
        await delete_prefix(prefix)
        await state.close()
        await proxy.stop()


class StalledRedis:
    """A RedisState whose try_take waits for a signal (a call sent before an outage, answered
    after it began) and whose inflight fails as an unreachable Redis does."""

    def __init__(self, inner: RedisState) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.target, self.redact = inner.target, inner.redact

    async def try_take(self, *args):
        await self.release.wait()
        return await self.inner.try_take(*args)

    async def inflight(self, keys):
        raise RedisConnectionError("Connection closed by server.")

    async def close(self) -> None:
        await self.inner.close()


async def test_a_call_sent_before_the_outage_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    prefix = unique_prefix()
    redis = StalledRedis(RedisState.from_settings(host=REDIS_HOST, port=REDIS_PORT, prefix=prefix))
    state = FailoverState(redis, MemoryState(), 5, FakeClock())  # type: ignore[arg-type]
    try:
        early = asyncio.create_task(state.try_take("rpm:s", 1, 5, W, T0))
        await asyncio.sleep(0)  # `early` is now waiting on Redis
        assert await state.inflight(["dep"]) == [0]  # the outage starts
        redis.release.set()
        assert await early == Admission(True, 1, 0.0)  # answered by Redis...
        assert state.backend == "memory (redis unreachable)"  # ...yet the outage goes on
        assert records(caplog, logging.INFO) == []
    finally:
        await delete_prefix(prefix)
        await state.close()


async def test_healthy_and_close() -> None:
    state = FailoverState(RedisState.from_settings(host=REDIS_HOST, port=free_port()), MemoryState())
    assert await state.healthy() is True  # memory serves; `backend` says which
    await state.close()


# -- build_state ---------------------------------------------------------------------------------------
async def test_no_redis_settings_means_memory() -> None:
    state = build_state({"routing_strategy": "simple-shuffle"}, {"REDIS_PORT": "6379", "REDIS_PASSWORD": "x"})
    assert isinstance(state, MemoryState)
    assert state.backend == "memory"


async def test_env_is_used_when_router_settings_has_no_redis_key() -> None:
    state = build_state({}, {"REDIS_HOST": REDIS_HOST, "REDIS_PORT": str(REDIS_PORT), "REDIS_PASSWORD": "pw"})
    try:
        assert isinstance(state, FailoverState)
        assert state._redis.target == f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
        assert state._redis._client.connection_pool.connection_kwargs["password"] == "pw"
    finally:
        await state.close()
    state = build_state({}, {"REDIS_URL": "redis://cache.internal:6390/4"})
    try:
        assert state._redis.target == "redis://cache.internal:6390/4"  # type: ignore[attr-defined]
    finally:
        await state.close()


async def test_router_settings_win_and_resolve_env_references() -> None:
    env = {"REDIS_HOST": "ignored.internal", "MY_REDIS_HOST": "10.1.2.3", "MY_REDIS_PW": "pw-from-env"}
    settings = {
        "redis_host": "os.environ/MY_REDIS_HOST",
        "redis_port": 6381,
        "redis_password": "os.environ/MY_REDIS_PW",
    }
    state = build_state(settings, env)
    try:
        assert isinstance(state, FailoverState)
        assert state._redis.target == "redis://10.1.2.3:6381/0"
        assert state._redis._client.connection_pool.connection_kwargs["password"] == "pw-from-env"
    finally:
        await state.close()
    state = build_state({"redis_url": "redis://a.internal:7000/1", "redis_db": 5}, env)
    try:
        assert state._redis.target == "redis://a.internal:7000/1"  # type: ignore[attr-defined]
    finally:
        await state.close()


async def test_built_state_talks_to_real_redis() -> None:
    state = build_state({"redis_host": REDIS_HOST, "redis_port": str(REDIS_PORT)}, {})
    key = f"rpm:build-{uuid.uuid4().hex}"  # the default prefix is shared with other runs: a key of its own
    try:
        assert state.backend == "redis"
        assert await state.try_take(key, 1, 1, W, T0) == Admission(True, 1, 0.0)
        assert await state.try_take(key, 1, 1, W, T0) == Admission(False, 1, W)
        assert state.fallback_operations == 0  # type: ignore[attr-defined]
    finally:
        await state._redis._client.delete(f"polyroute:win:{key}:60.0:28333334")  # type: ignore[attr-defined]
        await state.close()


def test_bad_settings_are_reported_by_name() -> None:
    with pytest.raises(MissingCredentialError, match="MY_MISSING_PW"):
        build_state({"redis_host": "h", "redis_password": "os.environ/MY_MISSING_PW"}, {})
    with pytest.raises(ValueError, match="redis_port must be an integer"):
        build_state({"redis_host": "h", "redis_port": "sixty"}, {})
    with pytest.raises(ValueError, match="neither redis_url nor redis_host"):
        build_state({"redis_password": "pw"}, {"REDIS_HOST": "h"})
