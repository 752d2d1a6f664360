"""The ball prediction's closed form between events gives the states the step-by-step model reaches."""

import numpy as np
import pytest

from rl_bot.config import EnvConfig
from rl_bot.env.batched import BatchedGame
from rl_bot.league import rule_physics as rp


def step_by_step(pos, vel, steps=rp.PRED_STEPS):
    p, v = np.array(pos, float), np.array(vel, float)
    out = np.empty((len(p), steps, 6))
    for k in range(steps):
        rp.step_ball(p, v)
        out[:, k, :3], out[:, k, 3:] = p, v
    return out


def random_states(rng, n):
    """Balls anywhere, in flight and rolling (on the floor with no vertical speed), some heading for walls."""
    pos = np.column_stack([rng.uniform(-4000, 4000, n), rng.uniform(-5000, 5000, n), rng.uniform(93, 1900, n)])
    vel = rng.normal(0, 1200, (n, 3))
    ground = rng.random(n) < 0.4
    pos[ground, 2] = rp.BALL_RADIUS + rng.uniform(0, 1, ground.sum())
    vel[ground, 2] = rng.uniform(-0.9, 0.9, ground.sum())
    return pos, vel


@pytest.mark.parametrize("seed", range(5))
def test_prediction_equals_the_step_by_step_model(seed):
    pos, vel = random_states(np.random.default_rng(seed), 64)
    np.testing.assert_allclose(rp.predict_ball(pos, vel), step_by_step(pos, vel), rtol=0, atol=1e-6)


def test_prediction_equals_the_step_by_step_model_on_game_states():
    """Balls from real play: kickoffs, rolls, bounces, balls in a goal mouth."""
    game = BatchedGame(EnvConfig(), 16)
    rng = np.random.default_rng(0)
    for i in range(16):
        game.seed(i, i)
        game.reset(i)
    states = []
    for _ in range(200):
        _, term, trunc = game.step(rng.integers(90, size=(16, 2)))
        states.append(game.observations()[:, 0, :6] * 2300.0)
        for i in np.flatnonzero(term | trunc):
            game.reset(i)
    game.close()
    s = np.concatenate(states).astype(np.float64)
    np.testing.assert_allclose(rp.predict_ball(s[:, :3], s[:, 3:]), step_by_step(s[:, :3], s[:, 3:]), atol=1e-6)
