"""The rule-based bots drive from the observation vector and beat a random policy in real RocketSim matches."""

import numpy as np
import pytest
from rlgym.rocket_league.action_parsers import LookupTableAction

from rl_bot.config import EnvConfig
from rl_bot.env.batched import BatchedGame
from rl_bot.env.game import RLGymGame
from rl_bot.evaluate import RandomPolicy, RulePolicy, play_match
from rl_bot.league.rule_bot import _ACTIONS, BIG_PAD_INDICES, BasicRuleBot, RuleBot, _Plan

TABLE = LookupTableAction.make_lookup_table()


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
        RulePolicy(BasicRuleBot()),
        RandomPolicy(seed=0),
        cfg,
        games=40,  # enough games that the margin holds on CPUs whose float results differ slightly
        opponent_name="random",
        opponent_rating=1000.0,
        seed=0,
    )
    assert report.games == report.wins + report.draws + report.losses == 40
    assert report.goals_for >= 15 and report.goals_for >= 4 * max(report.goals_against, 1)
    assert report.wins >= 15 and report.losses <= 5
    assert report.win_rate_ci[0] > 0.25
    assert report.elo > 1000.0  # performs above the random anchor


# ------------------------------------------------------------------------------------------------- RuleBot


def car(pos, fwd=(0.0, 1.0, 0.0), up=(0.0, 0.0, 1.0), vel=(0.0, 0.0, 0.0), boost=95.0, on_ground=True):
    """One 20-float car slot of the padded DefaultObs (own frame)."""
    s = np.zeros(20, np.float32)
    s[0:3] = np.array(pos) / 2300
    s[3:6], s[6:9] = fwd, up
    s[9:12] = np.array(vel) / 2300
    s[15] = boost / 100
    s[17] = float(on_ground)
    return s


FLAG = {"holding_jump": 0, "has_jumped": 2, "is_jumping": 3, "has_flipped": 4, "is_flipping": 5, "can_flip": 7}


def game_obs(me, allies=(), opponents=(), ball=(0.0, 0.0, 92.75), ball_vel=MOVING, flags=()):
    """A padded DefaultObs vector: ball, own car flags, own car, ally and opponent slots (absent ones zero)."""
    obs = np.zeros(172, np.float32)
    obs[0:3] = np.array(ball) / 2300
    obs[3:6] = np.array(ball_vel) / 2300
    for name in flags:
        obs[43 + FLAG[name]] = 1.0
    obs[52:72] = me
    for i, a in enumerate(allies):
        obs[72 + 20 * i : 92 + 20 * i] = a
    for i, o in enumerate(opponents):
        obs[112 + 20 * i : 132 + 20 * i] = o
    return obs


def row(obs):
    """The lookup-table row RuleBot picks for one observation: [throttle, steer, pitch, yaw, roll, jump, boost, hb]."""
    return TABLE[int(RuleBot().actions(obs[None])[0])].tolist()


def decision(obs):
    return _Plan(np.asarray(obs, np.float64)[None], RuleBot()).decide()


IN_AIR = car((0, -1000, 60), vel=(0, 1500, 200), on_ground=False)


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        # on the ground, about to meet the ball nose first, the hit aimed upfield: jump (with boost)
        (game_obs(car((0, -1000, 17), vel=(0, 1500, 0)), ball=(0, -700, 93)), [1, 0, 0, 0, 0, 1, 1, 0]),
        # jumped and still holding jump: release it (neutral: no pitch, no roll, no jump)
        (
            game_obs(IN_AIR, ball=(0, -600, 93), flags=("holding_jump", "has_jumped", "is_jumping")),
            [1, 0, 0, 0, 0, 0, 0, 0],
        ),
        # released, the flip available, the ball ahead: jump again with the stick forward (a front flip)
        (game_obs(IN_AIR, ball=(0, -600, 93), flags=("has_jumped", "can_flip")), [0, 0, -1, 0, 0, 1, 0, 1]),
        # ... the ball to the right (RocketSim's right of a car facing +y is -x): a side flip (roll +1)
        (game_obs(IN_AIR, ball=(-400, -1000, 93), flags=("has_jumped", "can_flip")), [0, 0, 0, 0, 1, 1, 0, 1]),
        # ... ahead and to the right: a diagonal flip
        (game_obs(IN_AIR, ball=(-300, -700, 93), flags=("has_jumped", "can_flip")), [0, 0, -1, 0, 1, 1, 0, 1]),
        # flipping: hands off (no stick input that could cancel the flip)
        (
            game_obs(IN_AIR, ball=(0, -600, 93), flags=("has_jumped", "has_flipped", "is_flipping")),
            [1, 0, 0, 0, 0, 0, 0, 0],
        ),
        # in the air without a jump (knocked up), nose down: pitch the nose up, no jump
        (
            game_obs(car((0, -1000, 500), fwd=(0, 0.8, -0.6), up=(0, 0.6, 0.8), on_ground=False), ball=(0, 2000, 93)),
            [0, 0, 1, 0, 0, 0, 0, 0],
        ),
    ],
)
def test_rule_bot_dodge_runs_from_the_car_flags(obs, expected):
    assert row(obs) == expected


def test_rule_bot_powerslides_into_a_sharp_turn():
    # Upfield of the ball at speed, the ball behind on the left: handbrake, full steer, throttle on.
    obs = game_obs(car((0, 2000, 17), vel=(0, 1500, 0)), ball=(1000, 500, 93))
    throttle, steer, _, _, _, jump, _, handbrake = row(obs)
    assert handbrake == 1 and steer != 0 and throttle == 1 and jump == 0


