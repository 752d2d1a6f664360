"""``rl-bot tune`` on a real local Ray: nested MLflow runs per trial, the comparison, a stopped sweep resumed, and a
PBT exploit that carries the league's state."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from raycli import ctrl_c_reaches_child
from tiny import tiny

from rl_bot.cli import main as cli

pytestmark = pytest.mark.integration

LEAGUE = {
    "enabled": True,
    "snapshot_every_n_iterations": 1,
    "max_pool_size": 2,
    "eval_every_n_iterations": None,
    "round_steps": 50,
}


def sweep_file(home, **fields):
    raw = {
        "name": "t",
        "base": tiny(league=LEAGUE),
        "resources": {"num_env_runners": 0, "num_envs_per_env_runner": 2},
        "space": {"ppo.lr": {"grid": [1.0e-4, 5.0e-4]}},
        "search": {"algorithm": "grid"},
        "metric": "env/episode_return_mean",
        "mode": "max",
    }
    raw.update(fields)
    path = home / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def only_sweep(home):
    (folder,) = (home / "runs" / "sweeps").iterdir()
    return folder


def mlflow_client(home):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home}/mlruns/mlflow.db")


def children(client, parent_id):
    exp = client.get_run(parent_id).info.experiment_id
    return client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_two_trials_are_nested_mlflow_runs_with_a_comparison(project_home, ray_guard, capsys):
    path = sweep_file(project_home, stop={"iterations": 1})
    assert cli(["tune", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "best trial" in out and "best.yaml" in out

    folder = only_sweep(project_home)
    client = mlflow_client(project_home)
    parent_id = (folder / "mlflow_run_id").read_text().strip()
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["rl_bot.sweep"] == "t"
    assert parent.data.params["sweep.space.ppo.lr.grid"] == "[0.0001, 0.0005]"
    assert {a.path for a in client.list_artifacts(parent_id, "results")} == {
        "results/trials.csv",
        "results/curves.png",
        "results/best.json",
        "results/best.yaml",
    }

    kids = children(client, parent_id)
    assert len(kids) == 2
    assert sorted(float(k.data.params["ppo.lr"]) for k in kids) == [1.0e-4, 5.0e-4]
    for k in kids:
        assert k.info.status == "FINISHED" and k.data.tags["rl_bot.sweep"] == "t"
        assert [m.step for m in client.get_metric_history(k.info.run_id, "env/episode_return_mean")] == [1]
        assert client.get_metric_history(k.info.run_id, "sweep/ppo.lr")[0].value == float(k.data.params["ppo.lr"])
        assert "league" in {a.path for a in client.list_artifacts(k.info.run_id)}

    rows = read_csv(folder / "results" / "trials.csv")
    assert sorted(float(r["ppo.lr"]) for r in rows) == [1.0e-4, 5.0e-4]
    assert all(r["status"] == "finished" and r["iterations"] == "1" for r in rows)
    best = json.loads((folder / "results" / "best.json").read_text())
    values = [float(r["last env/episode_return_mean"]) for r in rows]
    assert best["value"] == max(values) and best["trial_id"] in {r["trial_id"] for r in rows}
    assert yaml.safe_load((folder / "results" / "best.yaml").read_text())["ppo"]["lr"] == best["sampled"]["ppo.lr"]
    assert (folder / "results" / "curves.png").stat().st_size > 1000

    # the best trial's checkpoint plays real games with its own config
    assert cli(["eval", "--checkpoint", best["checkpoint"], "--games", "2", "--arenas", "2"]) == 0


def test_pbt_exploit_copies_weights_and_league_state(project_home, ray_guard):
    path = sweep_file(
        project_home,
        stop={"iterations": 4},
        set={"tracking.enabled": False},
        scheduler={
            "type": "pbt",
            "perturbation_interval": 2,
            "quantile_fraction": 0.5,
            "resample_probability": 0.0,
            "synch": True,
            "mutations": {"ppo.lr": {"loguniform": [1.0e-5, 1.0e-3]}},
        },
    )
    assert cli(["tune", "--config", str(path)]) == 0
    folder = only_sweep(project_home)
    exploits = list((folder / "trials").glob("*/tune/exploits.csv"))
    assert len(exploits) == 1  # two trials, quantile 0.5: the weaker copies the stronger once, at iteration 2
    (row,) = read_csv(exploits[0])
    trial = exploits[0].parents[1]
    source = folder / "trials" / row["source_trial"]
    exploited_at = int(row["iteration"])
    assert row["source_trial"] != trial.name and exploited_at >= 2

    # the source's pool came with its weights: the files are the source's (snapshot files are never rewritten),
    # not this trial's own files of the same name from before the exploit
    copied = row["snapshots"].split()
    assert len(copied) == 2
    own_before = trial / "league.before-exploit-1" / "snapshots"
    shared = [snap for snap in copied if (own_before / f"{snap}.pkl").is_file()]
    assert shared  # both trials snapshot every iteration, so their pools overlap in names
    for snap in copied:
        weights = (trial / "league" / "snapshots" / f"{snap}.pkl").read_bytes()
        assert weights == (source / "league" / "snapshots" / f"{snap}.pkl").read_bytes()
    for snap in shared:
        assert (trial / "league" / "snapshots" / f"{snap}.pkl").read_bytes() != (
            own_before / f"{snap}.pkl"
        ).read_bytes()

    # after the exploit the trial's league continued the source's: up to the exploit its rating history is the
    # source's, and from there it took snapshots of its own
    def final_league(t):
        (final,) = [r for r in read_csv(folder / "results" / "trials.csv") if r["trial_id"] == t.name]
        ckpt = folder / "tune" / t.name / os.path.basename(final["checkpoint"])
        return json.loads((ckpt / "league_state.json").read_text())

    mine, theirs = final_league(trial), final_league(source)
    assert mine["iteration"] == 4
    assert mine["history"][:exploited_at] == theirs["history"][:exploited_at]
    assert [h["iteration"] for h in mine["history"]] == [1, 2, 3, 4]
    assert mine["snapshots_taken"] > max(int(snap.split("-")[1]) for snap in copied)
    # the mutated learning rate is what the trial ran with afterwards; the one before is kept
    mutated = json.loads(row["config"])["ppo.lr"]
    assert yaml.safe_load((trial / "config.yaml").read_text())["ppo"]["lr"] == pytest.approx(mutated)
    assert (trial / f"config.before-iter{exploited_at}.yaml").is_file()


def test_a_stopped_sweep_resumes_where_it_stopped(project_home, ray_guard):
    path = sweep_file(
        project_home,
        stop={"iterations": 3},
        search={"algorithm": "grid", "max_concurrent_trials": 1},
    )
    env = {**os.environ, "RL_BOT_HOME": str(project_home), "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl_bot.cli", "tune", "--config", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ctrl_c_reaches_child,
    )
    try:
        deadline = time.monotonic() + 300
        while not list((project_home / "runs").glob("sweeps/*/tune/*/checkpoint_000000")):
            assert proc.poll() is None and time.monotonic() < deadline, "no trial checkpoint appeared"
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]
    folder = only_sweep(project_home)
    assert f"rl-bot tune --resume {folder}" in out

    assert cli(["tune", "--resume", str(folder)]) == 0
    rows = read_csv(folder / "results" / "trials.csv")
    assert len(rows) == 2 and all(r["status"] == "finished" and r["iterations"] == "3" for r in rows)
    client = mlflow_client(project_home)
    parent_id = (folder / "mlflow_run_id").read_text().strip()
    assert client.get_run(parent_id).info.status == "FINISHED"
    kids = children(client, parent_id)
    assert len(kids) == 2  # the interrupted trial went on in its own MLflow run
    for k in kids:
        assert k.info.status == "FINISHED"
        steps = {m.step for m in client.get_metric_history(k.info.run_id, "env/episode_return_mean")}
        assert steps == {1, 2, 3}


def test_a_trial_the_cluster_cannot_place_is_exit_2_before_anything_is_written(project_home, ray_guard, capsys):
    import ray

    ray.init(num_cpus=1, include_dashboard=False)
    path = sweep_file(project_home, stop={"iterations": 1}, resources={"num_env_runners": 1})
    assert cli(["tune", "--config", str(path)]) == 2
    assert "each trial reserves CPU=2" in capsys.readouterr().err
    assert not (project_home / "runs").exists()


def _slow_pause_trainable():
    """A toy Tune trainable ordered (by marker files) to hit the race ``compat.PopulationBasedTrainingFixed``
    fixes: the weaker trial (score 0) reaches the perturbation point first and is paused; its pause-save lasts
    until the stronger trial (score 1) has reported the same iteration and PBT has exploited it mid-save."""
    from ray import tune

    def wait_for(path):  # defined here: the trial actors cannot import this test module
        deadline = time.monotonic() + 120
        while not os.path.exists(path):
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.05)

    class SlowPause(tune.Trainable):
        def setup(self, config):
            self.score, self.t, self.sync = config["score"], 0, config["sync"]

        def step(self):
            self.t += 1
            if self.score == 1 and self.t == 2:
                wait_for(os.path.join(self.sync, "weaker-saving"))
                open(os.path.join(self.sync, "stronger-at-2"), "w").close()
            return {"score": self.score, "done": self.t >= 4}

        def save_checkpoint(self, checkpoint_dir):
            if self.score == 0 and self.t == 2:
                open(os.path.join(self.sync, "weaker-saving"), "w").close()
                wait_for(os.path.join(self.sync, "stronger-at-2"))
                time.sleep(5.0)  # PBT handles the stronger trial's result meanwhile
            with open(os.path.join(checkpoint_dir, "t"), "w") as f:
                f.write(str(self.t))

        def load_checkpoint(self, checkpoint_dir):
            with open(os.path.join(checkpoint_dir, "t")) as f:
                self.t = int(f.read())

    return tune.with_resources(SlowPause, {"cpu": 1})


@pytest.mark.parametrize("scheduler", ["ray", "fixed"])
def test_a_trial_exploited_while_saving_runs_to_its_stop_limit(scheduler, tmp_path, ray_guard):
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    from rl_bot.compat import PopulationBasedTrainingFixed

    pbt = {"ray": PopulationBasedTraining, "fixed": PopulationBasedTrainingFixed}[scheduler](
        time_attr="training_iteration",
        perturbation_interval=2,
        quantile_fraction=0.5,
        resample_probability=0.0,
        hyperparam_mutations={"lr": [0.1, 0.2]},
        synch=True,
    )
    ray.init(num_cpus=2, include_dashboard=False)
    results = tune.Tuner(
        _slow_pause_trainable(),
        param_space={"score": tune.grid_search([0, 1]), "lr": 0.1, "sync": str(tmp_path)},
        tune_config=tune.TuneConfig(metric="score", mode="max", scheduler=pbt, reuse_actors=False),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1), verbose=0
        ),
    ).fit()
    assert sorted(r.config["score"] for r in results) == [1, 1]  # the weaker trial copied the stronger one
    iterations = sorted(r.metrics["training_iteration"] for r in results)
    # Ray 2.60's own PBT ends the exploited trial after its next save (ray-project/ray#57906): the race is hit
    assert iterations == ([3, 4] if scheduler == "ray" else [4, 4])
