"""The shipped cluster configs parse, and the launcher config validates against the schema Ray ships."""

import json
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
