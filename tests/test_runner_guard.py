"""The env runner finds the games' NaN/inf logs on both backends, and refuses an env it cannot read them from."""

from types import SimpleNamespace

import pytest

from rl_bot.config import EnvConfig
from rl_bot.runner import RLBotEnvRunner, make_vector_env


@pytest.mark.parametrize("backend", ["batched", "rlgym"])
def test_the_runner_reads_every_games_log_on_both_backends(backend):
    env = make_vector_env(EnvConfig(team_size=1, backend=backend), 3, seed=0, worker_index=1, num_workers=1)
    try:
        logs = RLBotEnvRunner._non_finite_logs(SimpleNamespace(env=env, worker_index=1))
        assert len(logs) == (1 if backend == "batched" else 3)
        games = [env.game] if backend == "batched" else [e.unwrapped.game for e in env.envs]
        assert all(log is g.non_finite for log, g in zip(logs, games, strict=True))
    finally:
        env.close()


def test_an_env_without_readable_logs_is_an_error_not_a_silent_skip():
    runner = SimpleNamespace(env=SimpleNamespace(unwrapped=object()), worker_index=2)
    with pytest.raises(TypeError, match="env runner 2: cannot find the games' NaN/inf logs"):
        RLBotEnvRunner._non_finite_logs(runner)
    assert RLBotEnvRunner._non_finite_logs(SimpleNamespace(env=None, worker_index=0)) == []
