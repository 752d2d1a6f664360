"""Sweep definitions (pure: no Ray): ``tune_configs/*.yaml`` → a validated :class:`SweepConfig` and the trial
configs it can produce.

A sweep is a base training config plus a search space over config fields by their dotted names. Everything a
user can get wrong is found here, before Ray starts: a key that names no config field, a bound or choice outside
its field's limits (each is validated by the same models ``rl-bot train`` uses, on top of the base), a scheduler
that needs what the sweep does not give it. ``rl_bot.tuning`` turns the result into a Ray Tune ``Tuner``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rl_bot.config import (
    ConfigError,
    StopConfig,
    TrainConfig,
    config_field_problem,
    default_config_path,
    format_error,
    read_yaml,
    resolve_mlflow_uri,
    resolve_output_dir,
    set_dotted,
    validate_config,
)

#: The resolved sweep definition and base config a sweep folder keeps (``rl-bot tune --resume`` reads them back).
SWEEP_FILE = "sweep.yaml"
BASE_FILE = "base_config.yaml"
#: Metric families a trial reports (``rl_bot.tracking.select_metrics`` plus the sweep's own ``sweep/…``).
METRIC_PREFIXES = ("env/", "losses/", "perf/", "league/", "curriculum/")
#: Metrics measured only every few iterations (the periodic evaluation, in the background): trials report them once
#: measured and keep the last value after.
PERIODIC_METRIC_PREFIX = "league/eval_"
#: Fields a search space may not set: where outputs go and how they are tracked belong to the sweep.
NOT_SEARCHABLE = ("run.output_dir", "run.name", "tracking.enabled", "tracking.mlflow_uri", "tracking.experiment")
#: Sections and fields PBT may not mutate: they change the RLModules or the run a checkpoint belongs to, so a
#: trial could not load another's checkpoint with the new value.
NOT_MUTABLE = (
    "model.",
    "run.",
    "tracking.",
    "stop.",
    "checkpoint.",
    "resources.",
    "curriculum.",
    "learner.",
    "league.enabled",
    "league.max_pool_size",
    "league.opponents",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Domain(_Model):
    """One search-space entry: exactly one of the forms below (Ray Tune's sampling functions)."""

    loguniform: tuple[float, float] | None = Field(None, description="[low, high], sampled uniformly in log space.")
    uniform: tuple[float, float] | None = Field(None, description="[low, high], sampled uniformly.")
    randint: tuple[int, int] | None = Field(None, description="[low, high): an integer, high excluded (as in Tune).")
    choice: list[Any] | None = Field(None, description="One of these values, drawn per trial.")
    grid: list[Any] | None = Field(None, description="Every one of these values (a grid axis: trials multiply).")

    @model_validator(mode="after")
    def _one(self) -> Domain:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(type(self).model_fields)} (got {given or 'none'}), "
                "e.g. {loguniform: [1.0e-5, 1.0e-3]}"
            )
        kind = given[0]
        value = getattr(self, kind)
        if kind in ("choice", "grid") and not value:
            raise ValueError(f"{kind} needs at least one value")
        if kind in ("loguniform", "uniform", "randint") and not value[0] < value[1]:
            raise ValueError(f"{kind}: low must be < high (got {list(value)})")
        if kind == "loguniform" and value[0] <= 0:
            raise ValueError(f"loguniform: low must be > 0 (got {value[0]})")
        return self

    @property
    def kind(self) -> str:
        """Which form this entry uses."""
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    @property
    def args(self) -> Any:
        """The entry's bounds or values."""
        return getattr(self, self.kind)

    def edge_values(self) -> list[Any]:
        """The values whose validity stands for every sample: the bounds of a range, each listed value."""
        if self.kind == "randint":
            return [self.args[0], self.args[1] - 1]
        return list(self.args)


class SearchConfig(_Model):
    """How trials are drawn."""

    algorithm: Literal["random", "grid", "optuna"] = Field(
        "random",
        description="random: independent draws (grid entries crossed, as in Tune); grid: every combination of "
        "grid entries; optuna: Optuna's TPE sampler, which learns from finished trials.",
    )
    num_samples: int = Field(
        1, ge=1, description="Trials drawn (random/optuna); with grid entries each sample repeats the whole grid."
    )
    max_concurrent_trials: int | None = Field(
        None, ge=1, description="Trials running at once (null: as many as the cluster's CPUs allow)."
    )
    seed: int | None = Field(0, ge=0, description="Seed of the sampler (null: a fresh draw each sweep).")


