"""Leaderboard maths: Bradley-Terry by maximum likelihood, bootstrap intervals, rank by upper
bound, online Elo, and the style-controlled fit. Pure numpy, synchronous: run it off the event loop.

Bradley-Terry (as FastChat's `compute_elo_mle_with_tie`): P(A beats B) = 1 / (1 + exp(b_B - b_A)),
fitted by logistic regression on the battles with no intercept; a tie counts as half a win for each
side (FastChat duplicates every battle and splits a tie into one win each: the same likelihood as
the soft label 0.5 used here). Ratings are `1000 + 400 / ln(10) * b` (FastChat's scale 400, base 10,
initial 1000). A very small ridge term (RIDGE) keeps the fit unique and finite: the strengths are
only defined up to a common shift (the ridge centres them, so the ratings average 1000) and a model
that never lost would otherwise run to infinity; against any real number of battles its pull is
negligible. The fit is Newton's method with step halving (the loss is convex).

Style control (as LMSYS's 2024 "style control"): each battle also carries, per style feature, the
normalised difference (a - b) / (a + b) of the two answers' counts, standardised over the battles;
these are extra regressors beside the model columns, so a model's rating is its strength with
answer length and markdown held equal.

Bootstrap: `rounds` resamples of the battles with replacement (seeded); a model's interval is the
2.5 and 97.5 percentiles of its rating over the rounds it appears in. Rank by upper bound:
1 + the number of models whose lower bound is above this model's upper bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCALE = 400.0
BASE = 10.0
INIT_RATING = 1000.0
ELO_K = 4.0  # FastChat's online Elo step
RIDGE = 1e-4
_RATING_PER_UNIT = SCALE / math.log(BASE)
_MAX_NEWTON_STEPS = 100
_TOLERANCE = 1e-10

# FastChat's winner labels -> the score of model A
SCORE_OF_WINNER = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


@dataclass(frozen=True)
class Battles:
    """Battles as index arrays over `models` (the fit's column order)."""

    models: tuple[str, ...]
    a: np.ndarray  # int index of model A per battle
    b: np.ndarray
    score: np.ndarray  # 1, 0 or 0.5: model A's result
    covariates: np.ndarray | None = None  # (n, k) style regressors, standardised

    @classmethod
    def from_outcomes(
        cls,
        pairs: Sequence[tuple[str, str, str]],
        covariates: np.ndarray | None = None,
    ) -> Battles:
        """`pairs`: (model_a, model_b, winner) with FastChat's winner labels."""
        models = tuple(sorted({m for a, b, _ in pairs for m in (a, b)}))
        index = {m: i for i, m in enumerate(models)}
        return cls(
            models=models,
            a=np.array([index[a] for a, _, _ in pairs], dtype=np.int64),
            b=np.array([index[b] for _, b, _ in pairs], dtype=np.int64),
            score=np.array([SCORE_OF_WINNER[w] for _, _, w in pairs], dtype=float),
            covariates=covariates,
        )

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class Fit:
    ratings: dict[str, float]
    covariate_coefficients: tuple[float, ...] = ()
    coefficients: np.ndarray | None = None  # the raw solution (model strengths, then covariates)


def fit_bradley_terry(
    battles: Battles, weights: np.ndarray | None = None, start: np.ndarray | None = None
) -> Fit:
    """Maximum-likelihood ratings (with style covariates when the battles carry them). `weights`
    count each battle (a bootstrap sample); a model with no weight gets no rating. `start` (a
    previous fit's coefficients) only speeds the solver up: the optimum is unique."""
    n_models = len(battles.models)
    w = np.ones(len(battles)) if weights is None else np.asarray(weights, dtype=float)
    present = np.zeros(n_models, dtype=bool)
    present[battles.a[w > 0]] = True
    present[battles.b[w > 0]] = True
    if battles.covariates is None:
        design, y, w = _grouped_design(battles, w)
    else:
        design = np.hstack([_model_columns(battles), battles.covariates])
        y = battles.score
    beta = _newton_logistic(design, y, w, start)
    ratings = {
        model: INIT_RATING + _RATING_PER_UNIT * beta[i]
        for i, model in enumerate(battles.models)
        if present[i]
    }
    covariates = tuple(float(c) for c in beta[n_models:])
    return Fit(ratings=ratings, covariate_coefficients=covariates, coefficients=beta)


def _model_columns(battles: Battles) -> np.ndarray:
    rows = np.arange(len(battles))
    columns = np.zeros((len(battles), len(battles.models)))
    columns[rows, battles.a] = 1.0
    columns[rows, battles.b] = -1.0
    return columns


def _grouped_design(battles: Battles, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Without covariates a battle is only (A, B, score): identical battles collapse into one
    weighted row, so the fit costs O(models^2) per step, not O(battles)."""
    m = len(battles.models)
    score_class = np.rint(battles.score * 2).astype(np.int64)  # 0, 1, 2
    key = (battles.a * m + battles.b) * 3 + score_class
    unique, inverse = np.unique(key, return_inverse=True)
    group_w = np.bincount(inverse, weights=w, minlength=len(unique))
    a, b = np.divmod(unique // 3, m)
    design = np.zeros((len(unique), m))
    rows = np.arange(len(unique))
    design[rows, a] = 1.0
    design[rows, b] = -1.0
    return design, (unique % 3) / 2.0, group_w


def _newton_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray | None) -> np.ndarray:
    beta = np.zeros(x.shape[1]) if start is None else start.copy()

    def loss(b: np.ndarray) -> float:
        z = x @ b
        # -[y log s(z) + (1-y) log s(-z)], computed stably
        return float(w @ (np.logaddexp(0.0, -z) + (1.0 - y) * z) + 0.5 * RIDGE * b @ b)

    current = loss(beta)
    for _ in range(_MAX_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (w * (p - y)) + RIDGE * beta
        hessian = (x * (w * p * (1.0 - p))[:, None]).T @ x + RIDGE * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        if gradient @ step < _TOLERANCE:  # the Newton decrement: at the optimum already
            break
        size = 1.0
        while size > 1e-8:
            candidate = beta - size * step
            candidate_loss = loss(candidate)
            if candidate_loss <= current:
                break
            size /= 2
        else:
            break
        beta, current = candidate, candidate_loss
        if np.max(np.abs(size * step)) < _TOLERANCE:
            break
    return beta


@dataclass(frozen=True)
class Intervals:
    lower: dict[str, float]
    upper: dict[str, float]
    samples: dict[str, np.ndarray]  # each model's bootstrap ratings (rounds it appeared in)


def bootstrap_intervals(battles: Battles, rounds: int = 100, seed: int = 0) -> Intervals:
    """95% intervals from `rounds` resamples with replacement (seeded: the same battles give the
    same intervals)."""
    rng = np.random.default_rng(seed)
    n = len(battles)
    table = np.full((rounds, len(battles.models)), np.nan)
    # Each resample's optimum lies near the full data's: starting there halves the Newton steps.
    start = fit_bradley_terry(battles).coefficients
    for r in range(rounds):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        fit = fit_bradley_terry(battles, counts, start)
        for i, model in enumerate(battles.models):
            if model in fit.ratings:
                table[r, i] = fit.ratings[model]
    lower, upper, samples = {}, {}, {}
    for i, model in enumerate(battles.models):
        column = table[:, i][~np.isnan(table[:, i])]
        samples[model] = column
        if len(column):
            lower[model] = float(np.quantile(column, 0.025))
            upper[model] = float(np.quantile(column, 0.975))
    return Intervals(lower=lower, upper=upper, samples=samples)


def rank_by_upper_bound(lower: dict[str, float], upper: dict[str, float]) -> dict[str, int]:
    """1 + the number of models whose lower bound is above this model's upper bound."""
    return {model: 1 + sum(1 for other in lower if lower[other] > upper[model]) for model in upper}


def online_elo(pairs: Sequence[tuple[str, str, str]], k: float = ELO_K) -> dict[str, float]:
    """FastChat's `compute_elo`: one pass in the given (time) order, K=4, ties half a win."""
    rating: dict[str, float] = {}
    for model_a, model_b, winner in pairs:
        ra = rating.get(model_a, INIT_RATING)
        rb = rating.get(model_b, INIT_RATING)
        expected_a = 1.0 / (1.0 + BASE ** ((rb - ra) / SCALE))
        score_a = SCORE_OF_WINNER[winner]
        rating[model_a] = ra + k * (score_a - expected_a)
        rating[model_b] = rb + k * ((1.0 - score_a) - (1.0 - expected_a))
    return rating


def win_fraction(battles: Battles, order: Sequence[str]) -> list[list[float | None]]:
    """Row model's share of wins against the column model over their decisive battles (ties left
    out, as FastChat's heat map); None where they never had one."""
    index = {m: i for i, m in enumerate(battles.models)}
    wins = np.zeros((len(battles.models),) * 2)
    decisive = battles.score != 0.5
    winners = np.where(battles.score == 1.0, battles.a, battles.b)[decisive]
    losers = np.where(battles.score == 1.0, battles.b, battles.a)[decisive]
    np.add.at(wins, (winners, losers), 1.0)
    games = wins + wins.T
    table: list[list[float | None]] = []
    for row in order:
        i = index.get(row)
        table.append([_share(wins, games, i, index.get(col)) for col in order])
    return table


def _share(wins: np.ndarray, games: np.ndarray, i: int | None, j: int | None) -> float | None:
    if i is None or j is None or games[i, j] == 0:
        return None
    return float(wins[i, j] / games[i, j])


def style_covariates(style_a: np.ndarray, style_b: np.ndarray) -> np.ndarray:
    """(n, k) counts per side -> normalised differences (a - b) / (a + b), standardised per feature."""
    total = style_a + style_b
    diff = np.divide(style_a - style_b, total, out=np.zeros_like(total, dtype=float), where=total > 0)
    std = diff.std(axis=0)
    return np.divide(diff - diff.mean(axis=0), std, out=np.zeros_like(diff), where=std > 0)
