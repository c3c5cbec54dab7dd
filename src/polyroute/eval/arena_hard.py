"""Scores of the Arena-Hard-Auto method: five-way verdicts against a baseline, strong wins
weighted, a Bradley-Terry fit with optional style control, and a bootstrap over questions.

Each (question, model) is judged twice against the baseline: game 1 shows the baseline as A,
game 2 shows it as B. A verdict becomes a battle between the model and the baseline: a slight
win counts once, a strong one (`>>`) `weight` times (3, as Arena-Hard does), `A=B` is a tie, an
unreadable verdict counts nothing. The model's strength is fitted by logistic regression on the
battles (a tie is half a win), with the baseline's strength fixed at 0; the score is the
modelled win rate against the baseline, in percent. Style control adds, per battle, the
normalised differences of answer length and of markdown headers, lists and bold text
((model - baseline) / (model + baseline + 1), standardised), so the strength is read with style
held equal.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from polyroute.eval.scoring import DEFAULT_ROUNDS, DEFAULT_SEED, percentile, resample_draws

STRONG_WEIGHT = 3
RIDGE = 1e-3  # keeps a model that wins (or loses) every battle at a finite strength
STYLE_FEATURES = ("length", "headers", "lists", "bold")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:\d+\.|[-*+])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_WORD = re.compile(r"\S+")

# (game, label) -> (the model's outcome, weight); game 1 shows the baseline as assistant A.
_OUTCOMES = {
    (1, "A>>B"): (0.0, STRONG_WEIGHT),
    (1, "A>B"): (0.0, 1),
    (1, "A=B"): (0.5, 1),
    (1, "B>A"): (1.0, 1),
    (1, "B>>A"): (1.0, STRONG_WEIGHT),
    (2, "A>>B"): (1.0, STRONG_WEIGHT),
    (2, "A>B"): (1.0, 1),
    (2, "A=B"): (0.5, 1),
    (2, "B>A"): (0.0, 1),
    (2, "B>>A"): (0.0, STRONG_WEIGHT),
}


def style_of(turns: Sequence[str]) -> tuple[float, float, float, float]:
    """(words, markdown headers, list items, bold spans) over an answer's turns."""
    text = "\n".join(turns)
    return (
        float(len(_WORD.findall(text))),
        float(len(_HEADER.findall(text))),
        float(len(_LIST.findall(text))),
        float(len(_BOLD.findall(text))),
    )


@dataclass(frozen=True)
class Battle:
    question_id: Any
    model: str
    outcome: float  # for the model: 1 win, 0.5 tie, 0 loss
    weight: int
    style: tuple[float, ...]  # normalised style differences, model minus baseline


def battles_from(
    records: Iterable[dict[str, Any]], styles: dict[tuple[str, Any], tuple[float, ...]]
) -> list[Battle]:
    """Battles of judgment records; `styles` maps (model, question_id) to style_of(answer)."""
    battles = []
    for record in records:
        model, baseline, qid = record["model"], record["baseline"], record["question_id"]
        mine = styles.get((model, qid), (0.0,) * 4)
        theirs = styles.get((baseline, qid), (0.0,) * 4)
        style = tuple((m - t) / (m + t + 1.0) for m, t in zip(mine, theirs, strict=True))
        for game, played in enumerate(record["games"], 1):
            outcome = _OUTCOMES.get((game, played.get("score")))
            if outcome is not None:
                battles.append(Battle(qid, model, outcome[0], outcome[1], style))
    return battles


def _design(battles: Sequence[Battle], models: list[str], style_control: bool) -> tuple[np.ndarray, ...]:
    x = np.zeros((len(battles), len(models)))
    index = {m: i for i, m in enumerate(models)}
    for row, battle in enumerate(battles):
        x[row, index[battle.model]] = 1.0
    if style_control:
        style = np.array([b.style for b in battles], dtype=float)
        spread = style.std(axis=0)
        usable = spread > 0  # a feature that never varies says nothing (and would divide by 0)
        style = (style[:, usable] - style[:, usable].mean(axis=0)) / spread[usable]
        x = np.hstack([x, style])
    y = np.array([b.outcome for b in battles], dtype=float)
    w = np.array([b.weight for b in battles], dtype=float)
    return x, y, w


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Weighted logistic regression with fractional labels, by Newton's method (IRLS)."""
    theta = np.zeros(x.shape[1])
    for _ in range(200):
        mu = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (w * (y - mu)) - ridge * theta
        hessian = (x * (w * mu * (1.0 - mu))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        theta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta


def win_rates_vs_baseline(battles: Sequence[Battle], style_control: bool = False) -> dict[str, float]:
    """Each model's modelled win rate (percent) against the baseline, style held equal."""
    models = sorted({b.model for b in battles})
    if not models:
        return {}
    x, y, w = _design(battles, models, style_control)
    theta = fit_logistic(x, y, w)
    return {m: 100.0 / (1.0 + math.exp(-theta[i])) for i, m in enumerate(models)}


@dataclass
class ArenaScore:
    model: str
    score: float  # modelled win rate against the baseline, percent
    ci_low: float | None
    ci_high: float | None
    raw_win_rate: float  # weighted (wins + ties/2) / battles, percent
    battles: int


def arena_scores(
    battles: Sequence[Battle],
    *,
    style_control: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
) -> dict[str, ArenaScore]:
    """Scores with a bootstrap interval (questions drawn with replacement, all their battles)."""
    point = win_rates_vs_baseline(battles, style_control)
    by_question: dict[Any, list[Battle]] = defaultdict(list)
    for battle in battles:
        by_question[battle.question_id].append(battle)
    groups = list(by_question.values())
    samples: dict[str, list[float]] = defaultdict(list)
    for draw in resample_draws(len(groups), rounds, seed):
        drawn = [b for i in draw for b in groups[i]]
        for model, value in win_rates_vs_baseline(drawn, style_control).items():
            samples[model].append(value)
    scores = {}
    for model, value in point.items():
        mine = [b for b in battles if b.model == model]
        total = sum(b.weight for b in mine)
        raw = 100.0 * sum(b.weight * b.outcome for b in mine) / total if total else 0.0
        drawn = samples.get(model, [])
        scores[model] = ArenaScore(
            model,
            value,
            percentile(drawn, 2.5) if drawn else None,
            percentile(drawn, 97.5) if drawn else None,
            raw,
            len(mine),
        )
    return dict(sorted(scores.items(), key=lambda item: -item[1].score))
