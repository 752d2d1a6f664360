"""The rule-based bot drives from the game state and beats a random policy in real RocketSim matches."""

import numpy as np

from rl_bot.config import EnvConfig
from rl_bot.env.game import RLGymGame
from rl_bot.evaluate import RandomPolicy, RulePolicy, play_match
from rl_bot.league.rule_bot import RuleBot


def test_rule_bot_goes_for_the_ball_at_kickoff():
    game = RLGymGame(EnvConfig(team_size=1))
    game.seed(2)
    game.reset()
    bot = RuleBot()
    while game.stats.touches_by_agent["blue-0"] == 0 and game.stats.length < 60:  # 4 s
        acts = bot.act(game.state, ["blue-0"])
        acts["orange-0"] = 8  # the idle orange car: throttle 0, no steer (lookup row 8)
        game.step({a: np.array([x]) for a, x in acts.items()})
    assert game.stats.touches_by_agent["blue-0"] >= 1


def test_rule_bot_beats_random_by_a_wide_margin_of_goals():
    cfg = EnvConfig(team_size=1, no_touch_timeout_s=60, game_timeout_s=60)
    report = play_match(
        RulePolicy(), RandomPolicy(seed=0), cfg, games=20, opponent_name="random", opponent_rating=1000.0, seed=0
    )
    assert report.games == report.wins + report.draws + report.losses == 20
    assert report.goals_for >= 10 and report.goals_for >= 5 * max(report.goals_against, 1)
    assert report.wins >= 10 and report.losses <= 2
    assert report.win_rate_ci[0] > 0.4
    assert report.elo > 1000.0  # performs above the random anchor
