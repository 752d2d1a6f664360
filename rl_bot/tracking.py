"""MLflow: one MLflow run per training run (resumed runs continue the same MLflow run); a sweep's trials are
runs nested under the sweep's run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rl_bot.config import TrainConfig, flatten, resolve_mlflow_uri
from rl_bot.diagnostics import DIAGNOSTICS

MLFLOW_RUN_ID_FILE = "mlflow_run_id"
PARENT_RUN_TAG = "mlflow.parentRunId"


def select_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The stable metric names we log, from an RLlib result dict of :class:`~rl_bot.trainer.RLBotPPO`."""
    out: dict[str, float] = {}
    runners = result.get("env_runners", {})
    for k, v in runners.items():
        if k.startswith("env/") and isinstance(v, int | float):
            out[k] = float(v)
    if "episode_return_mean" in runners:
        out["env/episode_return_mean"] = float(runners["episode_return_mean"])
    main = result.get("learners", {}).get("main", {})
    for src, dst in (
        ("policy_loss", "losses/policy_loss"),
        ("vf_loss", "losses/value_loss"),
        ("entropy", "losses/entropy"),
        ("total_loss", "losses/total_loss"),
        *((key, name) for key, (name, _) in DIAGNOSTICS.items()),
    ):
        if src in main:
            out[dst] = float(main[src])
    # what the training step's plugins add (rl_bot.trainer): league/…, curriculum/…, perf/league_…
    for k, v in result.items():
        if k.startswith(("league/", "curriculum/", "perf/")) and isinstance(v, int | float):
            out[k] = float(v)
    return {k: v for k, v in out.items() if math.isfinite(v)}


class MlflowTracker:
    """Thin wrapper: start or resume a run, log params once, metrics per iteration, artifacts."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        run_name: str,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ):
        """``parent_run_id``: nest this run under another (a sweep's trial under the sweep's run); ``tags``: set
        on the run, first start and resume alike; ``params``: logged once instead of the flattened config."""
        import mlflow

        self._mlflow = mlflow
        self.uri = resolve_mlflow_uri(cfg)
        if self.uri.startswith("sqlite:///"):
            Path(self.uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_experiment(cfg.tracking.experiment)
        id_file = run_dir / MLFLOW_RUN_ID_FILE
        if id_file.exists():
            self.run = mlflow.start_run(run_id=id_file.read_text().strip())
            self.resumed = True
        else:
            # mlflow.parentRunId is MLflow's documented system tag for nesting; it also nests under a parent run
            # that is not active in this process (a Tune trial runs in its own process).
            first = {PARENT_RUN_TAG: parent_run_id} if parent_run_id else None
            self.run = mlflow.start_run(run_name=run_name, tags=first)
            id_file.write_text(self.run.info.run_id)
            self.resumed = False
            flat = flatten(cfg.to_plain()) if params is None else params
            mlflow.log_params({k: str(v) for k, v in flat.items()})
        mlflow.set_tags({"run_dir": str(run_dir), "rl_bot.run_name": run_name, **(tags or {})})

    @property
    def run_id(self) -> str:
        """The MLflow run id."""
        return self.run.info.run_id

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Log one iteration's metrics."""
        self._mlflow.log_metrics(metrics, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Copy a file into the run's artifact store."""
        self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set run tags (e.g. the latest checkpoint path)."""
        self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def end(self, status: str = "FINISHED") -> None:
        """Close the run."""
        self._mlflow.end_run(status=status)
