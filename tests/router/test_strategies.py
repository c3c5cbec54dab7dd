"""Each routing strategy orders a group by what it promises."""

from __future__ import annotations

import random

from polyroute.router.strategies import cost_based, latency_based, least_busy, simple_shuffle, usage_based
from polyroute.state.memory import MemoryState
from tests.router.harness import deployment, make_router

NOW = 1_800_000_000.0


def group(tmp_path, *entries):
    router, _, _ = make_router(tmp_path, list(entries))
    return router.table.deployments


async def test_simple_shuffle_follows_weights(tmp_path):
    deps = group(tmp_path, deployment("m", "heavy", weight=9), deployment("m", "light", weight=1))
    rng = random.Random(7)
    firsts = [(await simple_shuffle(deps, MemoryState(), rng, NOW))[0].id for _ in range(2000)]
    share = firsts.count("heavy") / len(firsts)
    assert 0.85 < share < 0.95


async def test_least_busy_prefers_fewest_in_flight(tmp_path):
    deps = group(tmp_path, deployment("m", "a"), deployment("m", "b"), deployment("m", "c"))
    state = MemoryState()
    for key, n in (("inflight:a", 3), ("inflight:b", 1), ("inflight:c", 2)):
        await state.inflight_add(key, n)
    ordered = await least_busy(deps, state, random.Random(1), NOW)
    assert [d.id for d in ordered] == ["b", "c", "a"]


async def test_latency_based_prefers_fastest_and_explores_unmeasured(tmp_path):
    deps = group(tmp_path, deployment("m", "slow"), deployment("m", "fast"), deployment("m", "new"))
    state = MemoryState()
    await state.record_latency("latency:slow", 0.9, 2.0)
    await state.record_latency("latency:fast", 0.1, 0.5)
    ordered = await latency_based(deps, state, random.Random(1), NOW)
    assert [d.id for d in ordered] == ["new", "fast", "slow"]


async def test_usage_based_prefers_most_headroom(tmp_path):
    deps = group(
        tmp_path,
        deployment("m", "busy", rpm=10),
        deployment("m", "idle", rpm=10),
        deployment("m", "half", tpm=100),
    )
    state = MemoryState()
    await state.adjust("rpm:busy", 9, 60, NOW)
    await state.adjust("rpm:idle", 1, 60, NOW)
    await state.adjust("tpm:half", 50, 60, NOW)
    ordered = await usage_based(deps, state, random.Random(1), NOW)
    assert [d.id for d in ordered] == ["idle", "half", "busy"]


async def test_cost_based_prefers_cheapest(tmp_path):
    deps = group(
        tmp_path,
        deployment("m", "pricey", model_info={"input_cost_per_token": 1e-5, "output_cost_per_token": 3e-5}),
        deployment("m", "cheap", model_info={"input_cost_per_token": 1e-7, "output_cost_per_token": 4e-7}),
        deployment("m", "unknown"),
    )
    ordered = await cost_based(deps, MemoryState(), random.Random(1), NOW)
    assert [d.id for d in ordered] == ["cheap", "pricey", "unknown"]


async def test_latency_based_compares_like_with_like(tmp_path):
    # "streams" started fast (ttft 0.1 s) but took 9 s in all; "whole" only served whole answers
    # in 2 s. Without a ttft for both, total latency decides; with one for both, ttft does.
    deps = group(tmp_path, deployment("m", "streams"), deployment("m", "whole"))
    state = MemoryState()
    await state.record_latency("latency:streams", 0.1, 9.0)
    await state.record_latency("latency:whole", None, 2.0)
    ordered = await latency_based(deps, state, random.Random(1), NOW)
    assert [d.id for d in ordered] == ["whole", "streams"]
    await state.record_latency("latency:whole", 0.5, 2.0)  # now it streamed too
    ordered = await latency_based(deps, state, random.Random(1), NOW)
    assert [d.id for d in ordered] == ["streams", "whole"]
