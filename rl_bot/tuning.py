"""``rl-bot tune``: a Ray Tune sweep over the Algorithm ``rl-bot train`` runs.

Each trial is a :class:`SweepTrial`: a Tune ``Trainable`` around :class:`~rl_bot.trainer.RLBotPPO` (league,
curriculum and periodic evaluation inside ``train()``), built from the sweep's base config with the trial's sampled
values, validated by the same models as ``rl-bot train``. Every trial is an MLflow run nested under the sweep's
run and has a run folder (``SWEEP/trials/<trial id>/``: config, league files, clips) like a training run.

A trial checkpoint is a whole run state: RLlib's, the league's (with the weights of every snapshot in the pool)
and the curriculum's. A PBT exploit loads another trial's checkpoint, so the exploiting trial continues with the
source's weights, pool, ratings and stage; its own league files are kept aside (``league.before-exploit-<n>``).

Layout: ``<output_dir>/sweeps/<name>__<time>/`` with ``sweep.yaml`` and ``base_config.yaml`` (what ``--resume``
reads back), ``tune/`` (Ray Tune's experiment: trial results and checkpoints), ``trials/`` and ``results/`` (the
comparison: ``trials.csv``, ``curves.png``, ``best.json``, ``best.yaml``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rl_bot.checkpoints import LEAGUE_STATE_FILE, CheckpointState, read_state, write_state
from rl_bot.config import CONFIG_FILE, ConfigError, read_yaml, save_config
from rl_bot.sweep import BASE_FILE, SWEEP_FILE, Domain, Sweep, SweepConfig, build_sweep, load_sweep, plain
from rl_bot.train import (
    EXIT_BAD_INPUT,
    check_address,
    check_tracking_server,
    finish_evaluations,
    init_ray,
    iteration_row,
    local_gpus,
    log_checkpoint,
    save_run_config,
    should_stop,
)

TUNE_DIR = "tune"
TRIALS_DIR = "trials"
RESULTS_DIR = "results"
#: Written into every trial checkpoint: which run it belongs to (a PBT exploit loads another trial's).
TRIAL_FILE = "rl_bot_trial.json"
#: The weights of the snapshots in the checkpoint's pool, so another trial can load the pool.
CKPT_SNAPSHOTS = "league_snapshots"
EXPLOITS_CSV = "exploits.csv"
SWEEP_TAG = "rl_bot.sweep"
#: In every trial result: 1 once the trial reached its own stop limit.
FINISHED_KEY = "sweep/finished"


# ------------------------------------------------------------------------------------------------ the trial


def _numeric(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _sweep_of(spec: dict[str, Any]) -> Sweep:
    return Sweep(SweepConfig.model_validate(spec["spec"]), spec["base"], spec["source"])


class _Trial:
    """What one trial holds while it runs (kept apart from Tune's ``Trainable`` so it reads top to bottom)."""

    def __init__(self, spec: dict[str, Any], sampled: dict[str, Any], trial_id: str):
        from rl_bot.tracking import MlflowTracker
        from rl_bot.trainer import algorithm_config

        self.sweep = _sweep_of(spec)
        self.sampled = {k: plain(v) for k, v in sampled.items()}
        self.cfg = self.sweep.trial_config(self.sampled)
        self.run_dir = Path(spec["folder"]) / TRIALS_DIR / trial_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_name = f"{self.sweep.spec.name}__{trial_id}"
        if not (self.run_dir / CONFIG_FILE).exists():
            save_config(self.cfg, self.run_dir / CONFIG_FILE)
        self.algo = algorithm_config(self.cfg, self.run_dir, self.run_name).build_algo()
        self.tracker = None
        if self.cfg.tracking.enabled:
            self.tracker = MlflowTracker(
                self.cfg,
                self.run_dir,
                self.run_name,
                parent_run_id=spec.get("parent_run_id"),
                tags={SWEEP_TAG: self.sweep.spec.name, "rl_bot.trial_id": trial_id},
            )
            self.tracker.set_tags({f"sampled.{k}": v for k, v in self.sampled.items()})
        self.base = CheckpointState(0, 0, 0, 0.0)
        self.start = time.perf_counter()
        self.env_steps = self.agent_steps = 0
        self.reported: dict[str, float] = {}
        self.finished = False

    def elapsed(self) -> float:
        return self.base.wall_time_s + time.perf_counter() - self.start

    def step(self) -> dict[str, Any]:
        result = self.algo.train()
        self.env_steps = int(result["perf/env_steps_total"])
        self.agent_steps = int(result["perf/agent_steps_total"])
        elapsed = self.elapsed()
        row = iteration_row(result, elapsed)
        iteration = int(row.pop("iteration"))
        row.update({f"sweep/{k}": v for k, v in _numeric(self.sampled).items()})
        if self.tracker is not None:
            self.tracker.log_metrics(row, step=iteration)
        # Metrics measured only some iterations (the periodic evaluation) keep their last value in what Tune
        # sees, so schedulers always find the sweep's metric once it was measured.
        self.reported.update(row)
        self.finished = should_stop(self.cfg, iteration, self.env_steps, elapsed) is not None
        # Tune also sets "done" on a trial a scheduler stops: FINISHED_KEY tells the two apart.
        return {**self.reported, FINISHED_KEY: float(self.finished), "done": self.finished}

    def save(self, folder: Path) -> None:
        self.algo.save_to_path(str(folder))
        state = CheckpointState(self.algo.iteration, self.env_steps, self.agent_steps, self.elapsed())
        write_state(folder, state)
        save_config(self.cfg, folder / CONFIG_FILE)
        (folder / TRIAL_FILE).write_text(json.dumps({"run_dir": str(self.run_dir), "sampled": self.sampled}))
        if self.algo.league is not None:
            from rl_bot.league.files import snapshot_file

            (folder / CKPT_SNAPSHOTS).mkdir()
            for member in _pooled_snapshots(folder):
                shutil.copy2(snapshot_file(self.run_dir, member), folder / CKPT_SNAPSHOTS)
        log_checkpoint(self.tracker, self.algo, self.run_dir, folder, state)

    def load(self, folder: Path) -> None:
        source = Path(json.loads((folder / TRIAL_FILE).read_text())["run_dir"])
        exploited = source != self.run_dir
        snapshots = self._take_snapshots(folder, exploited) if self.algo.league is not None else []
        self.algo.restore_from_path(str(folder))
        self.base = read_state(folder)
        # A PBT exploit continues with mutated values: the config the trial ran before is kept beside.
        save_run_config(self.cfg, self.run_dir / CONFIG_FILE, self.algo.iteration)
        self.env_steps, self.agent_steps = self.base.env_steps, self.base.agent_steps
        self.start = time.perf_counter()
        if exploited:
            self._record_exploit(source, folder, snapshots)

    def _take_snapshots(self, folder: Path, exploited: bool) -> list[str]:
        """Put the weights of the checkpoint's pool where the league actor reads them; returns the snapshot ids.
        Only the members its league state names are copied: Tune may write a later checkpoint of the source into
        the same folder, which then also holds files of an earlier pool."""
        from rl_bot.league.files import LEAGUE_DIR, snapshot_file

        league_dir = self.run_dir / LEAGUE_DIR
        if exploited:
            # The pool, ratings and games now continue the source trial's; this trial's own record stays readable.
            n = 1 + sum(1 for _ in self.run_dir.glob(f"{LEAGUE_DIR}.before-exploit-*"))
            league_dir.rename(league_dir.with_name(f"{LEAGUE_DIR}.before-exploit-{n}"))
        target = snapshot_file(self.run_dir, "x").parent
        target.mkdir(parents=True, exist_ok=True)
        ids = _pooled_snapshots(folder)
        for member in ids:
            dest = snapshot_file(self.run_dir, member)
            if exploited or not dest.exists():
                shutil.copy2(folder / CKPT_SNAPSHOTS / dest.name, dest)
        return ids

    def _record_exploit(self, source: Path, folder: Path, snapshots: list[str]) -> None:
        path = self.run_dir / TUNE_DIR / EXPLOITS_CSV
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["iteration", "source_trial", "checkpoint", "snapshots", "config"])
            w.writerow([self.algo.iteration, source.name, str(folder), " ".join(snapshots), json.dumps(self.sampled)])
        if self.tracker is not None:
            self.tracker.set_tags({"rl_bot.exploited_from": f"{source.name} at iteration {self.algo.iteration}"})
            self.tracker.log_artifact(path, artifact_path=TUNE_DIR)

    def close(self) -> None:
        status = "FINISHED" if self.finished else "KILLED"
        try:
            finish_evaluations(self.tracker, self.algo, self.algo.iteration)
        finally:
            self.algo.stop()
            if self.tracker is not None:
                self.tracker.end(status)


