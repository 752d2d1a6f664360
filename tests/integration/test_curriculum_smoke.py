"""The shipped curriculum_smoke.yaml through the CLI: MLflow shows stages 1 -> 2 -> 3, the switches, the stage
history artifact, and 2v2 play after the 2 -> 3 switch."""

from pathlib import Path

import pytest

from rl_bot.cli import main as cli

pytestmark = pytest.mark.integration

SMOKE = Path(__file__).parents[2] / "rl_bot" / "configs" / "curriculum_smoke.yaml"


def test_curriculum_smoke_walks_through_three_stages(project_home, ray_guard, capsys):
    from mlflow.tracking import MlflowClient

    assert cli(["train", "--config", str(SMOKE)]) == 0
    out = capsys.readouterr().out
    assert "curriculum: after iteration" in out and "1v1-vs-rule -> 2v2-self" in out
    (run_dir,) = (project_home / "runs").iterdir()
    client = MlflowClient(tracking_uri=f"sqlite:///{project_home}/mlruns/mlflow.db")
    run_id = (run_dir / "mlflow_run_id").read_text().strip()

    def history(key):
        return {m.step: m.value for m in client.get_metric_history(run_id, key)}

    stage = history("curriculum/stage")
    assert sorted(set(stage.values())) == [1, 2, 3]
    assert list(stage.values()) == sorted(stage.values())  # in order, no stage skipped or repeated
    assert max(history("curriculum/transitions").values()) == 2
    cars = {
        it: round(history("perf/agent_steps_per_s")[it] / v, 6) for it, v in history("perf/env_steps_per_s").items()
    }
    assert all(cars[it] == (4 if s == 3 else 2) for it, s in stage.items()), (stage, cars)
    assert {"env/reward/goal", "env/reward/shot"} <= set(client.get_run(run_id).data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run_id, "curriculum")}
    assert "curriculum/stages.csv" in artifacts
