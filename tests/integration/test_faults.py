"""Failures during training on a real local Ray: a killed env runner, a killed league actor, NaN rewards."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import psutil
import pytest
import yaml
from raycli import ctrl_c_reaches_child, wait_for
from tiny import TINY, tiny

from rl_bot.checkpoints import CHECKPOINT_DIR, latest_checkpoint, list_checkpoints, read_state
from rl_bot.cli import main as cli
from rl_bot.config import ConfigError
from rl_bot.env import batched as batched_mod
from rl_bot.trainer import ENV_RUNNERS_FILE

pytestmark = pytest.mark.integration


def start_training(home, cfg: dict) -> tuple[subprocess.Popen, object]:
    (home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, RL_BOT_HOME=str(home), RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl_bot.cli", "train", "--config", str(home / "cfg.yaml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=ctrl_c_reaches_child,
    )
    return proc, home / "runs"


def run_dir_of_only_run(runs):
    found = list(runs.iterdir()) if runs.is_dir() else []
    return found[0] if len(found) == 1 else None


def latest_iteration(run_dir) -> int:
    for ckpt in reversed(list_checkpoints(run_dir)):
        try:
            return read_state(ckpt).iteration
        except ConfigError:
            continue
    return 0


def checkpoint_at_least(run_dir, iteration: int) -> bool:
    return latest_iteration(run_dir) >= iteration


def finish(proc: subprocess.Popen, timeout: float = 400) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"training did not finish in {timeout} s:\n{out[-3000:]}\n{err[-3000:]}") from None
    return proc.returncode, out, err


def metric_values(home, run_dir, key) -> list[tuple[int, float]]:
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    with sqlite3.connect(home / "mlruns" / "mlflow.db") as db:
        rows = db.execute(
            "SELECT step, value FROM metrics WHERE run_uuid=? AND key=? ORDER BY step, timestamp", (run_id, key)
        ).fetchall()
    return [(int(s), float(v)) for s, v in rows]


def test_killed_env_runner_is_restarted_counted_and_its_samples_not_double_counted(tmp_path):
    # No stop limit the run can reach first: a tiny iteration takes well under a second, so a run that stops after a
    # fixed count can end before Ray has brought the killed runner back. The test stops it with Ctrl-C once the
    # replacement has sampled two iterations.
    cfg = tiny(resources={"num_env_runners": 2, "num_envs_per_env_runner": 2}, stop={"iterations": 100_000})
    proc, runs = start_training(tmp_path, cfg)
    try:
        run_dir = wait_for(lambda: run_dir_of_only_run(runs), 120, "the run directory")
        wait_for(lambda: checkpoint_at_least(run_dir, 2), 300, "the checkpoint of iteration 2")
        before = json.loads((run_dir / ENV_RUNNERS_FILE).read_text())["env_runners"]
        victim = before[0]
        os.kill(victim["pid"], signal.SIGKILL)

        def replaced():
            try:
                now = json.loads((run_dir / ENV_RUNNERS_FILE).read_text())["env_runners"]
            except (OSError, json.JSONDecodeError):  # caught while the trainer rewrites it
                return False
            pids = {r["worker_index"]: r["pid"] for r in now}
            return pids.get(victim["worker_index"]) not in (None, victim["pid"])

        wait_for(replaced, 300, "the replacement env runner")
        back_at = latest_iteration(run_dir)
        wait_for(lambda: checkpoint_at_least(run_dir, back_at + 2), 300, "two iterations after the restart")
        proc.send_signal(signal.SIGINT)
        rc, out, err = finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 130, out[-3000:] + err[-3000:]
    # the restart is counted in MLflow from the iteration it happened in
    restarts = metric_values(tmp_path, run_dir, "perf/env_runner_restarts")
    assert [s for s, _ in restarts] == list(range(1, len(restarts) + 1))
    assert restarts[0][1] == 0 and restarts[1][1] == 0 and restarts[-1][1] >= 1
    # every iteration sampled one train batch: nothing from the dead runner counted twice
    totals = [v for _, v in metric_values(tmp_path, run_dir, "perf/env_steps_total")]
    deltas = np.diff([0.0, *totals])
    batch = TINY["ppo"]["train_batch_size"]
    assert all(batch <= d <= 1.5 * batch for d in deltas), deltas
    _, state = latest_checkpoint(run_dir)
    assert state.iteration >= back_at + 2 and state.env_steps == int(totals[state.iteration - 1])


def test_killed_league_actor_stops_the_run_with_a_clear_error_and_the_checkpoint_resumes(tmp_path):
    cfg = tiny(
        league={"enabled": True, "snapshot_every_n_iterations": 1, "eval_every_n_iterations": None},
        stop={"iterations": 40},
    )
    proc, runs = start_training(tmp_path, cfg)
    try:
        run_dir = wait_for(lambda: run_dir_of_only_run(runs), 120, "the run directory")
        wait_for(lambda: checkpoint_at_least(run_dir, 2), 300, "the checkpoint of iteration 2")
        # this run's league actor only (a process the training started): another Ray on the machine is left alone
        actors = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if " ".join(p.cmdline()).startswith("ray::LeagueManager")
        ]
        assert len(actors) == 1, f"expected this run's one league actor, found {actors}"
        actors[0].kill()
        rc, out, err = finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 3, out[-3000:] + err[-3000:]
    assert "the league actor 'league:" in err and "died" in err and f"--resume {run_dir}" in err, err[-3000:]
    assert "Traceback" not in err.split("error: the league actor")[-1]
    # the newest complete checkpoint holds the league as it was
    ckpt, state = latest_checkpoint(run_dir)
    league = json.loads((ckpt / "league_state.json").read_text())
    assert league["iteration"] == state.iteration >= 2 and league["snapshots_taken"] >= 2
    with sqlite3.connect(tmp_path / "mlruns" / "mlflow.db") as db:
        status = db.execute("SELECT status FROM runs").fetchall()
    assert status == [("FAILED",)]
    # and it resumes (pool and ratings from that checkpoint)
    env = dict(os.environ, RL_BOT_HOME=str(tmp_path), RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    resumed = subprocess.run(
        [sys.executable, "-m", "rl_bot.cli", "train", "--resume", str(run_dir)]
        + ["--set", f"stop.iterations={state.iteration + 1}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resumed from {ckpt} at iteration {state.iteration}" in resumed.stdout


def test_nan_reward_stops_the_run_at_its_last_good_checkpoint(project_home, ray_guard, capsys, monkeypatch):
    # The local env runner samples in this process (no remote runners), so the patched kernel is the one used.
    real = batched_mod.KERNELS["touch"]
    runs = project_home / "runs"

    def touch_then_nan(frame, **kw):
        out = real(frame, **kw)
        if list(runs.glob("*/checkpoints/iter_000002")):  # from iteration 3 on
            out = out.copy()
            out[0, 0] = np.nan
        return out

    monkeypatch.setitem(batched_mod.KERNELS, "touch", touch_then_nan)
    cfg = tiny(resources={"num_env_runners": 0, "num_envs_per_env_runner": 2}, stop={"iterations": 5})
    (project_home / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    rc = cli(["train", "--config", str(project_home / "cfg.yaml")])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert re.search(r"iteration 3 \(about \d+ env steps sampled\): non-finite values: env/non_finite/reward", err), err
    assert "env/non_finite/reward/touch (" in err
    assert "reward term 'touch' in arena 0 (env runner 0)" in err
    (run_dir,) = (project_home / "runs").iterdir()
    ckpt, state = latest_checkpoint(run_dir)
    assert ckpt.name == "iter_000002" and state.iteration == 2
    assert not list((run_dir / CHECKPOINT_DIR).glob("*.tmp"))