def _pooled_snapshots(checkpoint: Path) -> list[str]:
    """Ids of the snapshots in the pool of a checkpoint's league state."""
    league = json.loads((checkpoint / LEAGUE_STATE_FILE).read_text())
    return sorted(m["id"] for m in league["members"] if m["kind"] == "snapshot")


def _trainable() -> Any:
    from ray import tune

    class SweepTrial(tune.Trainable):
        """One trial of a sweep (module docstring); ``spec`` comes through ``tune.with_parameters``."""

        def setup(self, config: dict[str, Any], spec: dict[str, Any] | None = None) -> None:
            self.trial = _Trial(spec or {}, config, self.trial_id)

        def step(self) -> dict[str, Any]:
            return self.trial.step()

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            self.trial.save(Path(checkpoint_dir))

        def load_checkpoint(self, checkpoint: str) -> None:
            self.trial.load(Path(checkpoint))

        def cleanup(self) -> None:
            self.trial.close()

    return SweepTrial


def _trial_resources(spec: dict[str, Any]) -> Any:
    def resources(config: dict[str, Any]) -> Any:
        from rl_bot.trainer import RLBotPPO, algorithm_config

        cfg = _sweep_of(spec).trial_config(config)
        return RLBotPPO.default_resource_request(algorithm_config(cfg, Path(spec["folder"]), "resources"))

    return resources


