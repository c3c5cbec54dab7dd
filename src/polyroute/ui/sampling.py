"""Which two models meet in an anonymous battle: FastChat's `get_battle_pair` rules.

A model's weight is `sampling_weights[model]` (0 when weights are configured and it is not
listed, 1 for every model when none are), times `sampling_boost` for `sampling_boost_models`.
The first model is drawn by weight; its rival among the others by weight, except that the
first model's `battle_targets` share half of the total weight between them; then the two are
shuffled so that the first model is not always on the left.
"""

from __future__ import annotations

import random

from polyroute.ui.settings import ArenaSampling


class NoBattlePair(Exception):
    """Fewer than two models can battle."""


def _weight(model: str, sampling: ArenaSampling) -> float:
    weight = sampling.sampling_weights.get(model, 0.0) if sampling.sampling_weights else 1.0
    if model in sampling.sampling_boost_models:
        weight *= sampling.sampling_boost
    return weight


def battle_pair(models: list[str], sampling: ArenaSampling, rng: random.Random) -> tuple[str, str]:
    weights = [_weight(m, sampling) for m in models]
    candidates = [(m, w) for m, w in zip(models, weights, strict=True) if w > 0]
    if len(candidates) < 2:
        raise NoBattlePair(
            "The anonymous arena needs at least two models with a sampling weight; "
            f"this key can use {len(candidates)}."
        )
    total = sum(w for _, w in candidates)
    first = rng.choices([m for m, _ in candidates], weights=[w for _, w in candidates])[0]
    targets = sampling.battle_targets.get(first, [])
    rivals: list[tuple[str, float]] = []
    for model, weight in candidates:
        if model == first:
            continue
        if model in targets:
            weight = 0.5 * total / len(targets)
        rivals.append((model, weight))
    second = rng.choices([m for m, _ in rivals], weights=[w for _, w in rivals])[0]
    return (first, second) if rng.random() < 0.5 else (second, first)
