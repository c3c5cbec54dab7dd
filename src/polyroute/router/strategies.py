"""Orderings of a model group's available deployments (LiteLLM's routing_strategy names).

Each strategy returns the candidates best-first; the router admits the first one whose rpm/tpm
limits have room. Ties and unknowns are shuffled so load spreads instead of piling onto one.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from polyroute.router.deployment import Deployment
from polyroute.router.pricing import price_per_token
from polyroute.state.base import SharedState

Order = Callable[[list[Deployment], SharedState, random.Random, float], Awaitable[list[Deployment]]]


def _weight(deployment: Deployment) -> float:
    if deployment.weight is not None:
        return deployment.weight
    return float(deployment.rpm or deployment.tpm or 1)


async def simple_shuffle(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    """Weighted random order without replacement (weight, else rpm, else tpm, else 1)."""
    # Efraimidis-Spirakis: key u**(1/w) per item, sort descending; zero weight goes last.
    keyed = [(rng.random() ** (1.0 / w) if (w := _weight(d)) > 0 else -1.0, d) for d in group]
    return [d for _, d in sorted(keyed, key=lambda item: item[0], reverse=True)]


async def least_busy(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    counts = await state.inflight([d.keys.inflight for d in group])
    return [
        d
        for _, _, d in sorted(
            zip(counts, [rng.random() for _ in group], group, strict=True), key=lambda t: t[:2]
        )
    ]


async def latency_based(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    """Fastest moving-average latency first; deployments never measured go first (explore).

    Time to first token when every measured deployment has one (they served streams), else total
    latency: like is compared with like, so a deployment that only served whole answers (a total
    of seconds) is not ranked behind one whose streams started in milliseconds but ran longer."""
    stats = await state.latencies([d.keys.latency for d in group])
    measured = [s for s in stats if s.samples and s.total is not None]
    by_ttft = bool(measured) and all(s.ttft is not None for s in measured)

    def key(item: tuple) -> tuple[float, float]:
        stat, jitter, _ = item
        if not stat.samples or stat.total is None:
            return (-1.0, jitter)
        return (stat.ttft if by_ttft else stat.total, jitter)

    return [d for _, _, d in sorted(zip(stats, [rng.random() for _ in group], group, strict=True), key=key)]


async def usage_based(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    """Most rpm/tpm headroom (as a share of the limit) first; unlimited deployments count as empty."""
    keys = [k for d in group for k in (d.keys.rpm, d.keys.tpm)]
    used = await state.window_usage(keys, 60.0, now)

    def headroom(i: int) -> float:
        d = group[i]
        rooms = []
        if d.rpm:
            rooms.append(1.0 - used[2 * i] / d.rpm)
        if d.tpm:
            rooms.append(1.0 - used[2 * i + 1] / d.tpm)
        return min(rooms) if rooms else 1.0

    order = sorted(range(len(group)), key=lambda i: (-headroom(i), rng.random()))
    return [group[i] for i in order]


async def cost_based(
    group: list[Deployment], state: SharedState, rng: random.Random, now: float
) -> list[Deployment]:
    """Cheapest first by (input + output) price per token; unknown prices go last."""

    def key(d: Deployment) -> tuple[float, float]:
        price = price_per_token(d)
        return (price if price is not None else float("inf"), rng.random())

    return sorted(group, key=key)


STRATEGIES: dict[str, Order] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": latency_based,
    "usage-based-routing": usage_based,
    "usage-based-routing-v2": usage_based,
    "cost-based-routing": cost_based,
}
