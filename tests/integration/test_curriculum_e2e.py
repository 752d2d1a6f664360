"""The curriculum on a real local Ray: stages switch at iteration boundaries on every env runner, the new stage's
episodes have its team size, a resume keeps the stage, and ``Algorithm.from_checkpoint`` alone restores the
curriculum and the league (and hands a restarted env runner the current stage)."""

import json
import shutil
import time

import pytest
from tiny import tiny

from rl_bot.checkpoints import LEAGUE_STATE_FILE, latest_checkpoint
from rl_bot.config import load_config
from rl_bot.train import TrainPlan, plan, run

pytestmark = pytest.mark.integration

STAGES = [
    {"name": "one", "env": {"team_size": 1}, "opponents": "self", "until": {"min_env_steps": 1200}},
    {"name": "two", "env": {"team_size": 2}, "opponents": "rule-basic", "until": {"min_env_steps": 1200}},
    {"name": "three", "env": {"team_size": 1, "reward_mode": "hybrid"}, "opponents": "self"},
]


def overrides(cfg):
    return [f"{section}.{k}={json.dumps(v)}" for section, fields in cfg.items() for k, v in fields.items()]


def cars_per_env_step(row):
    return round(row["perf/agent_steps_per_s"] / row["perf/env_steps_per_s"], 6)


def test_stages_switch_resume_keeps_the_stage_and_from_checkpoint_restores_it(project_home, ray_guard):
    import argparse

    import ray

    cfg = load_config(
        None,
        overrides(
            tiny(
                stop={"iterations": 3},
                league={
                    "enabled": True,
                    "opponents": ["rule-basic"],
                    "snapshot_every_n_iterations": 1,
                    "max_pool_size": 2,
                    "eval_every_n_iterations": None,
                },
                curriculum={"enabled": True, "stages": STAGES},
                tracking={"enabled": False},
            )
        ),
    )
    p = plan(argparse.Namespace(config=None, overrides=[], address=None, resume=None))
    first = run(TrainPlan(cfg, p.run_dir, None, run_name=p.run_name), quiet=True)
    # 600 env steps per iteration: stage one for iterations 1-2, then two from iteration 3 on
    assert [r["curriculum/stage"] for r in first.history] == [1, 1, 2]
    assert [r["curriculum/transitions"] for r in first.history] == [0, 1, 1]
    # every env step of an iteration after the switch was sampled in the new stage's 2v2 games
    assert [cars_per_env_step(r) for r in first.history] == [2, 2, 4]
    assert first.history[-1]["curriculum/games"] > 0  # games against the stage's bot were scored

    # resume in the middle of stage two: it stays there until its own min_env_steps, then moves on
    args = argparse.Namespace(config=None, overrides=["stop.iterations=5"], address=None, resume=str(p.run_dir))
    second = run(plan(args), quiet=True)
    assert [r["iteration"] for r in second.history] == [4, 5]
    assert [r["curriculum/stage"] for r in second.history] == [2, 3]
    assert [cars_per_env_step(r) for r in second.history] == [4, 2]
    assert second.history[0]["curriculum/stage_env_steps"] >= 1200  # counted from the stage's start, not the resume
    rows = (p.run_dir / "curriculum" / "stages.csv").read_text().splitlines()
    assert [r.split(",")[2:4] for r in rows[1:]] == [["one", "two"], ["two", "three"]]

    # Algorithm.from_checkpoint alone: curriculum stage and history, league pool, and the runners' env
    from ray.rllib.algorithms.algorithm import Algorithm

    ckpt, _ = latest_checkpoint(p.run_dir)
    saved_league = json.loads((ckpt / LEAGUE_STATE_FILE).read_text())
    ray.init(num_cpus=2, include_dashboard=False)
    algo = Algorithm.from_checkpoint(str(ckpt))
    try:
        assert algo.curriculum.stage.name == "three" and len(algo.curriculum.history) == 2
        assert ray.get(algo.league.actor.state.remote())["members"] == saved_league["members"]
        assert len(saved_league["members"]) >= 3  # rule-basic plus snapshots
        assert [s["stage"] for s in algo.runner_status()] == ["three"]

        # a restarted env runner starts with the top-level env; the training step hands it the stage again
        actor = algo.env_runner_group._worker_manager._actors[1]  # test-only peek at RLlib's actor handle
        ray.kill(actor, no_restart=False)
        status = []
        for _ in range(8):  # RLlib takes the runner out of service, then probes it back in a later iteration
            time.sleep(1)
            algo.train()
            status = algo.runner_status()
            if status:
                break
        assert [(s["stage"], s["team_size"]) for s in status] == [("three", 1)]
    finally:
        algo.stop()

    # a checkpoint without its curriculum state is refused, not restored into the first stage
    broken = project_home / "broken_ckpt"
    shutil.copytree(ckpt, broken)
    (broken / "curriculum_state.json").unlink()
    with pytest.raises(ValueError, match="has no curriculum_state.json"):
        Algorithm.from_checkpoint(str(broken))