class SchedulerConfig(_Model):
    """Which trials go on: all (fifo), the promising ones (asha) or the population evolves (pbt)."""

    type: Literal["fifo", "asha", "pbt"] = Field("fifo", description="fifo: every trial runs to its stop.")
    grace_period: int = Field(1, ge=1, description="asha: iterations every trial runs before it can be stopped.")
    reduction_factor: float = Field(2.0, gt=1, description="asha: keep 1/reduction_factor of trials per rung.")
    max_t: int | None = Field(
        None, ge=1, description="asha: iterations at the last rung (null: the trials' stop.iterations)."
    )
    perturbation_interval: int = Field(
        2, ge=1, description="pbt: iterations between exploit/explore steps (each checkpoints the top trials)."
    )
    burn_in_period: int = Field(0, ge=0, description="pbt: iterations before the first exploit.")
    quantile_fraction: float = Field(
        0.25, gt=0, le=0.5, description="pbt: the bottom fraction copies the weights and run state of the top one."
    )
    resample_probability: float = Field(
        0.25, ge=0, le=1, description="pbt: chance a mutated value is drawn afresh instead of scaled by 0.8/1.2."
    )
    mutations: dict[str, Domain] = Field(
        default_factory=dict,
        description="pbt: fields (dotted names) an exploit may change, each with its distribution; a field in "
        "the search space too starts from its sampled value.",
    )
    synch: bool = Field(False, description="pbt: wait for every trial to reach the interval before exploiting.")