def trial_resource_problems(cfg: Any, available: dict[str, float], where: str) -> list[str]:
    """What one trial of ``cfg`` reserves (RLlib's request for the Algorithm: 1 CPU for the trial's driver plus
    its env runners' and learners') that ``available`` cannot give."""
    from rl_bot.trainer import RLBotPPO, algorithm_config

    need = RLBotPPO.default_resource_request(algorithm_config(cfg, Path("."), "resources")).required_resources
    r = cfg.resources
    return [
        f"each trial reserves {name}={amount:g} (its driver and learner, {r.num_env_runners} env runner(s), "
        f"{r.num_learners} learner actor(s)) but {where} has {available.get(name, 0):g}; lower the sweep's "
        "resources (num_env_runners, num_gpus_per_learner, ...) or add nodes"
        for name, amount in sorted(need.items())
        if amount > available.get(name, 0)
    ]


def trainable(spec: dict[str, Any]) -> Any:
    """The Tune trainable of a sweep: :class:`SweepTrial` with the sweep passed in and its resources per trial
    (1 CPU for the trial's driver and learner, plus its env runners')."""
    from ray import tune

    return tune.with_resources(tune.with_parameters(_trainable(), spec=spec), _trial_resources(spec))


# ------------------------------------------------------------------------------------------------ Tune objects


def tune_domain(d: Domain) -> Any:
    """A search-space entry as Ray Tune's sampling object."""
    from ray import tune

    a = d.args
    return {
        "loguniform": lambda: tune.loguniform(a[0], a[1]),
        "uniform": lambda: tune.uniform(a[0], a[1]),
        "randint": lambda: tune.randint(a[0], a[1]),
        "choice": lambda: tune.choice(list(a)),
        "grid": lambda: tune.grid_search(list(a)),
    }[d.kind]()


def clamp_to_domains(config: dict[str, Any], domains: dict[str, Domain]) -> dict[str, Any]:
    """PBT's explore step scales values by 0.8 or 1.2: keep them inside each mutation's range (so a perturbed
    value is still valid for its field)."""
    out = dict(config)
    for key, d in domains.items():
        if key not in out or d.kind not in ("loguniform", "uniform", "randint"):
            continue
        low, high = d.args
        if d.kind == "randint":
            out[key] = int(min(max(round(out[key]), low), high - 1))
        else:
            out[key] = float(min(max(out[key], low), high))
    return out


class _Clamp:
    """Picklable explore function for PBT (Tune stores the scheduler with the experiment)."""

    def __init__(self, domains: dict[str, dict[str, Any]]):
        self.domains = domains

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        return clamp_to_domains(config, {k: Domain.model_validate(v) for k, v in self.domains.items()})


