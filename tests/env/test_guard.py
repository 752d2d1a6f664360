"""NaN/inf from the game is replaced by 0 (so sampling goes on) and recorded by name for the training step."""

import numpy as np
import pytest

from rl_bot.config import EnvConfig
from rl_bot.env import batched as batched_mod
from rl_bot.env.batched import BatchedGame
from rl_bot.env.game import RLGymGame
from rl_bot.env.guard import MAX_EXAMPLES, NonFiniteLog, metric_key


def test_clean_replaces_and_counts_by_name_with_the_arena():
    log = NonFiniteLog()
    ok = np.ones((3, 2))
    assert log.clean(ok, "observation") is ok  # no copy when nothing is wrong
    bad = np.array([[1.0, np.nan], [2.0, 3.0], [np.inf, -np.inf]], np.float32)
    out = log.clean(bad, "reward term 'touch'")
    assert out.tolist() == [[1.0, 0.0], [2.0, 3.0], [0.0, 0.0]] and out.dtype == np.float32
    counts, examples = log.drain()
    assert counts == {"reward term 'touch'": 3}
    assert examples == ["reward term 'touch' in arena 0", "reward term 'touch' in arena 2"]
    assert log.drain() == ({}, [])
    for _ in range(10):
        log.clean(np.array([np.nan]), "observation", "car blue-0")
    counts, examples = log.drain()
    assert counts == {"observation": 10} and len(examples) == MAX_EXAMPLES
    assert metric_key("reward term 'touch'") == "env/non_finite/reward/touch"
    assert metric_key("observation") == "env/non_finite/observation"


def test_batched_game_reports_a_nan_reward_term_and_keeps_rewards_finite(monkeypatch):
    def nan_touch(frame, **kw):
        out = np.zeros((len(frame.goal), frame.teams.shape[0]))
        out[1, 0] = np.nan
        return out

    monkeypatch.setitem(batched_mod.KERNELS, "touch", nan_touch)
    game = BatchedGame(EnvConfig(team_size=1), num_arenas=3)
    for i in range(3):
        game.seed(i, i)
        game.reset(i)
    rewards, _, _ = game.step(np.zeros((3, 2), np.int64))
    assert np.isfinite(rewards).all()
    counts, examples = game.non_finite.drain()
    assert counts == {"reward term 'touch'": 1} and examples == ["reward term 'touch' in arena 1"]
    # the episode's term sums stay finite too
    assert all(np.isfinite(v).all() for v in game.term_sums.values())


def test_batched_observations_are_checked():
    game = BatchedGame(EnvConfig(team_size=1), num_arenas=2)
    for i in range(2):
        game.seed(i, i)
        game.reset(i)
    game.ball[1, 0, 0] = np.nan  # a broken physics reading in arena 1
    obs = game.observations()
    assert np.isfinite(obs).all()
    counts, examples = game.non_finite.drain()
    assert counts["observation"] > 0 and examples[0] == "observation in arena 1"


def test_rlgym_game_reports_a_nan_reward_term(monkeypatch):
    game = RLGymGame(EnvConfig(team_size=1))
    game.seed(0)
    game.reset()
    touch = game.reward.components[[t.name for t in game.reward.terms].index("touch")]
    monkeypatch.setattr(touch, "get_rewards", lambda agents, *a, **k: {a: float("nan") for a in agents})
    _, rewards, _, _ = game.step({a: np.array([0]) for a in game.agents})
    assert all(np.isfinite(list(rewards.values())))
    counts, examples = game.non_finite.drain()
    assert counts == {"reward term 'touch'": 2} and examples == ["reward term 'touch' of the game"]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_observation_on_the_rlgym_path_names_the_car(value):
    game = RLGymGame(EnvConfig(team_size=1))
    out = game._cast({"blue-0": np.array([1.0, value]), "orange-0": np.array([1.0, 2.0])})
    assert out["blue-0"].tolist() == [1.0, 0.0]
    assert game.non_finite.drain() == ({"observation": 1}, ["observation of car blue-0"])
