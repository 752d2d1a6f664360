"""The rule-based bots drive from the observation vector and beat a random policy in real RocketSim matches."""

import numpy as np
import pytest
from rlgym.rocket_league.action_parsers import LookupTableAction

from rl_bot.config import EnvConfig
from rl_bot.env.game import RLGymGame
from rl_bot.evaluate import RandomPolicy, play_match
from rl_bot.league.rule_bot import _ACTIONS, BIG_PAD_INDICES, BasicRuleBot

TABLE = LookupTableAction.make_lookup_table()


class BotPolicy:
    """A scripted bot as a ``play_match`` policy (``RulePolicy`` plays only ``RuleBot``)."""

    def __init__(self, bot):
        self.bot = bot

    def reset(self, agents):
        self.bot.reset(agents)

    def act(self, obs, state=None):
        return self.bot.act_obs(obs)


def make_obs(car, fwd=(0.0, 1.0, 0.0), ball=(0.0, 0.0, 92.75), ball_vel=(0.0, 0.0, 0.0), boost=33.0, **kw):
    """One padded DefaultObs vector (own frame) with only what the bot reads set."""
    obs = np.zeros(172, np.float32)
    obs[0:3] = np.array(ball) / 2300
    obs[3:6] = np.array(ball_vel) / 2300
    obs[9:43] = kw.get("pad_timers", np.zeros(34)) * 0.1
    obs[52:55] = np.array(car) / 2300
    obs[55:58] = fwd
    obs[67] = boost / 100
    obs[71] = float(kw.get("supersonic", False))
    return obs


MOVING = (0.0, 100.0, 0.0)  # a moving ball: not a kickoff


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        # kickoff: ball at rest on the centre spot, straight ahead -> full boost at it (even when low on boost)
        (make_obs(car=(0, -4608, 17), boost=10.0), (1, 0, True)),
        # strike: ball ahead, the point 120 uu behind it is straight ahead -> boost
        (make_obs(car=(0, -1000, 17), ball_vel=MOVING), (1, 0, True)),
        # ... but not when supersonic, nor with an empty tank
        (make_obs(car=(0, -1000, 17), ball_vel=MOVING, supersonic=True), (1, 0, False)),
        (make_obs(car=(0, -1000, 17), ball_vel=MOVING, boost=0.0), (1, 0, False)),
        # defend: upfield of the ball, facing our goal -> boost back goal-side
        (make_obs(car=(0, 2000, 17), fwd=(0, -1, 0), ball_vel=MOVING), (1, 0, True)),
        # collect boost: low boost, ball far -> drive (no boost) to the nearest active big pad, straight ahead
        (make_obs(car=(3584, -1000, 17), ball=(0, 3000, 93), ball_vel=MOVING, boost=10.0), (1, 0, False)),
    ],
)
def test_basic_rule_bot_picks_the_documented_action(obs, expected):
    assert BasicRuleBot().actions(obs[None])[0] == _ACTIONS[expected]


def test_basic_rule_bot_skips_inactive_pads_and_steers_towards_the_next_one():
    timers = np.zeros(34)
    timers[18] = 5.0  # the big pad at (3584, 0), straight ahead, is inactive
    assert 18 in BIG_PAD_INDICES
    obs = make_obs(car=(3584, -1000, 17), ball=(0, 3000, 93), ball_vel=MOVING, boost=10.0, pad_timers=timers)
    act = int(BasicRuleBot().actions(obs[None])[0])
    # next nearest is (3072, -4096), behind on the left: turn (no boost), and no reverse (ball far)
    assert TABLE[act][0] == 1 and TABLE[act][1] != 0 and TABLE[act][6] == 0


def test_basic_rule_bot_reverses_when_the_ball_is_right_behind():
    obs = make_obs(car=(0, 0, 17), ball=(50, -300, 93), ball_vel=MOVING)
    act = int(BasicRuleBot().actions(obs[None])[0])
    assert TABLE[act][0] == -1 and TABLE[act][6] == 0


def test_basic_rule_bot_rejects_wrong_observation_shape():
    with pytest.raises(ValueError, match=r"shape \[B, 172\], got \(3, 100\)"):
        BasicRuleBot().actions(np.zeros((3, 100)))


def test_basic_rule_bot_goes_for_the_ball_at_kickoff():
    game = RLGymGame(EnvConfig(team_size=1))
    game.seed(2)
    obs = game.reset()
    bot = BasicRuleBot()
    while game.stats.touches_by_agent["blue-0"] == 0 and game.stats.length < 60:  # 4 s
        acts = bot.act_obs({"blue-0": obs["blue-0"]})
        acts["orange-0"] = 8  # the idle orange car: throttle 0, no steer (lookup row 8)
        obs, *_ = game.step({a: np.array([x]) for a, x in acts.items()})
    assert game.stats.touches_by_agent["blue-0"] >= 1


def test_basic_rule_bot_beats_random_by_a_wide_margin_of_goals():
    cfg = EnvConfig(team_size=1, no_touch_timeout_s=60, game_timeout_s=60)
    report = play_match(
        BotPolicy(BasicRuleBot()),
        RandomPolicy(seed=0),
        cfg,
        games=20,
        opponent_name="random",
        opponent_rating=1000.0,
        seed=0,
    )
    assert report.games == report.wins + report.draws + report.losses == 20
    assert report.goals_for >= 10 and report.goals_for >= 5 * max(report.goals_against, 1)
    assert report.wins >= 10 and report.losses <= 2
    assert report.win_rate_ci[0] > 0.4
    assert report.elo > 1000.0  # performs above the random anchor