def search_and_scheduler(sweep: Sweep) -> tuple[Any, Any]:
    """Tune's search algorithm and scheduler for the sweep's settings."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    from rl_bot.compat import PopulationBasedTrainingFixed

    s, sch = sweep.spec.search, sweep.spec.scheduler
    if s.algorithm == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        search: Any = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=s.seed))
        if s.max_concurrent_trials:
            search = ConcurrencyLimiter(search, max_concurrent=s.max_concurrent_trials)
    else:
        search = BasicVariantGenerator(random_state=s.seed, max_concurrent=s.max_concurrent_trials or 0)
    if sch.type == "asha":
        max_t = sch.max_t or sweep.base_config.stop.iterations
        scheduler: Any = ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_t,
            grace_period=sch.grace_period,
            reduction_factor=sch.reduction_factor,
        )
    elif sch.type == "pbt":
        scheduler = PopulationBasedTrainingFixed(
            time_attr="training_iteration",
            perturbation_interval=sch.perturbation_interval,
            burn_in_period=sch.burn_in_period,
            hyperparam_mutations={k: tune_domain(d) for k, d in sch.mutations.items()},
            quantile_fraction=sch.quantile_fraction,
            resample_probability=sch.resample_probability,
            custom_explore_fn=_Clamp({k: d.model_dump(exclude_none=True) for k, d in sch.mutations.items()}),
            synch=sch.synch,
            # The sweep's metric may be measured only some iterations (the periodic evaluation): trials go on
            # until it first is.
            require_attrs=False,
        )
    else:
        scheduler = FIFOScheduler()
    return search, scheduler


def _trial_dirname(trial: Any) -> str:
    return trial.trial_id


# ------------------------------------------------------------------------------------------------ the sweep


@dataclass
class SweepPlan:
    """Everything decided before Ray starts."""

    sweep: Sweep
    folder: Path
    address: str | None
    resume: bool


def add_tune_args(p: argparse.ArgumentParser) -> None:
    """``rl-bot tune`` arguments."""
    p.add_argument("--config", help="sweep definition (tune_configs/*.yaml)")
    p.add_argument("--resume", metavar="SWEEP_DIR", help="continue a stopped sweep from its folder")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else local Ray)")


def plan_sweep(args: argparse.Namespace) -> SweepPlan:
    """Validate the sweep and decide its folder; raises :class:`ConfigError`. Starts nothing."""
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if bool(args.config) == bool(args.resume):
        raise ConfigError(["give --config tune_configs/<name>.yaml, or --resume SWEEP_DIR (not both)"], "rl-bot tune")
    if args.resume:
        folder = Path(args.resume).expanduser().resolve()
        if not (folder / SWEEP_FILE).is_file() or not (folder / TUNE_DIR).is_dir():
            raise ConfigError(
                [f"{str(folder)!r} is not a sweep folder (no {SWEEP_FILE} and {TUNE_DIR}/); pass runs/sweeps/<sweep>"],
                "--resume",
            )
        raw = read_yaml(folder / SWEEP_FILE)
        raw["base"] = read_yaml(folder / BASE_FILE)
        sweep = build_sweep(raw, folder / SWEEP_FILE)
    else:
        sweep = load_sweep(args.config)
        folder = sweep.output_root() / sweep.folder_name()
    cfg = sweep.base_config
    check_address(address)
    check_tracking_server(cfg)
    if not address:
        # One trial must fit on this machine (more run side by side when they fit).
        problems = trial_resource_problems(cfg, {"CPU": os.cpu_count() or 1, "GPU": local_gpus()}, "this machine")
        if problems:
            raise ConfigError(problems, "resources (per trial)")
    return SweepPlan(sweep, folder, address, bool(args.resume))


def _parent_tracker(p: SweepPlan) -> Any:
    from rl_bot.config import flatten
    from rl_bot.tracking import MlflowTracker

    spec = p.sweep.spec.model_dump(mode="json", exclude={"base"}, exclude_none=True)
    return MlflowTracker(
        p.sweep.base_config,
        p.folder,
        p.folder.name,
        tags={SWEEP_TAG: p.sweep.spec.name, "rl_bot.sweep_dir": str(p.folder)},
        params={f"sweep.{k}": v for k, v in flatten(spec).items()},
    )


def run_sweep(p: SweepPlan, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) the sweep; write and log the comparison; returns the best trial's summary."""
    import ray
    from ray import tune

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    sweep, cfg = p.sweep, p.sweep.base_config
    if sweep.spec.periodic_metric:
        # Tune refuses a result without the sweep's metric; a periodic one is missing until first measured (the
        # schedulers and Optuna wait for it; plan_sweep checked that trials measure it).
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    we_started = not ray.is_initialized()
    if we_started:
        init_ray(p.address, cfg.run.log_level)
    # A trial the cluster cannot place would stay pending forever: say so before anything is written.
    problems = trial_resource_problems(cfg, ray.cluster_resources(), "the Ray cluster")
    if problems:
        if we_started:
            ray.shutdown()
        raise ConfigError(problems, "resources (per trial)")
    p.folder.mkdir(parents=True, exist_ok=True)
    if not p.resume:
        (p.folder / SWEEP_FILE).write_text(
            yaml.safe_dump(sweep.spec.model_dump(mode="json", exclude={"base"}, exclude_none=True), sort_keys=False)
        )
        (p.folder / BASE_FILE).write_text(yaml.safe_dump(sweep.base, sort_keys=False))
    parent = _parent_tracker(p) if cfg.tracking.enabled else None
    status = "FAILED"
    try:
        say(f"sweep folder: {p.folder}")
        if parent is not None:
            parent.log_artifact(p.folder / SWEEP_FILE)
            say(f"MLflow: parent run {parent.run_id} in experiment {cfg.tracking.experiment!r} at {parent.uri}")
        spec = {
            "spec": sweep.spec.model_dump(mode="json", exclude_none=True),
            "base": sweep.base,
            "source": sweep.source,
            "folder": str(p.folder),
            "parent_run_id": parent.run_id if parent is not None else None,
        }
        if p.resume:
            tuner = tune.Tuner.restore(
                str(p.folder / TUNE_DIR), trainable(spec), resume_unfinished=True, resume_errored=True
            )
        else:
            search, scheduler = search_and_scheduler(sweep)
            tuner = tune.Tuner(
                trainable(spec),
                param_space={k: tune_domain(d) for k, d in sweep.spec.space.items()},
                tune_config=tune.TuneConfig(
                    metric=sweep.spec.metric,
                    mode=sweep.spec.mode,
                    search_alg=search,
                    scheduler=scheduler,
                    num_samples=sweep.spec.search.num_samples,
                    reuse_actors=False,
                    trial_dirname_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=TUNE_DIR,
                    storage_path=str(p.folder),
                    checkpoint_config=tune.CheckpointConfig(
                        checkpoint_frequency=cfg.checkpoint.every_n_iterations, checkpoint_at_end=True
                    ),
                    failure_config=tune.FailureConfig(max_failures=0),
                    verbose=0 if quiet else 1,
                ),
            )
        say(f"{sweep.num_trials()} trial(s), metric {sweep.spec.metric} ({sweep.spec.mode})")
        results = tuner.fit()
        unfinished = unfinished_trials(p.folder, sweep.num_trials())
        best = compare(sweep, p.folder, results, complete=unfinished == 0)
        best["unfinished_trials"] = unfinished
        if parent is not None:
            for f in sorted((p.folder / RESULTS_DIR).iterdir()):
                parent.log_artifact(f, artifact_path=RESULTS_DIR)
            if best.get("value") is not None:
                parent.log_metrics({f"best/{sweep.spec.metric}": best["value"]}, step=0)
            parent.set_tags({"best_trial": best.get("trial_id")})
        say(summary_text(sweep, best, p.folder))
        if unfinished:
            say(f"stopped with {unfinished} trial(s) not finished; continue with: rl-bot tune --resume {p.folder}")
        status = "KILLED" if unfinished else "FINISHED"
        return best
    finally:
        if parent is not None:
            parent.end(status)
        if we_started:
            ray.shutdown()


