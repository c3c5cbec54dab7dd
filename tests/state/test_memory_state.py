"""MemoryState against the shared contract, plus what only memory promises (bounded size)."""

from __future__ import annotations

import pytest

from polyroute.state.base import Admission, Cooldown
from polyroute.state.memory import MemoryState
from tests.state.contract import T0, StateContract, W


class TestMemoryContract(StateContract):
    @pytest.fixture
    def state(self) -> MemoryState:
        return MemoryState()


async def test_backend_name() -> None:
    assert MemoryState().backend == "memory"
    assert await MemoryState().healthy() is True


async def test_windows_keep_at_most_two_per_key() -> None:
    state = MemoryState()
    for minute in range(100):
        assert await state.try_take("rpm:a", 1, 5, W, T0 + minute * W) == Admission(True, 1, 0.0)
    assert state._windows == {("rpm:a", W): {28333334 + 98: 1, 28333334 + 99: 1}}


async def test_refused_take_stores_nothing() -> None:
    state = MemoryState()
    assert await state.try_take("tpm:a", 10, 5, W, T0) == Admission(False, 0, W)
    assert state._windows == {("tpm:a", W): {}}


async def test_failures_are_pruned_and_inflight_zero_is_dropped() -> None:
    state = MemoryState()
    for second in range(1000):
        await state.record_failure("dep", 10, T0 + second)
    assert state._failures["dep"] == [T0 + second for second in range(990, 1000)]
    await state.inflight_add("dep", 1)
    await state.inflight_add("dep", -1)
    assert state._inflight == {}


async def test_failures_out_of_order_still_leave_on_time() -> None:
    state = MemoryState()
    assert await state.record_failure("dep", 10, T0 + 5) == 1
    assert await state.record_failure("dep", 10, T0 + 1) == 2  # a clock read before an await
    assert await state.record_failure("dep", 10, T0 + 11.5) == 2  # T0+1 left, T0+5 stays
    assert state._failures["dep"] == [T0 + 5, T0 + 11.5]


async def test_expired_cooldowns_are_dropped_when_read() -> None:
    state = MemoryState()
    await state.set_cooldown("dep", Cooldown(T0 + 1, "429"), T0)
    assert await state.cooldowns(["dep"], T0 + 1) == [None]
    assert state._cooldowns == {}
