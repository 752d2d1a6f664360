"""The training step's stop rules on synthetic iteration results (no Ray cluster needed)."""

import math
from types import SimpleNamespace

import pytest

from rl_bot.env.guard import NonFiniteError
from rl_bot.trainer import RLBotPPO


def fake_algo(weights_finite: bool, examples=()):
    return SimpleNamespace(
        _empty_updates=0,
        _main_weights_finite=lambda: weights_finite,
        runner_status=lambda: [{"non_finite": list(examples)}],
    )


def result(losses: float, non_finite: float | None = None, steps_per_s: float = 100.0) -> dict:
    runners = {"env/touches_sum": 3.0}
    if non_finite is not None:
        runners["env/non_finite/reward/touch"] = non_finite
    return {
        "env_runners": runners,
        "learners": {"main": {"total_loss": losses, "policy_loss": losses, "vf_loss": 0.5, "entropy": 4.0}},
        "perf/env_steps_per_s": steps_per_s,
        "perf/iteration_time_s": 2.0,
    }


def test_finite_iteration_passes():
    algo = fake_algo(True)
    RLBotPPO._check_finite(algo, 1, result(0.1))
    assert algo._empty_updates == 0


def test_nan_losses_of_an_update_without_samples_are_counted_when_the_weights_stay_finite():
    algo = fake_algo(True)
    r = result(math.nan, steps_per_s=0.0)
    RLBotPPO._check_finite(algo, 4, r)
    assert algo._empty_updates == 1 and r["perf/updates_without_samples"] == 1.0


def test_nan_losses_that_reached_the_weights_stop_the_run():
    with pytest.raises(NonFiniteError, match=r"iteration 4 \(about 0 env steps sampled\).*losses/policy_loss \(nan\)"):
        RLBotPPO._check_finite(fake_algo(False), 4, result(math.nan, steps_per_s=0.0))


def test_replaced_game_values_stop_the_run_and_name_the_term_and_arena():
    algo = fake_algo(True, ["reward term 'touch' in arena 3 (env runner 2)"] * 2)
    with pytest.raises(NonFiniteError) as e:
        RLBotPPO._check_finite(algo, 7, result(0.1, non_finite=5.0))
    msg = str(e.value)
    assert "env/non_finite/reward/touch (5)" in msg
    assert msg.count("reward term 'touch' in arena 3 (env runner 2)") == 1
