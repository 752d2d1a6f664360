"""Elo-scale maths and match statistics: expectations, outcomes, what is rated, intervals, performance ratings."""

import math

import pytest

from rl_bot.league.elo import (
    expected_score,
    format_rating,
    is_rated,
    outcome_from_goals,
    performance_rating,
    wilson_interval,
)


@pytest.mark.parametrize(("ra", "rb"), [(1500, 1500), (1700, 1300), (1000, 2000), (1234.5, 1600)])
def test_expectations_are_symmetric(ra, rb):
    assert expected_score(ra, rb) + expected_score(rb, ra) == pytest.approx(1.0)


def test_known_numbers():
    assert expected_score(1500, 1500) == 0.5
    assert expected_score(1900, 1500) == pytest.approx(10 / 11)  # 400 points: 10 to 1


def test_outcome_from_goals_and_which_games_are_rated():
    assert outcome_from_goals(1, 0) == 1.0
    assert outcome_from_goals(0, 2) == 0.0
    assert outcome_from_goals(0, 0) == 0.5  # a timeout is a draw
    assert is_rated("goal") and is_rated("time") and not is_rated("no_touch")
    with pytest.raises(ValueError, match="unknown game end"):
        is_rated("forfeit")


def test_wilson_interval_and_performance_rating():
    lo, hi = wilson_interval(15, 20)
    assert (round(lo, 3), round(hi, 3)) == (0.531, 0.888)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 41)[0] == 0.0
    assert performance_rating(0.5, 10, 1500) == pytest.approx(1500)
    assert performance_rating(10 / 11, 100, 1500) == pytest.approx(1900)
    # a clean sweep is clamped to a finite estimate; unclamped, it is an open interval end
    assert performance_rating(1.0, 20, 1500) == pytest.approx(1500 + 400 * math.log10(0.975 / 0.025))
    assert performance_rating(0.0, 20, 1500, clamp=False) == -math.inf
    assert performance_rating(1.0, 20, 1500, clamp=False) == math.inf
    assert (format_rating(-math.inf), format_rating(1234.4)) == ("-inf", "1234")
