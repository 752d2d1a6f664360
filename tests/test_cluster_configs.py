"""The shipped cluster configs parse, the launcher config validates against the schema Ray ships, and the local
cluster script stops only its own nodes."""

import json
import os
import time
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"


def test_every_cluster_yaml_parses():
    files = sorted(CLUSTER.rglob("*.yaml"))
    assert {f.name for f in files} >= {"aws.yaml", "runtime_env.yaml", "raycluster.yaml", "rayjob.yaml"}
    for f in files:
        assert isinstance(yaml.safe_load(f.read_text()), dict), f


def test_launcher_config_validates_against_rays_schema():
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    cfg = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    jsonschema.validate(cfg, schema)
    # the schema is strict enough to catch a typo
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**cfg, "head_node_typ": "head"}, schema)


def test_launcher_nodes_offer_the_resources_the_docs_ask_for():
    cfg = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    assert types["cpu-worker"]["resources"]["env_runner"] > 0
    assert types["gpu-learner"]["resources"]["GPU"] == 1
    # dashboards and job servers stay on loopback unless the user changes it
    assert all("--dashboard-host=127.0.0.1" in c for c in cfg["head_start_ray_commands"] if "ray start" in c)


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_kuberay_manifests_have_the_keys_kuberay_reads(name):
    doc = yaml.safe_load((CLUSTER / "kuberay" / name).read_text())
    assert doc["apiVersion"] == "ray.io/v1"
    spec = doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]
    assert spec["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    groups = spec["workerGroupSpecs"]
    assert groups and all(json.loads(json.loads(g["rayStartParams"]["resources"]))["env_runner"] > 0 for g in groups)
    if doc["kind"] == "RayJob":
        assert "python -m rl_bot.train" in doc["spec"]["entrypoint"]
        assert yaml.safe_load(doc["spec"]["runtimeEnvYAML"])["env_vars"]["RAY_AUTH_MODE"] == "disabled"


def test_local_cluster_stop_ends_its_own_nodes_and_their_children_and_nothing_else(tmp_path):
    import subprocess
    import sys

    import psutil

    spawn_child = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"
    )
    # stand-ins for a node's daemons: processes whose command line names a temp dir, one of them with a child (a worker)
    mine = subprocess.Popen([sys.executable, "-c", spawn_child, f"--temp-dir={tmp_path}/mine/head"])
    other = subprocess.Popen([sys.executable, "-c", spawn_child, f"--temp-dir={tmp_path}/other/head"])
    try:
        deadline = time.monotonic() + 30
        while not (psutil.Process(mine.pid).children() and psutil.Process(other.pid).children()):
            assert time.monotonic() < deadline, "the stand-ins did not start their children"
            time.sleep(0.1)
        my_child = psutil.Process(mine.pid).children()[0]
        env = dict(os.environ, NODE_TEMP_ROOT=str(tmp_path / "mine"))
        done = subprocess.run(["bash", str(CLUSTER / "local_cluster.sh"), "stop"], env=env, timeout=60)
        assert done.returncode == 0
        assert mine.wait(timeout=10) is not None
        assert not my_child.is_running() or my_child.status() == psutil.STATUS_ZOMBIE
        assert other.poll() is None and psutil.Process(other.pid).children()  # another cluster keeps running
    finally:
        for p in (mine, other):
            for c in psutil.Process(p.pid).children(recursive=True) if p.poll() is None else []:
                c.kill()
            p.kill()
