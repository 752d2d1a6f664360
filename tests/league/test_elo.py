"""Elo maths: zero-sum, symmetric expectation, known numbers, outcomes from goals, intervals."""

import math

import pytest

from rl_bot.league.elo import (
    expected_score,
    outcome_from_goals,
    performance_rating,
    update,
    wilson_interval,
)


@pytest.mark.parametrize(("ra", "rb"), [(1500, 1500), (1700, 1300), (1000, 2000), (1234.5, 1600)])
def test_expectations_are_symmetric_and_updates_zero_sum(ra, rb):
    assert expected_score(ra, rb) + expected_score(rb, ra) == pytest.approx(1.0)
    for score in (0.0, 0.5, 1.0):
        na, nb = update(ra, rb, score)
        assert na + nb == pytest.approx(ra + rb)
        assert (na - ra) == pytest.approx(-(nb - rb))


def test_known_numbers():
    assert expected_score(1500, 1500) == 0.5
    assert expected_score(1900, 1500) == pytest.approx(10 / 11)  # 400 points: 10 to 1
    assert update(1500, 1500, 1.0) == (1516.0, 1484.0)  # K = 32
    assert update(1500, 1500, 0.5) == (1500.0, 1500.0)
    assert update(1500, 1500, 1.0, k=16) == (1508.0, 1492.0)
    na, _ = update(1900, 1500, 0.0)
    assert na == pytest.approx(1900 - 32 * 10 / 11)


def test_outcome_from_goals_and_timeouts():
    assert outcome_from_goals(1, 0) == 1.0
    assert outcome_from_goals(0, 2) == 0.0
    assert outcome_from_goals(0, 0) == 0.5  # a timeout is a draw


def test_wilson_interval_and_performance_rating():
    lo, hi = wilson_interval(15, 20)
    assert (round(lo, 3), round(hi, 3)) == (0.531, 0.888)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert performance_rating(0.5, 10, 1500) == pytest.approx(1500)
    assert performance_rating(10 / 11, 100, 1500) == pytest.approx(1900)
    # a clean sweep is clamped to a finite estimate
    assert performance_rating(1.0, 20, 1500) == pytest.approx(1500 + 400 * math.log10(0.975 / 0.025))
