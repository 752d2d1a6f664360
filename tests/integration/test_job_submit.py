"""`ray job submit ... -- python -m rl_bot.train` on a real single-node cluster: outputs land at absolute paths."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rl_bot.checkpoints import latest_checkpoint

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli(*args, env, timeout=180):
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cluster(tmp_path):
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    gcs, dash = free_port(), free_port()
    started = ray_cli(
        "start",
        "--head",
        f"--port={gcs}",
        "--num-cpus=2",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        "--disable-usage-stats",
        env=env,
    )
    try:
        assert started.returncode == 0, started.stderr
        yield f"http://127.0.0.1:{dash}", env
    finally:
        ray_cli("stop", "--force", env=env)


def test_job_submit_writes_runs_and_mlflow_outside_the_temp_copy(cluster, tmp_path):
    address, env = cluster
    home = tmp_path / "home"
    home.mkdir()
    tiny = {
        "run": {"name": "job"},
        "env": {"no_touch_timeout_s": 4, "game_timeout_s": 8},
        "model": {"fcnet_hiddens": [32], "lstm_cell_size": 16, "max_seq_len": 8},
        "ppo": {"train_batch_size": 400, "minibatch_size": 200, "num_epochs": 1},
        "resources": {"num_env_runners": 1, "num_envs_per_env_runner": 2},
        "stop": {"iterations": 1},
        # the league actor must live on the driver's node and be found by name from the env runners
        "league": {"enabled": True, "snapshot_every_n_iterations": 1, "eval_every_n_iterations": None},
    }
    # the job ships a small working dir (like a user's project) holding the config by relative path
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    runtime_env = {"env_vars": {"RL_BOT_HOME": str(home), "RAY_AUTH_MODE": "disabled"}}
    submitted = ray_cli(
        "job",
        "submit",
        "--address",
        address,
        "--working-dir",
        str(workdir),
        "--runtime-env-json",
        json.dumps(runtime_env),
        "--",
        sys.executable,
        "-m",
        "rl_bot.train",
        "--config",
        "tiny.yaml",
        env=env,
        timeout=400,
    )
    assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
    assert "iter    1" in submitted.stdout
    runs = list((home / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("rocketleague-1v1__job__0__")
    ckpt, state = latest_checkpoint(runs[0])
    assert state.iteration == 1 and state.env_steps >= 400
    assert "league: actor 'league:rocketleague-1v1__job__0__" in submitted.stdout
    assert (runs[0] / "league" / "snapshots" / "snap-0001.pkl").is_file()
    league_state = json.loads((ckpt / "league_state.json").read_text())
    assert [m["id"] for m in league_state["members"]] == ["rule-basic", "rule", "snap-0001"]
    assert (home / "mlruns" / "mlflow.db").is_file()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home}/mlruns/mlflow.db")
    run_id = (runs[0] / "mlflow_run_id").read_text().strip()
    assert [m.step for m in client.get_metric_history(run_id, "perf/agent_steps_per_s")] == [1]
    assert not (workdir / "runs").exists() and not (workdir / "mlruns").exists()
