"""Elo-scale maths and match statistics (pure).

Conventions: a game's outcome comes from goals (more goals wins). A game that ends on the game clock with equal
goals is a draw (score ½). A game cut by the no-touch timeout (nobody touched the ball for ``no_touch_timeout_s``)
says nothing about which side is stronger: it is recorded but not rated, and not counted in score rates.
"""

from __future__ import annotations

import math

#: How a game ended: a goal, the no-touch timeout, or the game clock.
END_GOAL, END_NO_TOUCH, END_TIME = "goal", "no_touch", "time"
ENDS = (END_GOAL, END_NO_TOUCH, END_TIME)


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


def is_rated(end: str) -> bool:
    """Whether a game that ended this way counts for ratings and score rates (no-touch timeouts do not)."""
    if end not in ENDS:
        raise ValueError(f"unknown game end {end!r}; expected one of {ENDS}")
    return end != END_NO_TOUCH


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (``(0, 1)`` for no games).

    Used for score rates too (draws as half a success): draws make a score less variable than a coin, so the
    interval is a little conservative there.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def performance_rating(score_rate: float, games: float, opponent_rating: float, clamp: bool = True) -> float:
    """Elo rating that makes ``score_rate`` the expected score against ``opponent_rating``.

    With ``clamp`` the rate is held inside ``[0.5 / games, 1 - 0.5 / games]`` so a clean sweep gives a finite
    estimate; without it, 0 and 1 give -inf and +inf (the open end of an interval).
    """
    if games <= 0:
        raise ValueError("performance_rating needs at least one game")
    s = score_rate
    if clamp:
        lo = 0.5 / games
        s = min(max(s, lo), 1.0 - lo)
    if s <= 0.0:
        return -math.inf
    if s >= 1.0:
        return math.inf
    return opponent_rating + 400.0 * math.log10(s / (1.0 - s))


def format_rating(r: float) -> str:
    """A rating for humans (``-inf``/``+inf`` for an open interval end)."""
    if math.isinf(r):
        return "-inf" if r < 0 else "+inf"
    return f"{r:.0f}"
