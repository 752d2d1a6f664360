"""Reward terms on constructed states, the modes, team spirit / opponent penalty / clipping, and start states."""

import numpy as np
import pytest
from rlgym.rocket_league.common_values import BALL_RESTING_HEIGHT, BLUE_TEAM

from rl_bot.config import ConfigError, EnvConfig, RewardTerm, validate_config
from rl_bot.env.game import RLGymGame
from rl_bot.env.rewards import Frame, active_terms, combine, k_concede, k_goal, k_save, k_shot
from rl_bot.reward_catalog import BUILTIN_TERMS


def frame(ball_pos, ball_vel, prev_pos, prev_vel, touches, teams=(0, 1), goal=False, scoring_team=0) -> Frame:
    c = len(teams)
    z = np.zeros((1, c, 3))
    return Frame(
        ball_pos=np.array([ball_pos], float),
        ball_vel=np.array([ball_vel], float),
        prev_ball_pos=np.array([prev_pos], float),
        prev_ball_vel=np.array([prev_vel], float),
        car_pos=z,
        car_vel=z,
        car_fwd=z,
        boost=np.zeros((1, c)),
        prev_boost=np.zeros((1, c)),
        touches=np.array([touches]),
        goal=np.array([goal]),
        scoring_team=np.array([scoring_team]),
        teams=np.array(teams),
        dt=np.array([8 / 120]),
    )


def test_shot_rewards_the_touch_that_turns_the_ball_towards_the_opponent_goal():
    # Blue (index 0) hits a ball that was rolling sideways at y=3000 straight at the orange goal (+y).
    f = frame([0, 3000, 93], [0, 2000, 0], [0, 3000, 93], [1500, 0, 0], touches=[1, 0])
    assert k_shot(f).tolist() == [[1.0, 0.0]]
    # The same touch by orange sends the ball into orange's own goal: no shot for anyone.
    f = frame([0, 3000, 93], [0, 2000, 0], [0, 3000, 93], [1500, 0, 0], touches=[0, 1])
    assert k_shot(f).tolist() == [[0.0, 0.0]]
    # Wide of the post, or too slow to arrive within the horizon: no shot.
    assert k_shot(frame([0, 3000, 93], [1500, 2000, 0], [0, 3000, 93], [0, 0, 0], touches=[1, 0])).sum() == 0
    assert k_shot(frame([0, 3000, 93], [0, 500, 0], [0, 3000, 93], [0, 0, 0], touches=[1, 0])).sum() == 0
    assert k_shot(frame([0, 3000, 93], [0, 500, 0], [0, 3000, 93], [0, 0, 0], touches=[1, 0]), horizon_s=5).sum() == 1


def test_save_rewards_the_defender_who_turns_the_ball_away_from_its_goal():
    # The ball was flying into the blue goal (-y); blue's car clears it.
    f = frame([0, -4000, 200], [0, 1500, 300], [0, -4000, 200], [0, -2500, 0], touches=[1, 0])
    assert k_save(f).tolist() == [[1.0, 0.0]]
    # Orange touching it away from the blue goal is not a save (it was not heading into orange's goal).
    f = frame([0, -4000, 200], [0, 1500, 300], [0, -4000, 200], [0, -2500, 0], touches=[0, 1])
    assert k_save(f).tolist() == [[0.0, 0.0]]
    # A touch that leaves it going in is no save.
    f = frame([0, -4000, 200], [0, -2000, 0], [0, -4000, 200], [0, -2500, 0], touches=[1, 0])
    assert k_save(f).sum() == 0


def test_goal_is_zero_sum_and_concede_only_punishes():
    f = frame([0, 5300, 93], [0, 1, 0], [0, 5100, 93], [0, 1, 0], touches=[0, 0, 0, 0], teams=(0, 0, 1, 1), goal=True)
    assert k_goal(f).tolist() == [[1, 1, -1, -1]]
    assert k_concede(f).tolist() == [[0, 0, -1, -1]]


def test_team_spirit_opponent_penalty_and_clip():
    teams = np.array([0, 0, 1, 1])
    raw = {"a": np.array([[4.0, 0.0, 1.0, 3.0]])}
    cfg = EnvConfig(team_size=2, team_spirit=0.5, opponent_penalty=0.25)
    # blue mean 2, orange mean 2: r = 0.5 own + 0.5 * 2 - 0.25 * 2
    np.testing.assert_allclose(combine(raw, teams, cfg), [[2.5, 0.5, 1.0, 2.0]])
    np.testing.assert_allclose(combine(raw, teams, EnvConfig(team_size=2, reward_clip=2.0)), [[2.0, 0.0, 1.0, 2.0]])
    np.testing.assert_allclose(combine(raw, teams, EnvConfig(team_size=2)), raw["a"])


