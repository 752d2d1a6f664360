"""Match statistics and the batched game loop: draws by cause, score and win rates with intervals, Elo estimates
with intervals, every game played to its end, games reproducible from the seed."""

import math

import numpy as np
import pytest

from rl_bot.config import EnvConfig
from rl_bot.env.game import EpisodeStats
from rl_bot.evaluate import MatchReport, RandomPolicy, RulePolicy, match_report, play_games, play_match


def report(wins, draws_time, draws_no_touch, losses, rating=1500.0):
    games = wins + draws_time + draws_no_touch + losses
    return MatchReport(games, wins, draws_time, draws_no_touch, losses, wins, losses, "rule", rating)


def test_a_bot_that_never_scores_is_not_rated_near_its_opponent():
    # the example: 0-59-41, no goal scored; the draws were no-touch timeouts
    r = report(0, 0, 59, 41)
    assert r.rated_games == 41 and r.score_rate == 0.0 and r.win_rate == 0.0
    lo, hi = r.elo_ci
    assert lo == -math.inf and hi < 1500 - 350  # at best ~400 below the opponent, not 150
    assert r.elo < hi
    assert "no-touch timeouts, not rated" in r.line("bot") and "-inf" in r.line("bot")


def test_full_time_draws_count_half_and_intervals_bracket_the_rates():
    r = report(20, 40, 10, 30)
    assert r.draws == 50 and r.rated_games == 90
    assert r.score_rate == pytest.approx((20 + 20) / 90)
    assert r.win_rate == pytest.approx(0.2)
    for (lo, hi), x in ((r.score_rate_ci, r.score_rate), (r.win_rate_ci, r.win_rate), (r.elo_ci, r.elo)):
        assert lo < x < hi
    assert r.elo == pytest.approx(1500 + 400 * math.log10((40 / 90) / (50 / 90)))
    m = r.metrics("league/eval")
    assert m["league/eval_score_vs_rule"] == r.score_rate and m["league/eval_elo_vs_rule_low"] == r.elo_ci[0]
    assert m["league/eval_no_touch_vs_rule"] == 10.0 and m["league/eval_games_vs_rule"] == 100.0


def test_match_report_reads_each_game_from_the_players_side():
    games = [
        EpisodeStats(goals_blue=1, end="goal"),  # player blue: win
        EpisodeStats(goals_blue=1, end="goal"),  # player orange: loss
        EpisodeStats(end="time"),
        EpisodeStats(end="no_touch"),
    ]
    r = match_report(games, [0, 1, 0, 1], "random", 700.0)
    assert (r.wins, r.draws_time, r.draws_no_touch, r.losses, r.goals_for, r.goals_against) == (1, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="must end on a timeout"):
        match_report([EpisodeStats(end="goal")], [0], "random", 700.0)


def test_every_game_is_played_to_its_end_and_seeds_reproduce_them_exactly_on_one_machine():
    cfg = EnvConfig(no_touch_timeout_s=3, game_timeout_s=6)
    teams = lambda g: (RulePolicy(), RandomPolicy(g))  # noqa: E731
    a = play_games(cfg, 9, teams, seed=4, arenas=4)  # more games than arenas: arenas restart
    assert len(a) == 9 and all(s.end in ("goal", "no_touch", "time") for s in a)
    assert all(s.length <= 6 * 15 for s in a) and any(s.length > 0 for s in a)
    b = play_games(cfg, 9, teams, seed=4, arenas=9)  # same games, whatever arena plays them
    assert [(s.length, s.goals_blue, s.goals_orange, s.end) for s in a] == [
        (s.length, s.goals_blue, s.goals_orange, s.end) for s in b
    ]


def test_play_match_alternates_sides_on_both_backends():
    cfg = EnvConfig(no_touch_timeout_s=4, game_timeout_s=8)
    batched = play_match(RulePolicy(), RandomPolicy(1), cfg, 6, "random", 700.0, seed=2)
    rlgym_cfg = cfg.model_copy(update={"backend": "rlgym", "obs_builder_kwargs": {"zero_padding": 3}})
    assert rlgym_cfg.batched_problems()  # forces the rlgym arenas
    rlgym = play_match(RulePolicy(), RandomPolicy(1), rlgym_cfg, 6, "random", 700.0, seed=2)
    assert batched == rlgym  # the same games, stepped by either backend
    assert batched.games == 6 and np.isfinite(batched.win_rate)
