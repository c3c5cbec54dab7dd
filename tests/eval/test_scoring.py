"""The maths of a run against answers worked out by hand."""

from __future__ import annotations

import math

import pytest

from polyroute.eval.arena_hard import Battle, arena_scores, battles_from, style_of, win_rates_vs_baseline
from polyroute.eval.scoring import (
    bootstrap_interval,
    pair_outcome,
    percentile,
    resample_draws,
    single_scores,
    win_rates,
)


def test_percentile_interpolates_linearly_between_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 2.5) == pytest.approx(1.075)
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([5], 97.5) == 5


def test_bootstrap_interval_over_given_draws() -> None:
    groups = [[8, 6], [4], [10, 10]]  # one question per group, all its verdicts together

    def flat_mean(sample: list[list[float]]) -> float:
        values = [v for group in sample for v in group]
        return sum(values) / len(values)

    draws = [[0, 0, 0], [1, 1, 2], [2, 2, 2], [0, 1, 2]]  # means 7, 7, 10, 7.6
    low, high = bootstrap_interval(groups, flat_mean, draws)
    assert low == pytest.approx(7.0)
    assert high == pytest.approx(7.6 + 2.4 * 0.925)


def test_resample_draws_are_seeded_and_with_replacement() -> None:
    first = list(resample_draws(5, 20, seed=3))
    assert first == list(resample_draws(5, 20, seed=3))
    assert all(len(draw) == 5 and all(0 <= i < 5 for i in draw) for draw in first)
    assert any(len(set(draw)) < 5 for draw in first)


def test_single_scores_average_per_turn_and_category() -> None:
    judgments = [
        {"model": "m", "question_id": 1, "turn": 1, "score": 9},
        {"model": "m", "question_id": 1, "turn": 2, "score": 7},
        {"model": "m", "question_id": 2, "turn": 1, "score": 4},
        {"model": "same", "question_id": 1, "turn": 1, "score": 5},
        {"model": "same", "question_id": 2, "turn": 1, "score": 5},
    ]
    scores = single_scores(judgments, {1: "writing", 2: "math"}, rounds=200)
    m = scores["m"]
    assert m.score == pytest.approx(20 / 3)
    assert (m.turn1, m.turn2) == (6.5, 7.0)
    assert m.categories == {"math": 4.0, "writing": 8.0}
    assert m.judged == 3
    # Resampled questions: the mean lies between question 2 alone (4) and question 1 alone (8).
    assert 4.0 <= m.ci_low < m.score < m.ci_high <= 8.0
    assert (scores["same"].ci_low, scores["same"].ci_high) == (5.0, 5.0)
    assert scores["same"].turn2 is None


@pytest.mark.parametrize(
    ("g1", "g2", "outcome"),
    [
        ("model_1", "model_1", "model_1"),
        ("model_2", "model_2", "model_2"),
        ("model_1", "model_2", "tie"),  # the swapped game disagrees
        ("model_2", "model_1", "tie"),
        ("tie", "tie", "tie"),
        ("tie", "model_1", "tie"),
        ("model_1", "tie", "tie"),
    ],
)
def test_swap_rule(g1: str, g2: str, outcome: str) -> None:
    assert pair_outcome(g1, g2) == outcome


def test_win_rates_against_a_baseline_leave_other_pairs_and_the_baseline_out() -> None:
    def record(qid: int, one: str, two: str, g1: str, g2: str) -> dict:
        return {
            "question_id": qid,
            "model_1": one,
            "model_2": two,
            "g1_winner": g1,
            "g2_winner": g2,
            "turn": 1,
        }

    records = [
        record(1, "a", "base", "model_1", "model_1"),  # a wins
        record(2, "a", "base", "model_1", "model_2"),  # tie (disagreement)
        record(3, "a", "base", "model_2", "model_2"),  # a loses
        record(4, "a", "base", "model_1", "model_1"),  # a wins
        record(1, "b", "base", "tie", "tie"),
        record(1, "a", "b", "model_2", "model_2"),  # not against the baseline: not counted
    ]
    rates = win_rates(records, baseline="base", rounds=100)
    assert set(rates) == {"a", "b"}
    a = rates["a"]
    assert (a.win, a.loss, a.tie) == (2, 1, 1)
    assert (a.win_rate, a.loss_rate, a.adjusted) == (0.5, 0.25, 0.625)
    assert 0.0 <= a.ci_low <= a.adjusted <= a.ci_high <= 1.0
    assert rates["b"].adjusted == 0.5
    everyone = win_rates(records, rounds=10)
    assert (everyone["b"].win, everyone["b"].tie) == (1, 1) and everyone["base"].loss == 2


def test_five_way_verdicts_become_weighted_battles() -> None:
    record = {
        "question_id": 1,
        "model": "m",
        "baseline": "base",
        "games": [{"score": "B>>A"}, {"score": "B>A"}],
    }  # game 1: base is A; game 2: m is A
    unreadable = {
        "question_id": 2,
        "model": "m",
        "baseline": "base",
        "games": [{"score": None}, {"score": "A=B"}],
    }
    battles = battles_from([record, unreadable], {})
    assert [(b.question_id, b.outcome, b.weight) for b in battles] == [(1, 1.0, 3), (1, 0.0, 1), (2, 0.5, 1)]
    # Strong win counted 3 times, a slight loss once, a tie half: (3 + 0.5) / 5.
    scores = arena_scores(battles, rounds=50)
    assert scores["m"].raw_win_rate == pytest.approx(70.0)


def test_bradley_terry_win_rate_against_the_baseline() -> None:
    battles = [Battle(q, "m", outcome, 1, (0.0,) * 4) for q, outcome in enumerate([1.0, 1.0, 1.0, 0.0])]
    # One model against the baseline: the fitted win rate is its share of wins (less the tiny
    # pull of the ridge that keeps an all-wins model finite).
    assert win_rates_vs_baseline(battles)["m"] == pytest.approx(75.0, abs=0.05)
    scores = arena_scores(battles, rounds=200)
    assert scores["m"].ci_low <= 75.0 <= scores["m"].ci_high


def test_style_control_reads_the_strength_with_style_held_equal() -> None:
    # Long answers (30 words against the baseline's 10) win 3 of 4, short ones (10 vs 30) 2 of 4.
    long, short = style_of(["word " * 30]), style_of(["word " * 10])
    styles = {("m", q): (long if q < 4 else short) for q in range(8)}
    styles.update({("base", q): (short if q < 4 else long) for q in range(8)})
    labels = ["B>A", "B>A", "B>A", "A>B", "B>A", "B>A", "A>B", "A>B"]  # game 1: base is A
    records = [
        {"question_id": q, "model": "m", "baseline": "base", "games": [{"score": label}]}
        for q, label in enumerate(labels)
    ]
    battles = battles_from(records, styles)
    assert win_rates_vs_baseline(battles)["m"] == pytest.approx(62.5, abs=0.05)
    # With the length difference standardised to +1/-1: logit = b + g*s fits 3/4 at s=+1 and 1/2
    # at s=-1, so b = (ln 3 + 0) / 2 and the style-equal win rate is sqrt(3) / (1 + sqrt(3)).
    controlled = win_rates_vs_baseline(battles, style_control=True)["m"]
    assert controlled == pytest.approx(100 * math.sqrt(3) / (1 + math.sqrt(3)), abs=0.05)


def test_style_of_counts_words_headers_lists_and_bold() -> None:
    text = "# Title\n\nSome **bold** text\n- one\n- two\n1. first\n__also bold__"
    assert style_of([text, "second turn"]) == (15.0, 1.0, 3.0, 2.0)
