"""Behaviour every SharedState must show, written once and run against each implementation.

A test module subclasses `StateContract` (the name keeps pytest from collecting it here) and
provides a `state` fixture. Times are chosen so every expected float is exact.
"""

from __future__ import annotations

import asyncio

import pytest

from polyroute.state.base import Admission, Cooldown, LatencyStats, SharedState, WorkerRecord

T0 = 1_700_000_040.0  # a multiple of 60: the start of a one-minute window
W = 60.0


class StateContract:
    # -- windowed counters ----------------------------------------------------------------------
    async def test_window_refuses_past_limit_with_truthful_retry_after(self, state: SharedState) -> None:
        assert await state.try_take("rpm:a", 2, 5, W, T0 + 12.5) == Admission(True, 2, 0.0)
        assert await state.try_take("rpm:a", 2, 5, W, T0 + 13.5) == Admission(True, 4, 0.0)
        assert await state.try_take("rpm:a", 2, 5, W, T0 + 14.5) == Admission(False, 4, 45.5)
        assert await state.try_take("rpm:a", 1, 5, W, T0 + 15.0) == Admission(True, 5, 0.0)
        assert await state.try_take("rpm:a", 1, 5, W, T0 + 59.75) == Admission(False, 5, 0.25)
        assert await state.window_usage(["rpm:a", "rpm:b"], W, T0 + 30) == [5, 0]

    async def test_amount_above_limit_is_refused_and_takes_nothing(self, state: SharedState) -> None:
        assert await state.try_take("tpm:a", 1001, 1000, W, T0) == Admission(False, 0, 60.0)
        assert await state.try_take("tpm:a", 1000, 1000, W, T0 + 1) == Admission(True, 1000, 0.0)

    async def test_window_resets_when_the_clock_moves_past_it(self, state: SharedState) -> None:
        for used in (1, 2, 3):
            assert await state.try_take("rpm:a", 1, 3, W, T0 + 10) == Admission(True, used, 0.0)
        assert await state.try_take("rpm:a", 1, 3, W, T0 + 59.5) == Admission(False, 3, 0.5)
        assert await state.try_take("rpm:a", 1, 3, W, T0 + 60) == Admission(True, 1, 0.0)
        assert await state.window_usage(["rpm:a"], W, T0 + 61) == [1]
        # A call whose clock read came just before the boundary still lands in its own window
        # and leaves the new window alone.
        assert await state.try_take("rpm:a", 1, 3, W, T0 + 59.9) == Admission(False, 3, 0.09999990463256836)
        assert await state.adjust("rpm:a", -1, W, T0 + 59.9) == 2
        assert await state.window_usage(["rpm:a"], W, T0 + 61) == [1]
        assert await state.try_take("rpm:a", 2, 3, W, T0 + 120) == Admission(True, 2, 0.0)

    async def test_windows_of_different_lengths_are_separate(self, state: SharedState) -> None:
        assert await state.try_take("k", 3, 10, 1.0, T0) == Admission(True, 3, 0.0)
        assert await state.try_take("k", 4, 10, W, T0) == Admission(True, 4, 0.0)
        assert await state.try_take("k", 1, 10, 1.0, T0 + 0.5) == Admission(True, 4, 0.0)
        assert await state.window_usage(["k"], 1, T0 + 0.5) == [4]  # int and float lengths agree
        assert await state.window_usage(["k"], W, T0 + 0.5) == [4]

    async def test_reserve_seeds_an_empty_window_and_admits_while_anything_is_left(
        self, state: SharedState
    ) -> None:
        # The database knows of 90 spent: the window starts there, not at zero.
        assert await state.try_reserve("budget:k", 5, 100, 90, W, T0) == Admission(True, 95, 0.0)
        # A seed never overwrites a window that already holds a value.
        assert await state.try_reserve("budget:k", 4, 100, 0, W, T0 + 1) == Admission(True, 99, 0.0)
        # 99 < 100: admitted although the reservation goes past the limit (overshoot <= one request).
        assert await state.try_reserve("budget:k", 30, 100, 0, W, T0 + 2) == Admission(True, 129, 0.0)
        assert await state.try_reserve("budget:k", 1, 100, 0, W, T0 + 3) == Admission(False, 129, 57.0)
        # Settling gives back what a request did not spend, and the budget opens again.
        assert await state.adjust("budget:k", -30, W, T0 + 2) == 99
        assert await state.try_reserve("budget:k", 1, 100, 0, W, T0 + 4) == Admission(True, 100, 0.0)
        # A new period starts from its own seed.
        assert await state.try_reserve("budget:k", 1, 100, 7, W, T0 + 60) == Admission(True, 8, 0.0)

    async def test_reserve_refuses_a_seed_already_over_the_limit(self, state: SharedState) -> None:
        assert await state.try_reserve("budget:x", 1, 10, 12, W, T0) == Admission(False, 12, 60.0)
        assert await state.window_usage(["budget:x"], W, T0) == [12]

    async def test_concurrent_reservations_overshoot_by_at_most_one(self, state: SharedState) -> None:
        results = await asyncio.gather(*[state.try_reserve("budget:c", 7, 50, 40, W, T0) for _ in range(40)])
        admitted = [r for r in results if r.allowed]
        assert len(admitted) == 2  # 40 -> 47 -> 54: the second is the one that overshoots
        assert await state.window_usage(["budget:c"], W, T0) == [54]

    async def test_values_expire_and_delete(self, state: SharedState) -> None:
        assert await state.get_value("cache:a") is None
        await state.set_value("cache:a", b"one", 30)
        await state.set_value("cache:b", b"two", 0.05)
        assert await state.get_value("cache:a") == b"one"
        await asyncio.sleep(0.2)
        assert await state.get_value("cache:b") is None
        await state.delete_values(["cache:a", "cache:missing"])
        assert await state.get_value("cache:a") is None

    async def test_adjust_reconciles_and_floors_at_zero(self, state: SharedState) -> None:
        assert await state.try_take("tpm:a", 10, 100, W, T0) == Admission(True, 10, 0.0)
        assert await state.adjust("tpm:a", -4, W, T0 + 1) == 6
        assert await state.window_usage(["tpm:a"], W, T0 + 2) == [6]
        assert await state.adjust("tpm:a", -100, W, T0 + 3) == 0
        assert await state.window_usage(["tpm:a"], W, T0 + 4) == [0]
        assert await state.adjust("tpm:a", 3, W, T0 + 5) == 3
        assert await state.try_take("tpm:a", 97, 100, W, T0 + 6) == Admission(True, 100, 0.0)
        assert await state.try_take("tpm:a", 1, 100, W, T0 + 7) == Admission(False, 100, 53.0)
        assert await state.adjust("tpm:missing", -5, W, T0) == 0
        assert await state.adjust("tpm:a", 7, W, T0 + W) == 7  # the next window starts from zero

    async def test_concurrent_takes_admit_exactly_the_limit(self, state: SharedState) -> None:
        results = await asyncio.gather(*(state.try_take("rpm:c", 1, 50, W, T0 + 5) for _ in range(200)))
        assert sum(r.allowed for r in results) == 50
        assert sorted(r.used for r in results if r.allowed) == list(range(1, 51))
        assert all(r == Admission(False, 50, 55.0) for r in results if not r.allowed)
        assert await state.window_usage(["rpm:c"], W, T0 + 5) == [50]

    # -- in-flight counts -----------------------------------------------------------------------
    async def test_inflight_counts_and_floors_at_zero(self, state: SharedState) -> None:
        assert await state.inflight_add("dep", 1) == 1
        assert await state.inflight_add("dep", 1) == 2
        assert await state.inflight_add("dep", -1) == 1
        assert await state.inflight(["dep", "other"]) == [1, 0]
        assert await state.inflight_add("dep", -5) == 0
        assert await state.inflight(["dep"]) == [0]
        assert await state.inflight_add("dep", 1) == 1
        assert await state.inflight_add("never", -1) == 0

    async def test_empty_key_lists(self, state: SharedState) -> None:
        assert await state.window_usage([], W, T0) == []
        assert await state.inflight([]) == []
        assert await state.cooldowns([], T0) == []
        assert await state.latencies([]) == []

    # -- failures -------------------------------------------------------------------------------
    async def test_failures_slide_out_of_the_window(self, state: SharedState) -> None:
        assert await state.record_failure("dep", 30, T0) == 1
        assert await state.record_failure("dep", 30, T0 + 10) == 2
        assert await state.record_failure("dep", 30, T0 + 20) == 3
        assert await state.record_failure("dep", 30, T0 + 35) == 3  # T0 is out (35 - 0 >= 30)
        assert await state.record_failure("dep", 30, T0 + 50) == 2  # T0+20 is exactly 30 old: out
        assert await state.record_failure("dep", 30, T0 + 200) == 1
        await state.clear_failures("dep")
        assert await state.record_failure("dep", 30, T0 + 201) == 1

    async def test_failures_at_the_same_instant_all_count(self, state: SharedState) -> None:
        counts = [await state.record_failure("dep", 60, T0) for _ in range(3)]
        assert counts == [1, 2, 3]
        assert await state.record_failure("other", 60, T0) == 1

    # -- cooldowns ------------------------------------------------------------------------------
    async def test_cooldown_later_until_wins_and_expires(self, state: SharedState) -> None:
        await state.set_cooldown("dep", Cooldown(T0 + 30, "429"), T0)
        await state.set_cooldown("dep", Cooldown(T0 + 10, "401"), T0 + 1)  # earlier: ignored
        assert await state.cooldowns(["dep", "other"], T0 + 5) == [Cooldown(T0 + 30, "429"), None]
        await state.set_cooldown("dep", Cooldown(T0 + 60, "allowed_fails"), T0 + 6)
        assert await state.cooldowns(["dep"], T0 + 59.5) == [Cooldown(T0 + 60, "allowed_fails")]
        assert await state.cooldowns(["dep"], T0 + 60) == [None]
        # Once over, any new cooldown starts afresh, even one ending before the old `until`
        # would matter: the old one is gone.
        await state.set_cooldown("dep", Cooldown(T0 + 70, "500"), T0 + 61)
        assert await state.cooldowns(["dep"], T0 + 62) == [Cooldown(T0 + 70, "500")]

    async def test_cooldown_that_already_ended_is_not_set(self, state: SharedState) -> None:
        await state.set_cooldown("dep", Cooldown(T0 - 1, "429"), T0)
        assert await state.cooldowns(["dep"], T0) == [None]

    async def test_clear_cooldown(self, state: SharedState) -> None:
        await state.set_cooldown("dep", Cooldown(T0 + 30, "429"), T0)
        await state.clear_cooldown("dep")
        assert await state.cooldowns(["dep"], T0 + 1) == [None]
        await state.set_cooldown("dep", Cooldown(T0 + 5, "401"), T0 + 1)
        assert await state.cooldowns(["dep"], T0 + 2) == [Cooldown(T0 + 5, "401")]

    # -- latencies ------------------------------------------------------------------------------
    async def test_ewma_math_is_exact(self, state: SharedState) -> None:
        assert await state.latencies(["dep"]) == [LatencyStats(None, None, 0)]
        await state.record_latency("dep", 0.5, 2.0)
        assert await state.latencies(["dep"]) == [LatencyStats(0.5, 2.0, 1)]
        await state.record_latency("dep", None, 1.0)  # no ttft (not streamed): ttft unchanged
        total = 0.2 * 1.0 + (1 - 0.2) * 2.0
        assert await state.latencies(["dep"]) == [LatencyStats(0.5, total, 2)]
        await state.record_latency("dep", 0.1, 3.3, alpha=0.3)
        ttft = 0.3 * 0.1 + (1 - 0.3) * 0.5
        total = 0.3 * 3.3 + (1 - 0.3) * total
        assert (ttft, total) == (0.38, 2.25)  # the arithmetic itself, pinned
        assert await state.latencies(["dep", "none"]) == [
            LatencyStats(ttft, total, 3),
            LatencyStats(None, None, 0),
        ]

    async def test_ewma_stays_bit_identical_over_many_samples(self, state: SharedState) -> None:
        ttft = total = None
        for i in range(25):
            sample_ttft, sample_total = 0.013 * i + 0.07, 1.0 / (i + 3)
            await state.record_latency("dep", sample_ttft, sample_total, alpha=0.17)
            ttft = sample_ttft if ttft is None else 0.17 * sample_ttft + (1 - 0.17) * ttft
            total = sample_total if total is None else 0.17 * sample_total + (1 - 0.17) * total
        assert await state.latencies(["dep"]) == [LatencyStats(ttft, total, 25)]

    async def test_first_ttft_may_come_after_other_samples(self, state: SharedState) -> None:
        await state.record_latency("dep", None, 1.0)
        await state.record_latency("dep", 0.25, 2.0, alpha=0.5)
        assert await state.latencies(["dep"]) == [LatencyStats(0.25, 1.5, 2)]

    async def test_alpha_outside_zero_one_is_rejected(self, state: SharedState) -> None:
        for alpha in (0.0, -0.1, 1.5):
            with pytest.raises(ValueError, match="alpha"):
                await state.record_latency("dep", 0.1, 1.0, alpha=alpha)
        assert await state.latencies(["dep"]) == [LatencyStats(None, None, 0)]

    # -- one caller key in every family ---------------------------------------------------------
    async def test_families_do_not_collide_on_one_key(self, state: SharedState) -> None:
        key = "deployment-1"
        assert await state.try_take(key, 2, 10, W, T0) == Admission(True, 2, 0.0)
        assert await state.inflight_add(key, 3) == 3
        assert await state.record_failure(key, 60, T0) == 1
        await state.set_cooldown(key, Cooldown(T0 + 5, "429"), T0)
        await state.record_latency(key, 0.5, 1.0)
        assert await state.window_usage([key], W, T0) == [2]
        assert await state.inflight([key]) == [3]
        assert await state.cooldowns([key], T0) == [Cooldown(T0 + 5, "429")]
        assert await state.latencies([key]) == [LatencyStats(0.5, 1.0, 1)]
        assert await state.record_failure(key, 60, T0 + 1) == 2

    # -- worker registry ------------------------------------------------------------------------
    async def test_worker_registers_heartbeats_and_expires(self, state: SharedState) -> None:
        worker = WorkerRecord("http://10.1.2.3:21002", ("vicuna", "vicuna-7b"), speed=2.0, queue_length=1)
        stored = await state.register_worker(worker, 90, T0)
        assert stored == WorkerRecord(
            "http://10.1.2.3:21002", ("vicuna", "vicuna-7b"), 2.0, 1, "fastchat", False, T0, T0 + 90
        )
        assert await state.list_workers(T0 + 1) == [stored]
        assert await state.get_worker(worker.address, T0 + 1) == stored
        # A heartbeat moves the expiry and carries the queue length.
        beat = await state.refresh_worker(worker.address, 4, 90, T0 + 60)
        assert beat is not None and (beat.queue_length, beat.heartbeat_at, beat.expires_at) == (
            4,
            T0 + 60,
            T0 + 150,
        )
        assert beat.model_names == ("vicuna", "vicuna-7b") and beat.speed == 2.0
        assert await state.list_workers(T0 + 149.5) == [beat]
        # Silent for the whole TTL: gone, and a late heartbeat is told to register again.
        assert await state.list_workers(T0 + 150) == []
        assert await state.refresh_worker(worker.address, 0, 90, T0 + 151) is None
        assert await state.get_worker(worker.address, T0 + 151) is None

    async def test_a_workers_registrant_survives_every_operation(self, state: SharedState) -> None:
        worker = WorkerRecord("http://10.1.2.4:21002", ("vicuna",), owner="0f1e2d3c4b5a69788796a5b4c3d2e1f0")
        await state.register_worker(worker, 90, T0)
        beat = await state.refresh_worker(worker.address, 2, 90, T0 + 1)
        assert beat is not None and beat.owner == worker.owner
        assert [w.owner for w in await state.list_workers(T0 + 2)] == [worker.owner]
        found = await state.get_worker(worker.address, T0 + 2)
        assert found is not None and found.owner == worker.owner

    async def test_heartbeat_of_an_unknown_worker_registers_nothing(self, state: SharedState) -> None:
        assert await state.refresh_worker("http://127.0.0.1:9", 3, 90, T0) is None
        assert await state.list_workers(T0) == []

    async def test_several_workers_are_listed_by_address_and_removed(self, state: SharedState) -> None:
        b = await state.register_worker(WorkerRecord("http://b:2", ("m",), protocol="openai"), 30, T0)
        a = await state.register_worker(WorkerRecord("http://a:1", ("m", "n"), multimodal=True), 90, T0 + 5)
        assert await state.list_workers(T0 + 6) == [a, b]
        assert b.protocol == "openai" and a.multimodal
        assert await state.list_workers(T0 + 31) == [a]  # b's shorter TTL ran out
        assert await state.remove_worker("http://a:1") is True
        assert await state.remove_worker("http://a:1") is False
        assert await state.list_workers(T0 + 32) == []

    async def test_registering_again_replaces_the_worker(self, state: SharedState) -> None:
        await state.register_worker(WorkerRecord("http://w:1", ("old",), queue_length=9), 90, T0)
        again = await state.register_worker(WorkerRecord("http://w:1", ("new",)), 90, T0 + 10)
        assert await state.list_workers(T0 + 11) == [again]
        assert again.model_names == ("new",) and again.queue_length == 0

    async def test_worker_ttl_must_be_positive(self, state: SharedState) -> None:
        with pytest.raises(ValueError, match="ttl"):
            await state.register_worker(WorkerRecord("http://w:1", ("m",)), 0, T0)
        assert await state.list_workers(T0) == []
