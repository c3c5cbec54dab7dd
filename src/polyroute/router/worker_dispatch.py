"""FastChat's dispatch methods (`--dispatch-method`) as orderings of a group's worker deployments.

* `lottery`: a random order drawn with probability proportional to each worker's reported speed
  (FastChat draws one worker that way; the rest of the order is the fallback sequence).
* `shortest_queue`: the smallest `(queue_length + in_flight) / speed` first. `queue_length` is what
  the worker reported in its last heartbeat; `in_flight` is the gateway's own count of requests
  running at that worker right now (shared across gateway processes), which plays the part of
  FastChat's "add one on every dispatch" between two heartbeats. Ties are broken at random.

A worker reporting a speed of 0 (or less) goes last in both, as FastChat never picks one by lottery.
"""

from __future__ import annotations

import random

from polyroute.router.deployment import Deployment
from polyroute.router.strategies import Order
from polyroute.state.base import SharedState


def _speed(deployment: Deployment) -> float:
    return deployment.worker.speed if deployment.worker is not None else 1.0


async def lottery(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    keyed = [(rng.random() ** (1.0 / s) if (s := _speed(d)) > 0 else -1.0, d) for d in group]
    return [d for _, d in sorted(keyed, key=lambda item: item[0], reverse=True)]


async def shortest_queue(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    in_flight = await state.inflight([d.keys.inflight for d in group])

    def load(i: int) -> float:
        deployment = group[i]
        speed = _speed(deployment)
        if speed <= 0:
            return float("inf")
        reported = deployment.worker.queue_length if deployment.worker is not None else 0
        return (reported + in_flight[i]) / speed

    order = sorted(range(len(group)), key=lambda i: (load(i), rng.random()))
    return [group[i] for i in order]


DISPATCH_METHODS: dict[str, Order] = {"lottery": lottery, "shortest_queue": shortest_queue}