def test_rule_bot_kickoff_boosts_straight_then_dodges_near_the_ball():
    still = (0.0, 0.0, 0.0)
    assert row(game_obs(car((0, -4608, 17), boost=33), ball_vel=still)) == [1, 0, 0, 0, 0, 0, 1, 0]
    assert row(game_obs(car((0, -700, 17), vel=(0, 1500, 0), boost=20), ball_vel=still))[5] == 1


def test_rule_bot_goes_back_to_the_far_post_when_beaten():
    # Upfield of a ball that rolls towards our goal on the right (+x): head for the left post.
    d = decision(game_obs(car((0, 1500, 17), vel=(0, 500, 0)), ball=(1500, -1000, 93), ball_vel=(0, -300, 0)))
    assert d.rank[0] == 0
    np.testing.assert_allclose(d.target[0], [-(892.755 - 250), -5120 + 350])


def test_rule_bot_commits_one_teammate_the_other_waits_behind_the_ball():
    a = car((0, -1500, 17), vel=(0, 500, 0))  # behind the ball, facing it
    b = car((-2500, -4000, 17), fwd=(1, 0, 0))  # far back, facing the side wall
    da, db = decision(game_obs(a, allies=[b])), decision(game_obs(b, allies=[a]))
    assert (da.rank[0], db.rank[0]) == (0, 1)
    np.testing.assert_allclose(db.target[0], [0.0, -2500.0])  # support: 2500 uu towards our goal from the ball


def test_rule_bot_teammates_on_a_tie_agree_on_one():
    ball = (0.0, 0.0, 93.0)
    a = car((-1000, -2000, 17), fwd=(0.447, 0.894, 0))
    b = car((1000, -2000, 17), fwd=(-0.447, 0.894, 0))
    ranks = [decision(game_obs(x, allies=[y], ball=ball)).rank[0] for x, y in ((a, b), (b, a))]
    assert sorted(ranks) == [0, 1]


def test_rule_bot_exactly_one_car_per_team_commits_in_real_3v3_play():
    games = BatchedGame(EnvConfig(team_size=3), num_arenas=4)
    for i in range(4):
        games.seed(i, i)
        games.reset(i)
    bot = RuleBot()
    for step in range(150):  # 10 s of play, kickoff included
        obs = games.observations()  # [arena, car, 172]; blue cars first
        flat = obs.reshape(-1, 172)
        ranks = _Plan(flat.astype(np.float64), bot).decide().rank.reshape(4, 2, 3)
        assert ((ranks == 0).sum(axis=2) == 1).all(), f"step {step}: ranks {ranks.tolist()}"
        _, term, trunc = games.step(bot.actions(flat).reshape(4, 6))
        for i in np.flatnonzero(term | trunc):
            games.reset(i)


def test_rule_bot_rejects_wrong_observation_shape_and_handles_an_empty_batch():
    with pytest.raises(ValueError, match=r"shape \[B, 172\], got \(3, 100\)"):
        RuleBot().actions(np.zeros((3, 100)))
    assert RuleBot().actions(np.zeros((0, 172))).shape == (0,)


def test_rule_bot_is_stateless_and_batched_exactly_in_one_process():
    rng = np.random.default_rng(0)
    game = RLGymGame(EnvConfig(team_size=2))
    game.seed(3)
    obs = game.reset()
    for _ in range(40):  # some play first, so the batch is not all kickoff
        obs, *_ = game.step({a: np.array([int(rng.integers(90))]) for a in obs})
    batch = np.stack(list(obs.values()))
    bot = RuleBot()
    together = bot.actions(batch)
    one_by_one = np.array([bot.actions(o[None])[0] for o in batch])
    np.testing.assert_array_equal(together, one_by_one)
    np.testing.assert_array_equal(bot.actions(batch), together)
    assert together.dtype == np.int64 and ((together >= 0) & (together < 90)).all()


def test_rule_bot_beats_random_nearly_every_game():
    # BasicRuleBot wins 6 to 8 of these 20 games (most others end in no-touch timeouts); 16 is far out of its reach.
    report = play_match(RulePolicy(), RandomPolicy(seed=0), EnvConfig(team_size=1), 20, "random", 1000.0, seed=0)
    assert report.wins >= 16 and report.losses == 0
    assert report.goals_for >= 16 and report.goals_against == 0


def test_rule_bot_outscores_the_basic_bot():
    # Both bots are deterministic and a 1v1 kickoff has five layouts, so ten games (sides alternate) are every
    # distinct game there is. An even match would concede about as many goals as it scores.
    cfg = EnvConfig(team_size=1, game_timeout_s=30)
    report = play_match(RulePolicy(), RulePolicy(BasicRuleBot()), cfg, 10, "rule-basic", 1500.0, seed=0)
    assert report.score_rate >= 0.7
    assert report.goals_for >= 5 and report.goals_against <= 1


@pytest.mark.parametrize("team_size", [2, 3])
def test_rule_bot_team_beats_random(team_size):
    cfg = EnvConfig(team_size=team_size)
    report = play_match(RulePolicy(), RandomPolicy(seed=0), cfg, 8, "random", 1000.0, seed=0)
    assert report.wins >= 4 and report.losses == 0 and report.goals_against == 0