def test_modes_compute_different_terms_and_rewards():
    terms = (
        RewardTerm(name="goal", weight=10.0),
        RewardTerm(name="touch", weight=2.0),
        RewardTerm(name="velocity_player_to_ball", weight=1.0),
    )
    names = {
        m: [t.name for t in active_terms(EnvConfig(rewards=terms, reward_mode=m))]
        for m in ("sparse", "hybrid", "dense")
    }
    assert names == {
        "sparse": ["goal"],
        "hybrid": ["goal", "touch"],
        "dense": ["goal", "touch", "velocity_player_to_ball"],
    }
    # Not a label: the env builds only those components, and the rewards differ (cars drive at the ball at kickoff).
    totals = {}
    for mode in ("sparse", "dense"):
        game = RLGymGame(EnvConfig(rewards=terms, reward_mode=mode))
        assert len(game.reward.components) == len(names[mode])
        game.seed(3)
        game.reset()
        total = 0.0
        for _ in range(30):
            _, r, _, _ = game.step({a: np.array([2]) for a in game.agents})
            total += sum(r.values())
        totals[mode] = total
        assert set(game.stats.reward_terms) == set(names[mode])
    assert totals["sparse"] == 0.0 and totals["dense"] != 0.0


def test_category_weights_scale_terms():
    cfg = EnvConfig(
        rewards=(RewardTerm(name="goal", weight=10.0), RewardTerm(name="touch", weight=2.0)),
        reward_category_weights={"event": 0.25},
    )
    assert {t.name: t.weight for t in active_terms(cfg)} == {"goal": 10.0, "touch": 0.5}


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"rewards": [{"name": "touch", "category": "outcome"}]}, "remove category"),
        ({"rewards": [{"name": "touch"}], "reward_mode": "sparse"}, "reward_mode='sparse'"),
        ({"start_states": {"kickof": 1.0}}, "start_states"),
        ({"start_states": {"kickoff": 0.0}}, "positive sum"),
        ({"rewards": [{"name": "demo"}], "backend": "batched"}, "env.backend=rlgym"),
        ({"rewards": [{"name": "shot", "kwargs": {"horizon": 2}}], "backend": "batched"}, "env.backend=rlgym"),
        ({"team_spirit": 1.5}, "team_spirit"),
    ],
)
def test_bad_reward_config_is_one_clear_error(env, needle):
    with pytest.raises(ConfigError) as e:
        validate_config({"env": env})
    assert needle in str(e.value)


def test_terms_without_kernel_fall_back_to_rlgym_under_auto():
    cfg = EnvConfig(rewards=(RewardTerm(name="goal"), RewardTerm(name="demo")))
    assert cfg.resolved_backend == "rlgym"
    kernels = [n for n, i in BUILTIN_TERMS.items() if i.batched_kwargs is not None]
    assert EnvConfig(rewards=tuple(RewardTerm(name=n) for n in kernels)).resolved_backend == "batched"


@pytest.mark.parametrize("start", ["kickoff", "random", "ground_ball", "aerial"])
def test_start_states(start):
    game = RLGymGame(EnvConfig(team_size=2, start_states={start: 1.0}))
    game.seed(5)
    game.reset()
    st = game.state
    ball_z = st.ball.position[2]
    cars = list(st.cars.values())
    assert game.stats.start == start
    if start == "kickoff":
        assert np.allclose(st.ball.position, [0, 0, BALL_RESTING_HEIGHT])
        assert all((c.physics.position[1] < 0) == (c.team_num == BLUE_TEAM) for c in cars)
    elif start == "ground_ball":
        assert abs(ball_z - BALL_RESTING_HEIGHT) < 5 and abs(st.ball.linear_velocity[2]) < 1
    elif start == "aerial":
        assert ball_z > 550 and all(c.boost_amount == 100 for c in cars)
    if start != "kickoff":
        assert not np.allclose(st.ball.position[:2], 0)  # placed somewhere else than the centre
    # cars start on their wheels in every layout
    assert all(c.physics.position[2] < 60 for c in cars)


def test_start_state_mix_follows_weights_and_seed():
    def starts(seed):
        game = RLGymGame(EnvConfig(start_states={"kickoff": 3.0, "aerial": 1.0}))
        game.seed(seed)
        out = []
        for _ in range(200):
            game.reset()
            out.append(game.stats.start)
        return out

    a = starts(1)
    assert a == starts(1) and a != starts(2)
    assert set(a) == {"kickoff", "aerial"}
    assert 0.65 < a.count("kickoff") / len(a) < 0.85


def test_terms_without_a_kernel_run_on_the_rlgym_backend():
    cfg = EnvConfig(
        team_size=2,
        rewards=(
            RewardTerm(name="goal", weight=1.0),
            RewardTerm(name="demo", weight=1.0),
            RewardTerm(name="ball_travel", weight=1.0, kwargs={"self_to_opp_weight": -1.0, "self_to_tm8_weight": 1.0}),
            RewardTerm(name="aerial_distance", weight=1.0),
            RewardTerm(name="goal_prob", weight=1.0),
        ),
        start_states={"random": 1.0},
    )
    assert cfg.resolved_backend == "rlgym"
    game = RLGymGame(cfg)
    game.seed(2)
    game.reset()
    rng = np.random.default_rng(0)
    moved = False
    for _ in range(60):
        _, _, term, trunc = game.step({a: np.array([rng.integers(90)]) for a in game.agents})
        moved |= bool(np.any(game.reward.last_terms["goal_prob"] != 0))
        if term or trunc:
            break
    assert set(game.stats.reward_terms) == {"goal", "demo", "ball_travel", "aerial_distance", "goal_prob"}
    # a ball flying about changes how much of each goal it sees: the potential-based term pays something
    # (zero-sum between the teams, so its per-car episode mean is 0)
    assert moved
