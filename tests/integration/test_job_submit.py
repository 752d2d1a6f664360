"""`ray job submit ... -- python -m rl_bot.train` on a real single-node cluster: outputs land at absolute paths."""

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from raycli import free_port, job_folders, ray_cli, ray_env, stop_ray_under, submit, wait_for
from tiny import tiny

from rl_bot.checkpoints import latest_checkpoint
from rl_bot.league.files import highest_snapshot_on_disk
from rl_bot.league.league import snapshot_id

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path):
    env = ray_env()
    gcs, dash = free_port(), free_port()
    # A short temp dir of its own (Ray's unix socket paths have a length limit): the cluster's processes name it,
    # so stopping it ends this cluster and no other Ray on the machine.
    temp = Path(tempfile.mkdtemp(prefix="rlj-", dir="/tmp"))
    started = ray_cli(
        "start",
        "--head",
        f"--port={gcs}",
        "--num-cpus=2",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--temp-dir={temp}",
        "--disable-usage-stats",
        env=env,
    )
    try:
        assert started.returncode == 0, started.stderr
        yield f"http://127.0.0.1:{dash}", env
    finally:
        stop_ray_under(temp)
        shutil.rmtree(temp, ignore_errors=True)


def test_job_submit_writes_runs_and_mlflow_outside_the_temp_copy(cluster, tmp_path):
    address, env = cluster
    tiny_cfg = {
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
    home, workdir, runtime_env = job_folders(tmp_path, "tiny.yaml", tiny_cfg)
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


def test_job_stopped_after_a_checkpoint_continues_whole_when_resubmitted_with_resume(cluster, tmp_path):
    from mlflow.tracking import MlflowClient

    address, env = cluster
    cfg = tiny(
        run={"name": "stopped"},
        league={"enabled": True, "snapshot_every_n_iterations": 1, "eval_every_n_iterations": None},
        stop={"iterations": 60},
    )
    home, workdir, runtime_env = job_folders(tmp_path, "long.yaml", cfg)
    first = submit(address, workdir, runtime_env, ["--config", "long.yaml"], env, wait=False)
    assert first.returncode == 0, first.stderr[-3000:]
    job_id = re.search(r"raysubmit_\w+", first.stdout + first.stderr).group(0)
    runs = home / "runs"
    run_dir = wait_for(lambda: next(iter(runs.iterdir()), None) if runs.is_dir() else None, 180, "the run folder")
    wait_for(lambda: (run_dir / "checkpoints" / "iter_000002").is_dir(), 300, "the checkpoint of iteration 2")
    stopped = ray_cli("job", "stop", "--address", address, job_id, env=env)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    status = ray_cli("job", "status", "--address", address, job_id, env=env)
    assert "was stopped" in status.stdout + status.stderr, status.stdout
    ckpt, state = latest_checkpoint(run_dir)
    assert state.iteration >= 2
    league_before = json.loads((ckpt / "league_state.json").read_text())
    # the job may have taken a snapshot after its last complete checkpoint: the resume never reuses that id
    numbered_after = max(league_before["snapshots_taken"], highest_snapshot_on_disk(run_dir))
    run_id = (run_dir / "mlflow_run_id").read_text().strip()

    target = state.iteration + 2
    second = submit(
        address, workdir, runtime_env, ["--resume", str(run_dir), "--set", f"stop.iterations={target}"], env
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resumed from {ckpt} at iteration {state.iteration}" in second.stdout
    assert f"stopped: stop.iterations={target}" in second.stdout
    final, final_state = latest_checkpoint(run_dir)
    assert final_state.iteration == target and final_state.env_steps > state.env_steps
    assert final_state.wall_time_s > state.wall_time_s
    # the league went on from the saved pool and ratings
    league_after = json.loads((final / "league_state.json").read_text())
    assert league_after["snapshots_taken"] == numbered_after + 2
    assert {m["id"] for m in league_after["members"]} >= {snapshot_id(numbered_after + 2)}
    assert len(league_after["history"]) == len(league_before["history"]) + 2
    # one MLflow run for both jobs, with every iteration up to the target
    assert (run_dir / "mlflow_run_id").read_text().strip() == run_id
    client = MlflowClient(tracking_uri=f"sqlite:///{home}/mlruns/mlflow.db")
    assert client.get_run(run_id).info.status == "FINISHED"
    steps = {m.step for m in client.get_metric_history(run_id, "perf/env_steps_total")}
    assert steps >= set(range(1, target + 1))
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == 1