def unfinished_trials(folder: Path, expected: int) -> int:
    """Trials of the sweep that have not ended, by the experiment state Tune saved (after Ctrl-C, Tune returns
    normally and the trials it stopped are saved as pending, to be continued by ``--resume``)."""
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(str(folder / TUNE_DIR)).trials
    ended = sum(1 for t in trials if t.status in ("TERMINATED", "ERROR"))
    return max(expected, len(trials)) - ended


# ------------------------------------------------------------------------------------------------ comparison


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _status(r: Any, complete: bool) -> str:
    if r.error:
        return "error"
    if (r.metrics or {}).get(FINISHED_KEY) == 1:
        return "finished"
    return "stopped early" if complete else "not finished"


def _metric_column(df: Any, metric: str) -> Any:
    return df[metric] if df is not None and metric in df.columns else None


def compare(sweep: Sweep, folder: Path, results: Any, complete: bool = True) -> dict[str, Any]:
    """``results/trials.csv`` (one row per trial), ``results/curves.png`` (the metric per iteration of every
    trial), ``best.json`` and ``best.yaml`` (the best trial's whole config); returns what ``best.json`` holds.
    ``complete``: every trial ended (else a trial without an error is "not finished", not "stopped early")."""
    metric, mode = sweep.spec.metric, sweep.spec.mode
    out = folder / RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    keys = list(sweep.spec.space)
    rows, curves = [], {}
    for r in results:
        trial_id = Path(r.path).name
        df = r.metrics_dataframe
        col = _metric_column(df, metric)
        values = [float(v) for v in col if v == v] if col is not None else []
        last = values[-1] if values else None
        top = (max(values) if mode == "max" else min(values)) if values else None
        if col is not None:
            label = ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(r.config.get(k))}" for k in keys)
            curves[f"{trial_id}: {label}"] = (list(df["training_iteration"]), list(col))
        rows.append(
            {
                "trial_id": trial_id,
                "status": _status(r, complete),
                **{k: r.config.get(k) for k in keys},
                "iterations": int(r.metrics.get("training_iteration", 0)) if r.metrics else 0,
                f"last {metric}": last,
                f"best {metric}": top,
                "checkpoint": r.checkpoint.path if r.checkpoint else "",
                "error": str(r.error).splitlines()[0] if r.error else "",
            }
        )
    sign = 1 if mode == "max" else -1
    rated = [row for row in rows if row[f"last {metric}"] is not None]
    rated.sort(key=lambda row: sign * row[f"last {metric}"], reverse=True)
    with (out / "trials.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["trial_id"])
        w.writeheader()
        w.writerows(rated + [row for row in rows if row not in rated])
    plot_curves(curves, metric, out / "curves.png", title=sweep.spec.name)
    best: dict[str, Any] = {"metric": metric, "mode": mode, "ranked_by": "last value", "trial_id": None}
    if rated:
        top = rated[0]
        run_dir = folder / TRIALS_DIR / top["trial_id"]
        best.update(
            trial_id=top["trial_id"],
            value=top[f"last {metric}"],
            sampled={k: top[k] for k in keys},
            run_dir=str(run_dir),
            checkpoint=top["checkpoint"],
        )
        if (run_dir / CONFIG_FILE).is_file():
            shutil.copy2(run_dir / CONFIG_FILE, out / "best.yaml")
    (out / "best.json").write_text(json.dumps(best, indent=2))
    return best


def plot_curves(curves: dict[str, tuple[list[Any], list[Any]]], metric: str, path: Path, title: str) -> None:
    """One line per trial: the metric against the training iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for trial_id, (its, values) in sorted(curves.items()):
        pts = [(i, v) for i, v in zip(its, values, strict=True) if v is not None and not math.isnan(v)]
        if pts:
            ax.plot([i for i, _ in pts], [v for _, v in pts], marker="o", ms=3, label=trial_id)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(metric)
    ax.set_title(f"sweep {title}: {metric} per trial")
    if curves:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_text(sweep: Sweep, best: dict[str, Any], folder: Path) -> str:
    """What the CLI prints at the end of a sweep."""
    if best.get("trial_id") is None:
        return f"no trial reported {sweep.spec.metric}; see {folder / RESULTS_DIR / 'trials.csv'}"
    lines = [
        f"best trial {best['trial_id']}: {sweep.spec.metric} = {best['value']:.4g} (last value, {sweep.spec.mode})",
        f"  sampled: {json.dumps(best['sampled'])}",
        f"  config: {folder / RESULTS_DIR / 'best.yaml'}  (train it longer: rl-bot train --config that file)",
        f"  comparison: {folder / RESULTS_DIR / 'trials.csv'}, {folder / RESULTS_DIR / 'curves.png'}",
    ]
    if best.get("checkpoint"):
        lines.append(f"  checkpoint: {best['checkpoint']}  (rl-bot eval --checkpoint that folder)")
    return "\n".join(lines)


def tune_command(args: argparse.Namespace) -> int:
    """``rl-bot tune``: plan (exit 2 on bad input), then run the sweep."""
    try:
        p = plan_sweep(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        best = run_sweep(p)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"interrupted; continue with: rl-bot tune --resume {p.folder}", file=sys.stderr)
        return 130
    # Ray Tune catches Ctrl-C itself and returns what it has, with the state saved for --resume.
    return 130 if best["unfinished_trials"] else 0
