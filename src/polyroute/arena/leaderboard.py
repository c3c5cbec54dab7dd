"""The leaderboard table: ratings, intervals, ranks and counts for one view and one category.

The UI calls:

    board = await build_leaderboard(store, settings, view="bt", category="all",
                                    extra_scores={"model": 8.1}, extra_label="mt_bench")
    board.to_json()          # JSON-ready dict: rows, win-fraction matrix, counts (GET /leaderboard)
    board.to_csv()           # CSV text, one row per model
    board.categories         # the category names that have battles, for a picker (also in to_json)

    boards = LeaderboardCache(store, settings, ttl_s=30)   # what a page should use: one computation
    board = await boards.get(view="bt", category="all")    # per (view, category) per ttl, shared by
                                                           # concurrent requests

- views: "bt" (Bradley-Terry) and "style" (Bradley-Terry with answer length and markdown counts
  held equal; `style_coefficients` says how much each feature moved the votes);
- categories: "all", "multi_turn" (two turns or more), "long_query" (user text of at least
  `ArenaSettings.long_query_chars`), "language:<Name>" (the first message's language);
- rows: `rank` (by upper bound), `model`, `rating`, `ci_lower`, `ci_upper`, `votes`, `elo_online`,
  and the caller's extra column (MT-Bench scores) when `extra_scores` is given. Every model that
  ever battled has a row: one without votes in this selection has `rating` None and comes last.

Only anonymous, voted, unflagged battles count (`ArenaStore.outcomes`). The maths runs in a
worker thread (`compute_leaderboard` is the synchronous core).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyroute.arena.features import STYLE_FEATURES
from polyroute.arena.ratings import (
    Battles,
    bootstrap_intervals,
    fit_bradley_terry,
    online_elo,
    rank_by_upper_bound,
    style_covariates,
    win_fraction,
)
from polyroute.arena.settings import ArenaSettings
from polyroute.arena.store import ArenaStore, Outcome
from polyroute.errors import InvalidRequestError

VIEWS = ("bt", "style")
FIXED_CATEGORIES = ("all", "multi_turn", "long_query")
LANGUAGE_PREFIX = "language:"
COLUMNS = ("rank", "model", "rating", "ci_lower", "ci_upper", "votes", "elo_online")
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Leaderboard:
    view: str
    category: str
    battles: int
    rows: list[dict[str, Any]]
    win_models: list[str]
    win_matrix: list[list[float | None]]
    style_coefficients: dict[str, float] = field(default_factory=dict)
    extra_label: str | None = None
    rounds: int = 0
    #: every category that has battles (over all outcomes, not only this one's), for a picker
    categories: list[str] = field(default_factory=lambda: list(FIXED_CATEGORIES))

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "category": self.category,
            "battles": self.battles,
            "bootstrap_rounds": self.rounds,
            "columns": list(self.columns),
            "rows": self.rows,
            "win_fraction": {"models": self.win_models, "matrix": self.win_matrix},
            "style_coefficients": self.style_coefficients,
            "categories": self.categories,
        }

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS + ((self.extra_label,) if self.extra_label else ())

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_csv_cell(row.get(column)) for column in self.columns])
        return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def select_category(outcomes: Sequence[Outcome], category: str, long_query_chars: int) -> list[Outcome]:
    if category == "all":
        return list(outcomes)
    if category == "multi_turn":
        return [o for o in outcomes if o.turns >= 2]
    if category == "long_query":
        return [o for o in outcomes if o.user_chars >= long_query_chars]
    if category.startswith(LANGUAGE_PREFIX):
        language = category[len(LANGUAGE_PREFIX) :]
        return [o for o in outcomes if o.language == language]
    raise InvalidRequestError(
        f"unknown category '{category[:64]}' (use all, multi_turn, long_query or language:<Name>)",
        param="category",
    )


def categories(outcomes: Sequence[Outcome]) -> list[str]:
    languages = sorted({o.language for o in outcomes if o.language and o.language != "unknown"})
    return [*FIXED_CATEGORIES, *(LANGUAGE_PREFIX + language for language in languages)]


def compute_leaderboard(
    outcomes: Sequence[Outcome],
    all_models: Sequence[str],
    *,
    view: str = "bt",
    category: str = "all",
    rounds: int = 100,
    seed: int = 0,
    long_query_chars: int = 2_000,
    extra_scores: Mapping[str, float] | None = None,
    extra_label: str = "mt_bench",
) -> Leaderboard:
    if view not in VIEWS:
        raise InvalidRequestError(f"view must be one of {', '.join(VIEWS)}", param="view")
    chosen = select_category(outcomes, category, long_query_chars)
    rated = _rate(chosen, view, rounds, seed)
    order = sorted(rated.ratings, key=lambda m: -rated.ratings[m])
    return Leaderboard(
        view=view,
        category=category,
        battles=len(chosen),
        rows=_rows(rated, order, all_models, extra_scores, extra_label),
        win_models=order,
        win_matrix=win_fraction(rated.battles, order) if rated.battles is not None else [],
        style_coefficients={k: round(v, 4) for k, v in rated.coefficients.items()},
        extra_label=extra_label if extra_scores is not None else None,
        rounds=rounds if chosen else 0,
        categories=categories(outcomes),
    )


@dataclass(frozen=True)
class _Rated:
    pairs: list[tuple[str, str, str]]
    battles: Battles | None = None
    ratings: dict[str, float] = field(default_factory=dict)
    lower: dict[str, float] = field(default_factory=dict)
    upper: dict[str, float] = field(default_factory=dict)
    coefficients: dict[str, float] = field(default_factory=dict)


def _rate(chosen: Sequence[Outcome], view: str, rounds: int, seed: int) -> _Rated:
    pairs = [(o.model_a, o.model_b, o.winner) for o in chosen]
    if not pairs:
        return _Rated(pairs)
    battles = Battles.from_outcomes(pairs, _style_matrix(chosen) if view == "style" else None)
    fit = fit_bradley_terry(battles)
    intervals = bootstrap_intervals(battles, rounds=rounds, seed=seed)
    coefficients = dict(zip(STYLE_FEATURES, fit.covariate_coefficients, strict=False))
    return _Rated(pairs, battles, fit.ratings, intervals.lower, intervals.upper, coefficients)


def _rows(
    rated: _Rated,
    order: list[str],
    all_models: Sequence[str],
    extra_scores: Mapping[str, float] | None,
    extra_label: str,
) -> list[dict[str, Any]]:
    """Rated models by rating, then every other model that battled or has an extra score
    (unrated) by name."""
    ranks = rank_by_upper_bound(rated.lower, rated.upper)
    elo = online_elo(rated.pairs)
    votes = {m: 0 for m in (*all_models, *(extra_scores or {}))}
    for a, b, _ in rated.pairs:
        votes[a] = votes.get(a, 0) + 1
        votes[b] = votes.get(b, 0) + 1
    unrated = sorted(m for m in votes if m not in rated.ratings)
    rows = []
    for model in (*order, *unrated):
        row: dict[str, Any] = {
            "rank": ranks.get(model),
            "model": model,
            "rating": _round(rated.ratings.get(model)),
            "ci_lower": _round(rated.lower.get(model)),
            "ci_upper": _round(rated.upper.get(model)),
            "votes": votes.get(model, 0),
            "elo_online": _round(elo.get(model)),
        }
        if extra_scores is not None:
            score = extra_scores.get(model)
            row[extra_label] = None if score is None else float(score)
        rows.append(row)
    return rows


async def build_leaderboard(
    store: ArenaStore,
    settings: ArenaSettings,
    *,
    view: str = "bt",
    category: str = "all",
    extra_scores: Mapping[str, float] | None = None,
    extra_label: str = "mt_bench",
) -> Leaderboard:
    """Reads the votes (two queries) and computes the table in a worker thread."""
    outcomes = await store.outcomes()
    models = await store.models_ever_battled()
    return await asyncio.to_thread(
        compute_leaderboard,
        outcomes,
        models,
        view=view,
        category=category,
        rounds=settings.bootstrap_rounds,
        seed=settings.bootstrap_seed,
        long_query_chars=settings.long_query_chars,
        extra_scores=dict(extra_scores) if extra_scores is not None else None,
        extra_label=extra_label,
    )


class LeaderboardCache:
    """Recomputes a (view, category) table at most once per `ttl_s`; requests that arrive while it
    is computed wait for that one computation. Bounded: unknown categories are refused before a
    slot is made, and languages are the ones that have battles."""

    def __init__(
        self,
        store: ArenaStore,
        settings: ArenaSettings,
        *,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.settings, self.ttl_s, self._clock = store, settings, ttl_s, clock
        self._entries: dict[tuple[str, str, str], tuple[float, asyncio.Task[Leaderboard]]] = {}

    async def get(
        self,
        *,
        view: str = "bt",
        category: str = "all",
        extra_scores: Mapping[str, float] | None = None,
        extra_label: str = "mt_bench",
    ) -> Leaderboard:
        if view not in VIEWS:
            raise InvalidRequestError(f"view must be one of {', '.join(VIEWS)}", param="view")
        select_category([], category, 0)  # refuses an unknown category before anything is cached
        if category.startswith(LANGUAGE_PREFIX) and category not in (await self.get()).categories:
            # only languages that have battles: a made-up name costs nothing and takes no slot
            raise InvalidRequestError(f"no battles in category '{category[:64]}'", param="category")
        extras = tuple(sorted((extra_scores or {}).items()))
        key = (view, category, repr((extra_label, extras)) if extra_scores is not None else "")
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or now - entry[0] >= self.ttl_s or _failed(entry[1]):
            if len(self._entries) >= _MAX_CACHED:
                self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl_s}
                if len(self._entries) >= _MAX_CACHED:
                    self._entries.clear()
            task = asyncio.ensure_future(
                build_leaderboard(
                    self.store,
                    self.settings,
                    view=view,
                    category=category,
                    extra_scores=extra_scores,
                    extra_label=extra_label,
                )
            )
            entry = (now, task)
            self._entries[key] = entry
        return await asyncio.shield(entry[1])


_MAX_CACHED = 256


def _failed(task: asyncio.Task[Leaderboard]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


def _style_matrix(outcomes: Sequence[Outcome]) -> np.ndarray:
    def counts(side: str) -> np.ndarray:
        return np.array(
            [[float((o.style.get(side) or {}).get(f, 0)) for f in STYLE_FEATURES] for o in outcomes]
        )

    return style_covariates(counts("a"), counts("b"))


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)
