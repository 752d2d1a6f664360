"""The rating fit recovers known strengths of simulated players, with intervals that cover them, and the league's
time-varying main."""

import numpy as np
import pytest

from rl_bot.league.elo import expected_score
from rl_bot.league.ratings import Prior, Result, fit_league, fit_ratings, main_player

TRUE = {"anchor": 1500.0, "a": 1300.0, "b": 1750.0, "c": 1000.0, "d": 1550.0}


def simulate(true, pairs, games, rng):
    """Results of ``games`` games per pair, won with the Elo expectation (no draws)."""
    return [Result(a, b, games, float(rng.binomial(games, expected_score(true[a], true[b])))) for a, b in pairs]


def test_fit_recovers_known_strengths_and_the_intervals_cover_them():
    names = list(TRUE)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    covered, total, errors = 0, 0, []
    for seed in range(20):
        fit = fit_ratings(simulate(TRUE, pairs, 200, np.random.default_rng(seed)), {"anchor": 1500.0})
        assert fit.ratings["anchor"] == 1500.0 and fit.std["anchor"] == 0.0
        for p in names[1:]:
            lo, hi = fit.interval(p)
            covered += lo <= TRUE[p] <= hi
            total += 1
            errors.append(fit.ratings[p] - TRUE[p])
            assert 10 < fit.std[p] < 40
    assert covered / total >= 0.85  # nominal 95 %
    assert abs(np.mean(errors)) < 15  # unbiased


def test_draws_count_half_and_a_prior_ties_a_player():
    # 100 draws between equal players: exactly equal ratings
    fit = fit_ratings([Result("x", "anchor", 100, 50)], {"anchor": 1500.0})
    assert fit.ratings["x"] == pytest.approx(1500.0, abs=1e-6)
    # no games: a prior alone gives its mean and sd
    fit = fit_ratings([], {"anchor": 1500.0}, [Prior("y", 1200.0, 50.0), Prior("z", 100.0, 30.0, other="y")])
    assert fit.ratings["y"] == pytest.approx(1200.0) and fit.std["y"] == pytest.approx(50.0, rel=1e-4)
    assert fit.ratings["z"] == pytest.approx(1300.0) and fit.std["z"] == pytest.approx((50**2 + 30**2) ** 0.5, rel=1e-4)


def test_a_player_linked_to_no_fixed_player_is_an_error():
    with pytest.raises(ValueError, match="undetermined"):
        fit_ratings([Result("p", "q", 10, 5)], {"anchor": 1500.0})


def test_league_fit_tracks_an_improving_main_and_rates_its_snapshots():
    rng = np.random.default_rng(1)
    anchors = {"rule-basic": 1100.0, "rule": 1500.0}
    true_main = {t: 1000.0 + 4.0 * t for t in range(1, 101)}  # 1004 .. 1400
    snapshots = {"snap-0001": 30, "snap-0002": 70}
    counts = []
    for t, r in true_main.items():
        for opp, ro in anchors.items():
            counts.append((t, opp, 20, float(rng.binomial(20, expected_score(r, ro)))))
        for sid, ts in snapshots.items():
            if t > ts:
                counts.append((t, sid, 10, float(rng.binomial(10, expected_score(r, true_main[ts])))))
    fit = fit_league(counts, snapshots, anchors, iterations=100, initial_rating=1000.0, drift=20.0)
    for t in (20, 50, 80):
        assert abs(fit.ratings[main_player(t)] - true_main[t]) < 60
        lo, hi = fit.interval(main_player(t))
        assert hi - lo < 200
    for sid, ts in snapshots.items():
        assert abs(fit.ratings[sid] - true_main[ts]) < 60
    assert fit.ratings[main_player(90)] > fit.ratings[main_player(10)] + 250
