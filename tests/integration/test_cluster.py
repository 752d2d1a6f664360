"""Two Ray nodes on one machine (cluster/local_cluster.sh), a run submitted with the `ray job submit` CLI the way a
new user would (--working-dir), env runners placed on the worker node by a custom resource, and MLflow records and
artifacts in a real tracking server's stores."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from raycli import BIN, REPO, MlflowServer, free_port, job_folders, ray_env, submit
from tiny import tiny

from rl_bot.checkpoints import latest_checkpoint
from rl_bot.trainer import ENV_RUNNERS_FILE

pytestmark = pytest.mark.integration


@pytest.fixture
def two_nodes():
    # A short root: Ray's unix sockets live under each node's temp dir and their paths have a length limit.
    root = Path(tempfile.mkdtemp(prefix="rlb-", dir="/tmp"))
    gcs, dash = free_port(), free_port()
    env = ray_env() | {
        "RAY": str(BIN / "ray"),
        "HEAD_CPUS": "1",
        "WORKER_CPUS": "2",
        "GCS_PORT": str(gcs),
        "DASHBOARD_PORT": str(dash),
        "NODE_TEMP_ROOT": str(root),
    }
    script = REPO / "cluster" / "local_cluster.sh"
    try:
        started = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True, text=True, timeout=300)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"http://127.0.0.1:{dash}", env
    finally:
        subprocess.run(["bash", str(script), "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def test_two_node_job_places_env_runners_on_the_worker_and_records_to_the_mlflow_server(two_nodes, tmp_path):
    from mlflow.tracking import MlflowClient

    address, env = two_nodes
    server = MlflowServer(tmp_path)
    try:
        cfg = tiny(
            run={"name": "two-nodes"},
            resources={"num_env_runners": 2, "num_envs_per_env_runner": 2, "env_runner_resources": {"env_runner": 1}},
            tracking={"mlflow_uri": server.uri, "experiment": "cluster-test"},
            league={"enabled": True, "snapshot_every_n_iterations": 1, "eval_every_n_iterations": None},
            stop={"iterations": 2},
        )
        home, workdir, runtime_env = job_folders(tmp_path, "two.yaml", cfg)
        job = submit(address, workdir, runtime_env, ["--config", "two.yaml"], env)
        assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-3000:]
        assert "stopped: stop.iterations=2" in job.stdout

        (run_dir,) = (home / "runs").iterdir()
        assert latest_checkpoint(run_dir)[1].iteration == 2
        placement = json.loads((run_dir / ENV_RUNNERS_FILE).read_text())
        runners = placement["env_runners"]
        assert [r["worker_index"] for r in runners] == [1, 2]
        # the head offers no `env_runner` resource: both runners on the worker node, none beside the driver
        assert len({r["node_id"] for r in runners}) == 1
        assert runners[0]["node_id"] != placement["driver"]["node_id"]

        client = MlflowClient(tracking_uri=server.uri)
        run_id = (run_dir / "mlflow_run_id").read_text().strip()
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.params["resources.num_env_runners"] == "2"
        assert [m.value for m in client.get_metric_history(run_id, "perf/env_runner_nodes")] == [1.0, 1.0]
        logged = {a.path for a in client.list_artifacts(run_id, "cluster")}
        assert logged == {"cluster/env_runners.json"}
        assert "league/table.csv" in {a.path for a in client.list_artifacts(run_id, "league")}
        # the files are in the server's artifact store, not only in the run folder
        stored = {p.name for p in server.artifacts.rglob("*") if p.is_file()}
        assert {"env_runners.json", "table.csv", "config.yaml"} <= stored
        assert not (home / "mlruns").exists()
    finally:
        server.stop()
