"""Elo ratings and match statistics (pure).

Conventions: a game's outcome comes from goals (more goals wins; a timeout with equal goals is a draw, score 0.5);
ratings move by ``k * (score - expected)``, zero-sum.
"""

from __future__ import annotations

import math

DEFAULT_K = 32.0
DEFAULT_RATING = 1500.0
#: Fixed ratings of the built-in opponents: the anchors of rl-bot's Elo scale.
ANCHOR_RATINGS = {"random": 1000.0, "rule": 1500.0}


def expected_score(rating_a: float, rating_b: float) -> float:
    """Probability-like expected score of A against B: ``1 / (1 + 10 ** ((rb - ra) / 400))``."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / 400.0))


def outcome_from_goals(goals_for: int, goals_against: int) -> float:
    """1 for a win, 0.5 for a draw (a timeout with equal goals), 0 for a loss."""
    if goals_for > goals_against:
        return 1.0
    if goals_for < goals_against:
        return 0.0
    return 0.5


def update(rating_a: float, rating_b: float, score_a: float, k: float = DEFAULT_K) -> tuple[float, float]:
    """New ratings after one game in which A scored ``score_a`` (1, 0.5 or 0); the sum is unchanged."""
    delta = k * (score_a - expected_score(rating_a, rating_b))
    return rating_a + delta, rating_b - delta


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (``(0, 1)`` for no games)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def performance_rating(score_rate: float, games: int, opponent_rating: float) -> float:
    """Elo rating that makes ``score_rate`` the expected score against ``opponent_rating``.

    The rate is clamped to ``[0.5 / games, 1 - 0.5 / games]`` so a clean sweep gives a finite estimate.
    """
    if games <= 0:
        raise ValueError("performance_rating needs at least one game")
    lo = 0.5 / games
    s = min(max(score_rate, lo), 1.0 - lo)
    return opponent_rating + 400.0 * math.log10(s / (1.0 - s))
