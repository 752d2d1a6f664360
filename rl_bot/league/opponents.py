"""The built-in opponents and their calibrated ratings (pure).

The ladder, weakest first: ``random`` (uniformly random actions), ``rule-basic`` (the first scripted bot) and
``rule`` (the scripted bot with ball prediction, flips and rotation; see :mod:`rl_bot.league.rule_bot`). Their
ratings come from their own head-to-head games (``rl-bot calibrate``), fitted with ``rule`` fixed at 1500, per
team size, in the default game (tick skip 8, 10 s no-touch timeout, 60 s games). The figures and the command that
produced them are in docs/league.md; a config with another game can set ``league.anchor_ratings`` from its own
calibration.
"""

from __future__ import annotations

from collections.abc import Mapping

from rl_bot.config import BUILTIN_OPPONENTS

#: Built-in opponents, weakest first.
BUILTIN = BUILTIN_OPPONENTS
RANDOM, RULE_BASIC, RULE = BUILTIN
#: The opponent whose rating fixes the scale.
SCALE_ANCHOR = RULE
SCALE_ANCHOR_RATING = 1500.0

#: ``rl-bot calibrate --games 200 --team-size N`` (rule fixed at 1500); the games and intervals are in docs/league.md.
CALIBRATED_RATINGS: dict[int, dict[str, float]] = {
    1: {RANDOM: 840.0, RULE_BASIC: 1161.0, RULE: 1500.0},
    2: {RANDOM: 952.0, RULE_BASIC: 1304.0, RULE: 1500.0},
    3: {RANDOM: 1050.0, RULE_BASIC: 1286.0, RULE: 1500.0},
}


def builtin_ratings(team_size: int, override: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every built-in opponent's rating for a team size; ``override`` (``league.anchor_ratings``) wins."""
    ratings = dict(CALIBRATED_RATINGS[team_size])
    ratings.update(override or {})
    return ratings
