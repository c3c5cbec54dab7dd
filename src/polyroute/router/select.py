"""Picks a deployment from a model group: weighted random (LiteLLM's simple-shuffle)."""

from __future__ import annotations

import random

from polyroute.router.deployment import Deployment


def pick(group: list[Deployment], rng: random.Random = random._inst) -> Deployment:  # type: ignore[attr-defined]  # noqa: SLF001
    if len(group) == 1:
        return group[0]
    weights = [d.weight if d.weight is not None else (d.rpm or d.tpm or 1) for d in group]
    return rng.choices(group, weights=weights, k=1)[0]