class SweepConfig(_Model):
    """A sweep: ``rl-bot tune --config tune_configs/<name>.yaml`` (every field in docs/tuning.md)."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Sweep name (MLflow, folders).")
    base: str | dict[str, Any] | None = Field(
        None,
        description="The training config trials start from: a YAML path (relative to this file) or an inline "
        "mapping (null: the embedded quickstart config).",
    )
    set: dict[str, Any] = Field(
        default_factory=dict, description="Fixed overrides on the base, by dotted name (like train --set)."
    )
    resources: dict[str, Any] = Field(
        default_factory=dict,
        description="Per-trial resources: fields of the config's resources section (num_env_runners, "
        "num_envs_per_env_runner, ...); Ray reserves 1 CPU for the trial's driver plus its env runners' CPUs.",
    )
    stop: StopConfig | None = Field(None, description="Every trial's stop limits (null: the base config's).")
    space: dict[str, Domain] = Field(..., min_length=1, description="Search space: dotted config field -> domain.")
    search: SearchConfig = Field(default_factory=SearchConfig, description="How trials are drawn.")
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig, description="Early stopping or PBT.")
    metric: str = Field(..., description="The metric trials are ranked by, e.g. env/episode_return_mean.")
    mode: Literal["max", "min"] = Field("max", description="Whether a larger or smaller metric is better.")

    @field_validator("metric")
    @classmethod
    def _family(cls, v: str) -> str:
        if not v.startswith(METRIC_PREFIXES):
            raise ValueError(
                f"{v!r} is not a metric trials report: use one of the families {', '.join(METRIC_PREFIXES)} "
                "(names in docs/config.md and the README), e.g. env/episode_return_mean"
            )
        return v

    @property
    def periodic_metric(self) -> bool:
        """The metric comes from the periodic evaluation (missing from a trial's first iterations)."""
        return self.metric.startswith(PERIODIC_METRIC_PREFIX)

    @model_validator(mode="after")
    def _combinations(self) -> SweepConfig:
        kinds = {k: d.kind for k, d in self.space.items()}
        problems = []
        algo = self.search.algorithm
        if algo == "grid" and any(k != "grid" for k in kinds.values()):
            bad = sorted(k for k, kind in kinds.items() if kind != "grid")
            problems.append(f"search.algorithm=grid needs grid entries only; {bad} are not (use random search)")
        if algo == "optuna" and "grid" in kinds.values():
            bad = sorted(k for k, kind in kinds.items() if kind == "grid")
            problems.append(f"search.algorithm=optuna cannot take grid entries {bad}: use choice instead")
        if algo == "optuna" and self.periodic_metric:
            problems.append(
                f"search.algorithm=optuna needs the metric every iteration and {self.metric} is measured only "
                "every league.eval_every_n_iterations: rank by an every-iteration metric (league/elo_main, env/...) "
                "or use random search"
            )
        sch = self.scheduler
        if sch.type == "pbt" and not sch.mutations:
            problems.append("scheduler.type=pbt needs scheduler.mutations (the fields an exploit may change)")
        if sch.type == "pbt" and algo == "optuna":
            problems.append("scheduler.type=pbt draws its own values: use search.algorithm random or grid")
        if sch.type != "pbt" and sch.mutations:
            problems.append(f"scheduler.mutations is only used with scheduler.type=pbt (got type={sch.type!r})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the definition, the base config every trial starts from (as plain data, with the
    sweep's ``set``, ``resources`` and ``stop`` applied) and where the definition came from."""

    spec: SweepConfig
    base: dict[str, Any]
    source: str

    def trial_config(self, sampled: Mapping[str, Any]) -> TrainConfig:
        """The training config of one trial: the base with the sampled values set (:class:`ConfigError` if the
        combination is invalid)."""
        data = json.loads(json.dumps(self.base))
        for key, value in sampled.items():
            set_dotted(data, key.split("."), plain(value))
        return validate_config(data, f"{self.source} (trial {dict(sampled)})")

    @property
    def base_config(self) -> TrainConfig:
        """The base config, validated."""
        return validate_config(self.base, self.source)

    def grid_size(self) -> int:
        """Trials per sample from the grid entries (1 without any)."""
        return math.prod(len(d.args) for d in self.spec.space.values() if d.kind == "grid")

    def num_trials(self) -> int:
        """How many trials the sweep starts."""
        return self.spec.search.num_samples * self.grid_size()

    def folder_name(self) -> str:
        """``<name>__<time>``: the sweep's folder under ``<output_dir>/sweeps``."""
        return f"{self.spec.name}__{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"

    def output_root(self) -> Path:
        """Where sweep folders go: ``<run.output_dir>/sweeps``."""
        return resolve_output_dir(self.base_config) / "sweeps"


def plain(value: Any) -> Any:
    """A sampled value as plain Python (Tune and numpy hand back numpy scalars)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _value_problems(base: dict[str, Any], where: str, key: str, values: list[Any], source: str) -> list[str]:
    """Each of ``values`` set at ``key`` on the base, validated; the problems found."""
    problems = []
    for v in values:
        data = json.loads(json.dumps(base))
        set_dotted(data, key.split("."), v)
        try:
            TrainConfig.model_validate(data)
        except ValidationError as e:
            errs = [format_error(err, TrainConfig) for err in e.errors()]
            problems.append(f"{where}: value {v!r} is not valid for {key}: {'; '.join(errs)}")
    return problems


def sweep_problems(spec: SweepConfig, base: dict[str, Any], source: str) -> list[str]:
    """Everything wrong with the space and mutations against the base config (keys, bounds, choices)."""
    problems = []
    for section, entries in (("space", spec.space), ("scheduler.mutations", spec.scheduler.mutations)):
        for key, domain in entries.items():
            where = f"{section}.{key}"
            missing = config_field_problem(key)
            if missing:
                problems.append(f"{where}: {missing}")
                continue
            if key in NOT_SEARCHABLE:
                problems.append(f"{where}: {key} is set by the sweep itself (its name and MLflow), not searched")
                continue
            if section == "scheduler.mutations" and key.startswith(NOT_MUTABLE):
                problems.append(
                    f"{where}: PBT cannot change {key} between trials: it changes what a checkpoint holds (the "
                    "network, the pool's modules or the run's limits); search it in `space` instead"
                )
                continue
            problems += _value_problems(base, where, key, domain.edge_values(), source)
    if spec.search.algorithm == "grid":
        # A grid is finite: every combination is checked, so cross-field limits fail here, not in a trial.
        keys = list(spec.space)
        for combo in itertools.product(*(spec.space[k].args for k in keys)):
            data = json.loads(json.dumps(base))
            for k, v in zip(keys, combo, strict=True):
                set_dotted(data, k.split("."), v)
            try:
                TrainConfig.model_validate(data)
            except ValidationError as e:
                errs = "; ".join(format_error(err, TrainConfig) for err in e.errors())
                problems.append(f"space: the combination {dict(zip(keys, combo, strict=True))} is invalid: {errs}")
    return problems


def metric_problems(spec: SweepConfig, cfg: TrainConfig) -> list[str]:
    """A metric the trials of this base config never report."""
    m = spec.metric
    if m.startswith("league/") and not cfg.league.enabled:
        return [f"metric {m!r} needs the league: set league.enabled=true in the base (or `set`), or pick env/..."]
    if m.startswith("league/eval_") and cfg.league.eval_every_n_iterations is None:
        return [f"metric {m!r} comes from the periodic evaluation: set league.eval_every_n_iterations"]
    if m.startswith("curriculum/") and not cfg.curriculum.enabled:
        return [f"metric {m!r} needs curriculum.enabled=true in the base config"]
    return []


def scheduler_problems(spec: SweepConfig, cfg: TrainConfig) -> list[str]:
    """Scheduler settings that the trials' stop limits make impossible."""
    sch, its = spec.scheduler, cfg.stop.iterations
    if sch.type == "asha" and sch.max_t is None and its is None:
        return ["scheduler.type=asha needs scheduler.max_t or stop.iterations (the last rung, in iterations)"]
    every = cfg.league.eval_every_n_iterations
    if sch.type == "asha" and spec.metric.startswith(PERIODIC_METRIC_PREFIX) and every and sch.grace_period < every:
        return [
            f"scheduler.grace_period={sch.grace_period} < league.eval_every_n_iterations={every}: the first rung "
            f"comes before {spec.metric} is first measured; raise grace_period or evaluate more often"
        ]
    if sch.type == "pbt" and its is not None and sch.burn_in_period + sch.perturbation_interval >= its:
        return [
            f"scheduler: pbt would never exploit: burn_in_period + perturbation_interval "
            f"({sch.burn_in_period + sch.perturbation_interval}) >= stop.iterations ({its}); lower them or train longer"
        ]
    return []


def _base_raw(spec: SweepConfig, path: Path) -> tuple[dict[str, Any], str]:
    if isinstance(spec.base, dict):
        return json.loads(json.dumps(spec.base)), f"{path} (base)"
    base_path = default_config_path() if spec.base is None else (path.parent / spec.base)
    return read_yaml(base_path), str(base_path)


def build_sweep(raw: Mapping[str, Any], path: Path) -> Sweep:
    """Validate a sweep definition read from ``path``; raises :class:`ConfigError` with every problem."""
    source = str(path)
    try:
        spec = SweepConfig.model_validate(dict(raw))
    except ValidationError as e:
        raise ConfigError([format_error(err, SweepConfig) for err in e.errors()], source) from None
    base, base_source = _base_raw(spec, path)
    problems = []
    for key, value in spec.set.items():
        where = config_field_problem(key)
        if where:
            problems.append(f"set.{key}: {where}")
        else:
            set_dotted(base, key.split("."), value)
    for key, value in spec.resources.items():
        where = config_field_problem(f"resources.{key}")
        if where:
            problems.append(f"resources.{key}: {where}")
        else:
            set_dotted(base, ["resources", key], value)
    if spec.stop is not None:
        base["stop"] = spec.stop.model_dump(exclude_none=True)
    if problems:
        raise ConfigError(problems, source)
    try:
        cfg = validate_config(base, f"{base_source} with the sweep's set/resources/stop")
    except ConfigError as e:
        raise ConfigError(e.errors, e.source) from None
    # Every trial logs into the same store as the parent run: fix the resolved URI once, here.
    set_dotted(base, ["tracking", "mlflow_uri"], resolve_mlflow_uri(cfg))
    problems = sweep_problems(spec, base, source) + metric_problems(spec, cfg) + scheduler_problems(spec, cfg)
    if problems:
        raise ConfigError(problems, source)
    return Sweep(spec, base, source)


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate ``tune_configs/<name>.yaml``."""
    p = Path(path).expanduser().resolve()
    return build_sweep(read_yaml(p), p)


def sweep_reference_markdown() -> str:
    """The field tables of docs/tuning.md, generated from the models (a test keeps the doc in sync)."""
    out = []
    for model, prefix in (
        (SweepConfig, ""),
        (Domain, "space.<field>."),
        (SearchConfig, "search."),
        (SchedulerConfig, "scheduler."),
    ):
        out.append(f"### `{prefix.rstrip('.') or 'top level'}` — {(model.__doc__ or '').splitlines()[0]}\n")
        out.append("| field | type | default | meaning |")
        out.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            ann = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
            ann = ann.replace("rl_bot.sweep.", "").replace("rl_bot.config.", "").replace("|", "\\|")
            value = None if field.is_required() else field.get_default(call_default_factory=True)
            default = "required" if field.is_required() else "see below" if isinstance(value, BaseModel) else value
            default = default if isinstance(default, str) else json.dumps(default)
            out.append(f"| `{prefix}{name}` | `{ann}` | `{default}` | {field.description} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m rl_bot.sweep > regenerates the tables in docs/tuning.md
    from rl_bot.sweep import sweep_reference_markdown as _ref

    print(_ref())
