"""The rlgym v2 game on real RocketSim physics: shapes, touches, bounces, rewards, seeding."""

from typing import Any

import driving
import numpy as np
import pytest
from rlgym.api import RLGym, StateMutator
from rlgym.rocket_league.action_parsers import LookupTableAction, RepeatAction
from rlgym.rocket_league.done_conditions import TimeoutCondition
from rlgym.rocket_league.reward_functions import TouchReward
from rlgym.rocket_league.sim import RocketSimEngine
from rlgym.rocket_league.state_mutators import FixedTeamSizeMutator, MutatorSequence

from rl_bot.config import EnvConfig, RewardTerm
from rl_bot.env.components import PaddedDefaultObs
from rl_bot.env.game import NUM_ACTIONS, RLGymGame, agent_ids

IDLE = driving.IDLE


def test_lookup_table_has_90_actions():
    assert NUM_ACTIONS == 90


@pytest.mark.parametrize("team_size", [1, 2, 3])
def test_observation_shape_is_the_same_for_every_team_size(team_size):
    game = RLGymGame(EnvConfig(team_size=team_size))
    obs = game.reset()
    assert list(obs) == agent_ids(team_size)
    assert game.obs_size == 172
    for o in obs.values():
        assert o.shape == (172,) and o.dtype == np.float32 and np.isfinite(o).all()
    # absent cars are zero-padded: the last opponent slot is empty below 3v3
    last_slot = next(iter(obs.values()))[-20:]
    assert (last_slot == 0).all() == (team_size < 3)


def steer_at_ball(game: RLGymGame) -> dict[str, np.ndarray]:
    return {a: np.array([x]) for a, x in driving.steer_at_ball(game.state, game.agents).items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_driving_at_the_ball_from_kickoff_touches_it_within_a_few_seconds(seed):
    game = RLGymGame(EnvConfig(team_size=1))
    game.seed(seed)
    game.reset()
    while game.stats.touches == 0 and game.stats.length < int(4.0 / game.cfg.step_seconds):
        game.step(steer_at_ball(game))
    assert game.stats.touches >= 1, "no touch within 4 s of driving at the ball"
    touch_time = game.stats.length * game.cfg.step_seconds
    assert 1.5 < touch_time < 4.0  # kickoff distance ≥ 3,300 uu: not instant, but a few seconds
    assert np.linalg.norm(game.state.ball.linear_velocity) > 100.0  # the ball was actually hit


def test_idle_cars_never_touch_the_ball_and_truncate_on_no_touch_timeout():
    game = RLGymGame(EnvConfig(team_size=1, no_touch_timeout_s=2.0, game_timeout_s=5.0))
    game.reset()
    steps = 0
    done = False
    while not done:
        _, _, term, trunc = game.step({a: np.array([IDLE]) for a in game.agents})
        steps += 1
        done = term or trunc
    assert trunc and not term
    assert steps == pytest.approx(2.0 / game.cfg.step_seconds, abs=1)
    assert game.stats.touches == 0


class DropBall(StateMutator):
    """Ball 1000 uu above the centre spot; a tiny velocity so RocketSim does not freeze it."""

    def apply(self, state: Any, shared_info: dict) -> None:
        state.ball.position = np.array([0.0, 0.0, 1000.0], dtype=np.float32)
        state.ball.linear_velocity = np.array([0.0, 0.0, -1.0], dtype=np.float32)
        state.ball.angular_velocity = np.zeros(3, dtype=np.float32)
        for i, car in enumerate(state.cars.values()):
            car.physics.position = np.array([-3000.0 + 6000.0 * i, -4000.0, 17.0], dtype=np.float32)
            car.physics.linear_velocity = np.zeros(3, dtype=np.float32)
            car.physics.angular_velocity = np.zeros(3, dtype=np.float32)
            car.physics.euler_angles = np.zeros(3, dtype=np.float32)


def test_a_dropped_ball_falls_lands_and_bounces():
    gym = RLGym(
        state_mutator=MutatorSequence(FixedTeamSizeMutator(1, 1), DropBall()),
        obs_builder=PaddedDefaultObs(),
        action_parser=RepeatAction(LookupTableAction(), repeats=1),
        reward_fn=TouchReward(),
        transition_engine=RocketSimEngine(),
        truncation_cond=TimeoutCondition(3.0),
    )
    gym.reset()
    heights = []
    for _ in range(360):  # 3 s at 120 Hz
        gym.step({a: np.array([IDLE]) for a in gym.agents})
        heights.append(float(gym.state.ball.position[2]))
    h = np.array(heights)
    lowest = int(h.argmin())
    assert h[0] < 1000.0  # it falls
    assert 85.0 < h[lowest] < 100.0  # lands on the floor (ball radius ≈ 92.75)
    assert h[lowest:].max() > 300.0  # and bounces back up
    # free fall: after 0.5 s gravity (650 uu/s²) has pulled it down ≈ 81 uu
    assert h[59] == pytest.approx(1000.0 - 0.5 * 650 * 0.5**2, abs=5.0)


def test_goal_terminates_and_is_counted_for_the_scoring_team():
    game = RLGymGame(EnvConfig(team_size=1))
    game.reset()
    engine = game.gym.transition_engine
    state = game.state
    # put the ball just in front of orange's goal line, rolling in
    import RocketSim as rsim

    bs = rsim.BallState()
    bs.pos = rsim.Vec(0, 5000, 100)
    bs.vel = rsim.Vec(0, 2000, 0)
    engine._arena.ball.set_state(bs)
    done = False
    for _ in range(30):
        _, rewards, term, trunc = game.step({a: np.array([IDLE]) for a in state.cars})
        if term or trunc:
            done = True
            break
    assert done and term
    assert game.stats.goals_blue == 1 and game.stats.goals_orange == 0


def test_rewards_are_the_weighted_sum_of_terms():
    cfg = EnvConfig(
        rewards=(
            RewardTerm(name="custom_reward:ConstantReward", weight=2.0, kwargs={"value": 3.0}),
            RewardTerm(name="goal", weight=10.0),
        )
    )
    game = RLGymGame(cfg)
    game.reset()
    _, rewards, _, _ = game.step({a: np.array([IDLE]) for a in game.agents})
    assert rewards == {"blue-0": 6.0, "orange-0": 6.0}
    assert game.stats.return_blue == 6.0 and game.stats.return_orange == 6.0


def test_velocity_to_ball_reward_sign_and_scale():
    cfg = EnvConfig(team_size=1, rewards=(RewardTerm(name="velocity_player_to_ball", weight=1.0),))
    game = RLGymGame(cfg)
    game.seed(1)
    game.reset()
    for _ in range(8):
        _, r, _, _ = game.step(steer_at_ball(game))
    # driving at the ball: positive, at most max speed for one step's game time (8 ticks)
    assert all(0.2 * cfg.step_seconds < v <= cfg.step_seconds for v in r.values()), r


def test_same_seed_same_kickoffs_and_rollout_exactly_in_one_process():
    def rollout(seed):
        game = RLGymGame(EnvConfig(team_size=2))
        game.seed(seed)
        rng = np.random.default_rng(123)
        out = []
        for _ in range(3):
            obs = game.reset()
            out.append(np.stack(list(obs.values())))
            for _ in range(20):
                obs, *_ = game.step({a: np.array([rng.integers(NUM_ACTIONS)]) for a in game.agents})
            out.append(np.stack(list(obs.values())))
        return np.stack(out)

    a, b, c = rollout(7), rollout(7), rollout(8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
