"""End to end on a real local Ray: PPO iterations, MLflow metrics, checkpoint, --resume, eval."""

import re

import pytest
import yaml
from tiny import TINY

from rl_bot.checkpoints import latest_checkpoint
from rl_bot.cli import main as cli

pytestmark = pytest.mark.integration


def metric_steps(client, run_id, key):
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_train_checkpoint_resume_and_eval(project_home, ray_guard, capsys):
    from mlflow.tracking import MlflowClient

    cfg_path = project_home / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY))

    assert cli(["train", "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("iter ")]
    assert [int(ln.split()[1]) for ln in lines] == [1, 2]
    assert all("agent-steps/s" in ln and "ETA" in ln for ln in lines)

    run_dirs = list((project_home / "runs").iterdir())
    assert len(run_dirs) == 1
    run_dir = run_dirs[0]
    assert re.match(r"rocketleague-1v1__tiny__3__\d{8}-\d{6}$", run_dir.name)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["ppo"]["train_batch_size"] == 600 and saved["ppo"]["lambda"] == 0.95  # resolved defaults
    ckpt, state = latest_checkpoint(run_dir)
    assert ckpt.name == "iter_000002" and state.iteration == 2 and state.env_steps >= 1200

    uri = f"sqlite:///{project_home}/mlruns/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["ppo.train_batch_size"] == "600"
    assert run.data.params["env.rewards.0.name"] == "goal"
    for key in (
        "perf/agent_steps_per_s",
        "env/episode_length",
        "losses/policy_loss",
        "losses/entropy",
        "losses/kl",
        "losses/clip_fraction",
        "losses/vf_clipped_share",
        "losses/explained_variance",
        "losses/return_std",
        "env/touches_per_episode",
        "env/return_blue",
        "env/reward/goal",
        "env/reward/velocity_player_to_ball",
    ):
        assert metric_steps(client, run_id, key) == [1, 2], key
    ep_len = client.get_metric_history(run_id, "env/episode_length")[-1].value
    assert 1 <= ep_len <= 8 * 15 + 1  # an episode ends by the 8 s game timeout at the latest
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "checkpoint.json"} <= artifacts

    # --resume continues at iteration 3 in the same MLflow run, with the saved counters
    assert cli(["train", "--resume", str(run_dir), "--set", "stop.iterations=3"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "at iteration 2" in out
    assert [int(ln.split()[1]) for ln in out.splitlines() if ln.startswith("iter ")] == [3]
    ckpt3, state3 = latest_checkpoint(run_dir)
    assert ckpt3.name == "iter_000003" and state3.env_steps > state.env_steps
    assert not (run_dir / "checkpoints" / "iter_000001").exists()  # keep_last=2
    assert metric_steps(client, run_id, "perf/agent_steps_per_s") == [1, 2, 3]
    assert (run_dir / "config.before-iter2.yaml").exists()  # the earlier config is kept
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["stop"]["iterations"] == 3

    # the trained module plays real games through rl-bot eval
    assert (
        cli(
            [
                "eval",
                "--checkpoint",
                str(run_dir),
                "--games",
                "2",
                "--set",
                "env.game_timeout_s=5",
                "--set",
                "env.no_touch_timeout_s=5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "iter_000003 (sampled actions), 1v1, tick skip 8: 2 episodes" in out and "touches/min" in out


#: Every line ``rl-bot train`` itself prints (progress, league, curriculum, MLflow, summary).
OWN_LINE = re.compile(r"^(run directory: |league: |curriculum: |MLflow: run |iter +\d+ \| |stopped: |resumed from )")


def test_train_prints_only_its_own_lines_and_keeps_rays_in_the_run_folder(tmp_path):
    """The user's path: the ``rl-bot`` console script in its own process (so Ray's native loggers, its worker
    output and Python's warnings all write to the real stdout/stderr). With the league on, as in the quickstart."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tiny import tiny

    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(league={"enabled": True, "opponents": ["rule"]})))
    env = {**os.environ, "RL_BOT_HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled", "PYTHONWARNINGS": "default"}
    env.pop("RAY_ADDRESS", None)
    rl_bot = Path(sys.executable).parent / "rl-bot"

    def train(*extra):
        proc = subprocess.run(
            [str(rl_bot), "train", "--config", str(cfg_path), *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return proc

    quiet = train()
    lines = (quiet.stdout + quiet.stderr).splitlines()
    assert quiet.stderr == "", quiet.stderr[-3000:]
    assert [ln for ln in lines if not OWN_LINE.match(ln)] == []  # no warning, no Ray log line
    run_dir = Path(lines[0].removeprefix("run directory: ").split(" (")[0])
    assert lines[0] == (
        f"run directory: {run_dir} (Ray, RLlib and MLflow logs: train.log in it; --verbose shows them here)"
    )
    assert [int(ln.split()[1]) for ln in lines if ln.startswith("iter ")] == [1, 2]
    assert lines[-1].startswith("stopped: stop.iterations=2; last checkpoint: ")
    log = (run_dir / "train.log").read_text()
    assert "You are running PPO on the new API stack" in log  # what was kept off the terminal is in the log
    assert "INFO mlflow" in log

    loud = train("--verbose", "--set", "stop.iterations=1")
    shown = loud.stdout + loud.stderr
    assert "You are running PPO on the new API stack" in shown
    assert "Ray, RLlib and MLflow logs" not in shown
    assert [ln for ln in loud.stdout.splitlines() if ln.startswith("iter ")] != []
