"""The numbers of an MT-Bench run: averages, per-category scores, win rates and intervals.

Single grading: a model's score is the mean of its 1-10 ratings over every judged turn, as
FastChat's show_result computes it (turn 1, turn 2 and both); verdicts that could not be read are
errors and never reach these records. Pairwise grading: each pair is judged twice with the
answers' positions swapped; when the two games disagree, or either says tie, the pair is a tie
(FastChat's rule). Win rate counts ties as neither; the adjusted win rate counts a tie as half.
Intervals are percentile bootstraps over questions: questions are drawn with replacement, and
all of a drawn question's verdicts go with it, since turns of one question are not independent.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ROUNDS = 1000
DEFAULT_SEED = 0


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def resample_draws(n: int, rounds: int, seed: int) -> Iterable[list[int]]:
    """`rounds` bootstrap samples of n indices each, drawn with replacement (seeded)."""
    rng = random.Random(seed)  # noqa: S311  # a reproducible bootstrap, not a secret
    for _ in range(rounds):
        yield [rng.randrange(n) for _ in range(n)]


def bootstrap_interval(
    groups: Sequence[Any],
    statistic: Callable[[list[Any]], float | None],
    draws: Iterable[Sequence[int]],
    confidence: float = 95.0,
) -> tuple[float, float] | None:
    """The central `confidence`% interval of `statistic` over resampled groups (questions)."""
    values = []
    for draw in draws:
        value = statistic([groups[i] for i in draw])
        if value is not None:
            values.append(value)
    if not values:
        return None
    tail = (100.0 - confidence) / 2
    return percentile(values, tail), percentile(values, 100.0 - tail)


@dataclass
class SingleScore:
    model: str
    score: float
    turn1: float | None
    turn2: float | None
    categories: dict[str, float]
    judged: int  # verdicts counted
    ci_low: float | None = None
    ci_high: float | None = None


def _mean_of_groups(groups: list[list[float]]) -> float | None:
    return mean([score for group in groups for score in group])


def single_scores(
    judgments: Iterable[dict[str, Any]],
    categories: dict[Any, str],
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
) -> dict[str, SingleScore]:
    """Per model: mean rating overall, per turn and per category, with a bootstrap interval."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in judgments:
        by_model[record["model"]].append(record)
    scores = {}
    for model, records in sorted(by_model.items()):
        per_question: dict[Any, list[float]] = defaultdict(list)
        per_category: dict[str, list[float]] = defaultdict(list)
        for record in records:
            per_question[record["question_id"]].append(float(record["score"]))
            per_category[categories.get(record["question_id"], "?")].append(float(record["score"]))
        everything = [float(r["score"]) for r in records]
        groups = list(per_question.values())
        interval = bootstrap_interval(groups, _mean_of_groups, resample_draws(len(groups), rounds, seed))
        scores[model] = SingleScore(
            model=model,
            score=mean(everything) or 0.0,
            turn1=mean([float(r["score"]) for r in records if r["turn"] == 1]),
            turn2=mean([float(r["score"]) for r in records if r["turn"] == 2]),
            categories={name: mean(values) or 0.0 for name, values in sorted(per_category.items())},
            judged=len(records),
            ci_low=interval[0] if interval else None,
            ci_high=interval[1] if interval else None,
        )
    return scores


def pair_outcome(g1_winner: str, g2_winner: str) -> str:
    """'model_1', 'model_2' or 'tie': both games must name the same winner, else it is a tie."""
    if g1_winner == "tie" or g1_winner != g2_winner:
        return "tie"
    return g1_winner


@dataclass
class WinRate:
    model: str
    win: int = 0
    loss: int = 0
    tie: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    opponents: set[str] = field(default_factory=set)

    @property
    def games(self) -> int:
        return self.win + self.loss + self.tie

    @property
    def win_rate(self) -> float:
        return self.win / self.games if self.games else 0.0

    @property
    def loss_rate(self) -> float:
        return self.loss / self.games if self.games else 0.0

    @property
    def adjusted(self) -> float:
        """Wins plus half the ties, over all pairs (FastChat's win_rate_adjusted)."""
        return (self.win + 0.5 * self.tie) / self.games if self.games else 0.0


def _tally(records: Iterable[dict[str, Any]], baseline: str | None) -> dict[str, WinRate]:
    rates: dict[str, WinRate] = {}
    for record in records:
        model_1, model_2 = record["model_1"], record["model_2"]
        if baseline is not None and baseline not in (model_1, model_2):
            continue
        one = rates.setdefault(model_1, WinRate(model_1))
        two = rates.setdefault(model_2, WinRate(model_2))
        one.opponents.add(model_2)
        two.opponents.add(model_1)
        outcome = pair_outcome(record["g1_winner"], record["g2_winner"])
        if outcome == "tie":
            one.tie += 1
            two.tie += 1
        elif outcome == "model_1":
            one.win += 1
            two.loss += 1
        else:
            two.win += 1
            one.loss += 1
    if baseline is not None:
        rates.pop(baseline, None)
    return rates


def win_rates(
    records: Iterable[dict[str, Any]],
    baseline: str | None = None,
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
) -> dict[str, WinRate]:
    """Wins, losses and ties per model over pairwise records (against `baseline` only, if given;
    the baseline itself is left out), with a bootstrap interval of the adjusted win rate."""
    records = list(records)
    rates = _tally(records, baseline)
    by_question: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_question[record["question_id"]].append(record)
    groups = list(by_question.values())
    for model, rate in rates.items():

        def adjusted(sample: list[list[dict[str, Any]]], model: str = model) -> float | None:
            tally = _tally((r for group in sample for r in group), baseline).get(model)
            return tally.adjusted if tally and tally.games else None

        interval = bootstrap_interval(groups, adjusted, resample_draws(len(groups), rounds, seed))
        if interval is not None:
            rate.ci_low, rate.ci_high = interval
    return dict(sorted(rates.items(), key=lambda item: -item[1].adjusted))
