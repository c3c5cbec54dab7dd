"""The leaderboard maths against known answers: battles drawn from known true ratings, an
independent maximum-likelihood fit, closed forms for ties, hand-made rank-by-upper-bound cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polyroute.arena.ratings import (
    Battles,
    bootstrap_intervals,
    fit_bradley_terry,
    online_elo,
    rank_by_upper_bound,
    style_covariates,
    win_fraction,
)

# true ratings averaging 1000 (the fit's anchor), some close together
TRUTH = {
    "alpha": 1180.0,
    "bravo": 1090.0,
    "charlie": 1040.0,
    "delta": 1000.0,
    "echo": 930.0,
    "foxtrot": 760.0,
}


def draw_battles(
    truth: dict[str, float], n: int, seed: int, tie_share: float = 0.0
) -> list[tuple[str, str, str]]:
    """Battles from the Bradley-Terry model (base 10, scale 400). With `tie_share`, a Rao-Kupper
    style split: a tie takes that share of the probability mass, symmetric around the BT odds, so
    the strengths (and their order) are unchanged."""
    rng = np.random.default_rng(seed)
    models = list(truth)
    pairs = []
    for _ in range(n):
        i, j = rng.choice(len(models), 2, replace=False)
        a, b = models[i], models[j]
        p_a = 1.0 / (1.0 + 10 ** ((truth[b] - truth[a]) / 400.0))
        u = rng.random()
        if u < tie_share:
            winner = "tie" if rng.random() < 0.5 else "tie (bothbad)"
        else:
            winner = "model_a" if rng.random() < p_a else "model_b"
        pairs.append((a, b, winner))
    return pairs


def order(ratings: dict[str, float]) -> list[str]:
    return sorted(ratings, key=lambda m: -ratings[m])


def test_the_fit_recovers_the_true_order_and_values() -> None:
    fit = fit_bradley_terry(Battles.from_outcomes(draw_battles(TRUTH, 8_000, seed=7)))
    assert order(fit.ratings) == order(TRUTH)
    assert sum(fit.ratings.values()) / len(fit.ratings) == pytest.approx(1000.0, abs=1e-6)
    for model, rating in fit.ratings.items():
        assert rating == pytest.approx(TRUTH[model], abs=30), model


def test_with_ties_the_order_is_still_recovered() -> None:
    fit = fit_bradley_terry(Battles.from_outcomes(draw_battles(TRUTH, 8_000, seed=11, tie_share=0.3)))
    assert order(fit.ratings) == order(TRUTH)


def test_the_fit_is_the_maximum_likelihood_an_independent_solver_finds() -> None:
    """scikit-learn's unpenalised logistic regression on FastChat's design (every battle twice, a
    tie as one win each, columns +-log(10), no intercept) reaches the same optimum."""
    from sklearn.linear_model import LogisticRegression

    pairs = draw_battles(TRUTH, 3_000, seed=3, tie_share=0.2)
    models = sorted(TRUTH)
    index = {m: i for i, m in enumerate(models)}
    doubled = pairs + pairs
    x = np.zeros((len(doubled), len(models)))
    y = np.zeros(len(doubled))
    for row, (a, b, winner) in enumerate(doubled):
        x[row, index[a]], x[row, index[b]] = math.log(10), -math.log(10)
        first_copy = row < len(pairs)
        y[row] = 1.0 if winner == "model_a" or (winner.startswith("tie") and first_copy) else 0.0
    solver = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-9, max_iter=1_000).fit(x, y)
    theirs = 400 * solver.coef_[0]
    theirs = theirs - theirs.mean() + 1000  # the same anchor: ratings average 1000
    ours = fit_bradley_terry(Battles.from_outcomes(pairs)).ratings
    for model in models:
        assert ours[model] == pytest.approx(theirs[index[model]], abs=0.05), model


def test_a_tie_is_half_a_win() -> None:
    with_ties = [("a", "b", "model_a")] * 2 + [("a", "b", "tie"), ("b", "a", "tie (bothbad)")]
    without = [("a", "b", "model_a")] * 3 + [("a", "b", "model_b")]
    tied = fit_bradley_terry(Battles.from_outcomes(with_ties)).ratings
    plain = fit_bradley_terry(Battles.from_outcomes(without)).ratings
    assert tied == pytest.approx(plain, abs=1e-6)
    # closed form for two models: P(a beats b) = 3/4 -> a - b = 400 log10(3)
    assert tied["a"] - tied["b"] == pytest.approx(400 * math.log10(3), abs=0.05)
    only_ties = fit_bradley_terry(Battles.from_outcomes([("a", "b", "tie"), ("b", "a", "tie")] * 3)).ratings
    assert only_ties == pytest.approx({"a": 1000.0, "b": 1000.0}, abs=1e-6)


def test_a_model_that_never_lost_gets_a_finite_top_rating() -> None:
    pairs = [("champ", "b", "model_a"), ("c", "champ", "model_b"), ("b", "c", "model_a"), ("c", "b", "tie")]
    ratings = fit_bradley_terry(Battles.from_outcomes(pairs)).ratings
    assert all(math.isfinite(r) for r in ratings.values())
    assert order(ratings)[0] == "champ"


def test_bootstrap_intervals_cover_the_truth() -> None:
    # One data set: every true rating inside its interval.
    pairs = draw_battles(TRUTH, 4_000, seed=5, tie_share=0.0)
    intervals = bootstrap_intervals(Battles.from_outcomes(pairs), rounds=100, seed=0)
    for model, truth in TRUTH.items():
        assert intervals.lower[model] < truth < intervals.upper[model], model
        assert len(intervals.samples[model]) == 100
    # Coverage over many data sets is near the nominal 95% (seeded: the same numbers every run).
    covered = total = 0
    for seed in range(30):
        battles = Battles.from_outcomes(draw_battles(TRUTH, 600, seed=100 + seed))
        found = bootstrap_intervals(battles, rounds=60, seed=seed)
        for model, truth in TRUTH.items():
            total += 1
            covered += found.lower[model] <= truth <= found.upper[model]
    assert 0.88 <= covered / total <= 1.0, covered / total


def test_bootstrap_is_seeded_and_skips_rounds_without_the_model() -> None:
    pairs = draw_battles(TRUTH, 300, seed=1) + [("newcomer", "alpha", "model_b")]
    battles = Battles.from_outcomes(pairs)
    first = bootstrap_intervals(battles, rounds=50, seed=42)
    again = bootstrap_intervals(battles, rounds=50, seed=42)
    assert first.lower == again.lower and first.upper == again.upper
    # one battle in 301: it is missing from about a third of the resamples, which then rate it not at all
    assert 0 < len(first.samples["newcomer"]) < 50
    assert first.lower["newcomer"] <= first.upper["newcomer"]


def test_rank_by_upper_bound_on_a_hand_made_table() -> None:
    lower = {"a": 1100.0, "b": 1080.0, "c": 1000.0, "d": 900.0, "e": 905.0}
    upper = {"a": 1150.0, "b": 1120.0, "c": 1090.0, "d": 1010.0, "e": 950.0}
    # a: nobody's lower bound is above 1150 -> 1; b: nobody above 1120 -> 1 (overlaps a);
    # c: a (1100) and ... b's 1080 is not above 1090 -> 2; d: a, b -> 3 (c's 1000 is not above 1010);
    # e: a, b, c -> 4 (d's 900 is below 950)
    assert rank_by_upper_bound(lower, upper) == {"a": 1, "b": 1, "c": 2, "d": 3, "e": 4}


def test_online_elo_is_fastchats_k4_update() -> None:
    assert online_elo([("a", "b", "model_a")]) == {"a": 1002.0, "b": 998.0}
    assert online_elo([("a", "b", "tie")]) == {"a": 1000.0, "b": 1000.0}
    two = online_elo([("a", "b", "model_a"), ("b", "a", "model_a")])
    expected_b = 1 / (1 + 10 ** ((1002 - 998) / 400))
    assert two["b"] == pytest.approx(998 + 4 * (1 - expected_b))
    assert two["a"] == pytest.approx(1002 - 4 * (1 - expected_b))


def test_style_control_takes_out_what_length_explains() -> None:
    """Equal models; voters prefer the longer answer, and one model always writes long ones. Plain
    Bradley-Terry puts it on top; with length as a covariate it is level with the rest."""
    rng = np.random.default_rng(9)
    models = ["verbose", "m1", "m2", "m3"]
    pairs, style_a, style_b = [], [], []
    for _ in range(4_000):
        i, j = rng.choice(4, 2, replace=False)
        a, b = models[i], models[j]
        length = {m: (3_000 if m == "verbose" else 1_000) * rng.uniform(0.5, 1.5) for m in (a, b)}
        share = (length[a] - length[b]) / (length[a] + length[b])
        p_a = 1 / (1 + math.exp(-3.0 * share))  # the vote follows length only
        pairs.append((a, b, "model_a" if rng.random() < p_a else "model_b"))
        style_a.append([length[a], 0, 0, 0])
        style_b.append([length[b], 0, 0, 0])
    plain = fit_bradley_terry(Battles.from_outcomes(pairs)).ratings
    assert order(plain)[0] == "verbose" and plain["verbose"] - plain["m1"] > 100
    covariates = style_covariates(np.array(style_a), np.array(style_b))
    styled = fit_bradley_terry(Battles.from_outcomes(pairs, covariates))
    assert abs(styled.ratings["verbose"] - styled.ratings["m1"]) < 30
    assert styled.covariate_coefficients[0] > 0.5  # longer wins
    assert styled.covariate_coefficients[1:] == (0.0, 0.0, 0.0)  # constant features: no effect


def test_style_covariates_are_normalised_differences_standardised() -> None:
    a = np.array([[30.0, 1.0], [10.0, 0.0], [20.0, 0.0]])
    b = np.array([[10.0, 1.0], [30.0, 0.0], [20.0, 0.0]])
    got = style_covariates(a, b)
    diff = np.array([0.5, -0.5, 0.0])
    assert got[:, 0] == pytest.approx((diff - diff.mean()) / diff.std())
    assert list(got[:, 1]) == [0.0, 0.0, 0.0]  # equal counts, or none: no difference


def test_win_fraction_leaves_ties_out() -> None:
    pairs = [("a", "b", "model_a"), ("b", "a", "model_a"), ("a", "b", "model_a"), ("a", "b", "tie")]
    pairs += [("a", "c", "model_b")]
    table = win_fraction(Battles.from_outcomes(pairs), ["a", "b", "c"])
    assert table == [[None, 2 / 3, 0.0], [1 / 3, None, None], [1.0, None, None]]


def test_a_warm_start_reaches_the_same_optimum() -> None:
    battles = Battles.from_outcomes(draw_battles(TRUTH, 2_000, seed=21, tie_share=0.1))
    cold = fit_bradley_terry(battles)
    far = np.linspace(-3, 3, len(TRUTH))  # a start far from the optimum
    assert fit_bradley_terry(battles, start=far).ratings == pytest.approx(cold.ratings, abs=1e-6)
