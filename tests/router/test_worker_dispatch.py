"""FastChat's dispatch methods over worker deployments: lottery in proportion to speed, shortest
queue by (reported queue + in flight) / speed, and how workers and providers mix in one group."""

from __future__ import annotations

import random
from collections import Counter

from polyroute.controller.directory import worker_deployment
from polyroute.controller.settings import ControllerConfig
from polyroute.router.worker_dispatch import lottery, shortest_queue
from polyroute.state.base import WorkerRecord
from polyroute.state.memory import MemoryState


def workers(*specs: tuple[str, float, int]):
    config = ControllerConfig()
    return [
        worker_deployment(WorkerRecord(f"http://127.0.0.1:{port}", ("m",), speed, queue), "m", config)
        for port, speed, queue in specs
    ]


async def test_lottery_picks_in_proportion_to_speed():
    group = workers(("1", 1.0, 0), ("2", 3.0, 0), ("3", 0.0, 0))
    rng = random.Random(7)
    state = MemoryState()
    firsts = Counter()
    draws = 8000
    for _ in range(draws):
        order = await lottery(group, state, rng, 0.0)
        firsts[order[0].worker.address] += 1
        assert order[-1].worker.speed == 0.0  # speed 0 is never drawn before the others
    share = firsts["http://127.0.0.1:2"] / draws
    assert 0.73 < share < 0.77  # 3 / (1 + 3)
    assert firsts["http://127.0.0.1:3"] == 0


async def test_shortest_queue_divides_by_speed_and_counts_requests_in_flight():
    group = workers(("1", 1.0, 4), ("2", 4.0, 8), ("3", 1.0, 1))
    state = MemoryState()
    rng = random.Random(1)
    # loads: 4/1, 8/4 = 2, 1/1 = 1
    assert [d.worker.address[-1] for d in await shortest_queue(group, state, rng, 0.0)] == ["3", "2", "1"]
    # The gateway's own requests in flight count until the next heartbeat reports them.
    for _ in range(3):
        await state.inflight_add(f"inflight:{group[2].id}", 1)
    # loads: 4, 2, (1 + 3) / 1 = 4
    order = await shortest_queue(group, state, rng, 0.0)
    assert order[0].worker.address.endswith(":2")
    ties = Counter()
    for _ in range(200):
        ties[(await shortest_queue(group, state, rng, 0.0))[1].worker.address] += 1
    assert set(ties) == {"http://127.0.0.1:1", "http://127.0.0.1:3"}  # equal loads share the load


async def test_mixed_group_orders_workers_first_then_providers():
    from polyroute.config.loader import load_config
    from polyroute.router.engine import Router
    from polyroute.router.worker_dispatch import DISPATCH_METHODS

    config = load_config(None, {})
    providers = [d for d in config.models.configured if d.model_name == "mock-gpt"]
    group = workers(("1", 1.0, 0), ("2", 1.0, 0)) + providers
    router = Router(config.models, config.router, MemoryState(), worker_order=DISPATCH_METHODS["lottery"])
    for _ in range(20):
        order = await router._order(list(reversed(group)), 0.0)
        assert [d.worker is not None for d in order] == [True, True, False]
