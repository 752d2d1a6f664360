"""Training driver: ``rl-bot train`` and ``python -m rl_bot.train`` (the form for ``ray job submit``).

Everything a user can get wrong (config, resume folder, checkpoint, Ray address) is checked first; a problem
exits with code 2 before Ray starts, and nothing already saved is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_bot.checkpoints import (
    CHECKPOINT_DIR,
    CURRICULUM_STATE_FILE,
    CheckpointState,
    checkpoint_name,
    finalize,
    latest_checkpoint,
    newer_incomplete,
    read_league_state,
    run_dir_of,
    write_state,
)
from rl_bot.config import (
    CONFIG_FILE,
    ConfigError,
    TrainConfig,
    apply_overrides,
    load_config,
    read_yaml,
    resolve_output_dir,
    save_config,
    validate_config,
)
from rl_bot.console import LOG_FILE, Console, plain_console, quiet_output
from rl_bot.env.guard import TrainingStopped

EXIT_BAD_INPUT = 2
#: Training stopped on a problem found while it ran (NaN/inf, a dead league actor); the checkpoints are intact.
EXIT_TRAINING_FAILED = 3


@dataclass
class TrainPlan:
    """Everything decided before Ray starts."""

    cfg: TrainConfig
    run_dir: Path
    address: str | None
    resume_from: Path | None = None
    resume_state: CheckpointState | None = None
    run_name: str = ""


@dataclass
class TrainSummary:
    """What a finished run reports back (also used by tests and the benchmark)."""

    run_dir: Path
    iterations: int
    env_steps: int
    agent_steps: int
    wall_time_s: float
    last_checkpoint: Path | None
    mlflow_run_id: str | None
    history: list[dict[str, float]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ planning


def add_train_args(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``rl-bot train`` and ``python -m rl_bot.train``."""
    p.add_argument("--config", help="YAML config (default: the embedded quickstart config)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one config field (repeatable), validated like the file",
    )
    p.add_argument(
        "--address", default=None, help="Ray cluster to join (default: $RAY_ADDRESS, else start a local Ray)"
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue a run from its newest checkpoint (weights, optimizer, counters)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show Ray's, RLlib's and MLflow's warnings and logs here (default: only in RUN_DIR/train.log)",
    )


def local_gpus() -> int:
    """NVIDIA GPUs this machine shows (without nvidia-smi: importing torch just for this costs seconds)."""
    try:
        return len([d for d in os.listdir("/proc/driver/nvidia/gpus")])
    except OSError:
        return 0


def _unreachable(host: str, port: int) -> str | None:
    """Why nothing accepts a TCP connection at ``host:port`` (None when something does)."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as e:
        return str(e.strerror or e)


def check_address(address: str | None) -> None:
    """Fail fast (exit 2) on a Ray address nothing listens on."""
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError([f"Ray address {address!r} is not host:port (or ray://host:port, or 'auto')"], "--address")
    refused = _unreachable(host or "127.0.0.1", int(port))
    if refused:
        raise ConfigError(
            [
                f"no Ray cluster answers at {address!r} ({refused}); start one with `ray start --head` "
                "or fix --address / $RAY_ADDRESS"
            ],
            "--address",
        ) from None


def check_tracking_server(cfg: TrainConfig) -> None:
    """Fail fast (exit 2) when ``tracking.mlflow_uri`` names an MLflow server nothing listens on."""
    from urllib.parse import urlparse

    uri = cfg.tracking.mlflow_uri
    if not cfg.tracking.enabled or not uri or not uri.startswith(("http://", "https://")):
        return
    u = urlparse(uri)
    refused = _unreachable(u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80))
    if refused:
        raise ConfigError(
            [
                f"no MLflow server answers at tracking.mlflow_uri={uri!r} ({refused}); start it "
                "(`mlflow server`, docs/running.md) or fix the URI"
            ],
            "tracking",
        ) from None


def resource_problems(cfg: TrainConfig, cpus: float, gpus: float, where: str) -> list[str]:
    """What the config asks for that ``cpus``/``gpus`` cannot give (RLlib would otherwise wait forever)."""
    r = cfg.resources
    need_cpu = r.num_env_runners * r.num_cpus_per_env_runner + r.num_learners
    need_gpu = max(1, r.num_learners) * r.num_gpus_per_learner
    problems = []
    if need_cpu > cpus:
        problems.append(
            f"resources: {r.num_env_runners} env runners x {r.num_cpus_per_env_runner} CPU + {r.num_learners} "
            f"learner actors need {need_cpu:g} CPUs but {where} has {cpus:g}; lower resources.num_env_runners "
            "(raise num_envs_per_env_runner instead) or add nodes"
        )
    if need_gpu > gpus:
        problems.append(
            f"resources.num_gpus_per_learner={r.num_gpus_per_learner} needs {need_gpu:g} GPUs but {where} has "
            f"{gpus:g}; set it to 0 to learn on CPU"
        )
    return problems


def custom_resource_problems(cfg: TrainConfig, available: dict[str, float], where: str) -> list[str]:
    """Custom resources the config asks for that ``available`` (the cluster's totals) cannot give."""
    r = cfg.resources
    problems = []
    for key, per, count in (
        ("env_runner_resources", r.env_runner_resources, r.num_env_runners),
        ("learner_resources", r.learner_resources, r.num_learners),
    ):
        for name, amount in per.items():
            need = amount * count
            if need > available.get(name, 0):
                problems.append(
                    f"resources.{key}: {count} x {name}={amount:g} needs {need:g} but {where} offers "
                    f"{available.get(name, 0):g}; start nodes with `ray start --resources='{{\"{name}\": N}}'` "
                    "or lower the request"
                )
    if r.learner_resources and r.num_learners == 0:
        problems.append(
            "resources.learner_resources needs learner actors: set resources.num_learners >= 1 (with 0 the learner "
            "runs in the driver, which Ray does not place)"
        )
    return problems


#: League fields that decide the set of RLModules; a checkpoint only restores into the same set.
LEAGUE_MODULE_FIELDS = ("enabled", "max_pool_size", "opponents")


def league_resume_problems(saved: TrainConfig, cfg: TrainConfig, ckpt: Path) -> list[str]:
    """What stops a checkpoint from being resumed with the league settings of ``cfg``."""
    problems = [
        f"league.{k} cannot change on resume ({getattr(saved.league, k)!r} -> {getattr(cfg.league, k)!r}): it "
        "changes the RLModules the checkpoint holds; start a new run instead"
        for k in LEAGUE_MODULE_FIELDS
        if getattr(saved.league, k) != getattr(cfg.league, k)
    ]
    if not problems and saved.builtin_modules != cfg.builtin_modules:
        problems.append(
            f"the built-in bots played by the league or a curriculum stage cannot change on resume "
            f"({list(saved.builtin_modules)} -> {list(cfg.builtin_modules)}): each is an RLModule in the checkpoint; "
            "start a new run instead"
        )
    if not problems and cfg.league.enabled:
        from rl_bot.league.files import snapshot_file

        try:
            state = read_league_state(ckpt)
        except ConfigError as e:
            return problems + e.errors
        run_dir = run_dir_of(ckpt)
        snaps = [m["id"] for m in state["members"] if m["kind"] == "snapshot"]
        missing = [s for s in snaps if not snapshot_file(run_dir, s).is_file()]
        if missing:
            problems.append(
                f"league snapshot file(s) {', '.join(missing)} missing from "
                f"{str(snapshot_file(run_dir, missing[0]).parent)!r}; the pool in this checkpoint plays them: "
                "restore the files, or start a new run"
            )
    return problems


def curriculum_resume_problems(cfg: TrainConfig, ckpt: Path) -> list[str]:
    """What stops a checkpoint's curriculum stage from continuing under ``cfg``."""
    state_file = ckpt / CURRICULUM_STATE_FILE
    if not cfg.curriculum.enabled:
        return []
    if not state_file.is_file():
        return [
            f"{str(ckpt)!r} has no {CURRICULUM_STATE_FILE} although curriculum.enabled is true (the run was started "
            "without one, or the file is lost); start a new run, or resume with curriculum.enabled=false"
        ]
    try:
        stage = json.loads(state_file.read_text())["stage"]
    except (ValueError, KeyError) as e:
        return [f"corrupt {CURRICULUM_STATE_FILE} in {str(ckpt)!r} ({e}); resume from an older checkpoint"]
    names = [s.name for s in cfg.curriculum.stages]
    if stage not in names:
        return [
            f"the checkpoint's curriculum stage {stage!r} is not in curriculum.stages {names}: keep that stage in the "
            "config, or start a new run"
        ]
    return []


def plan(args: argparse.Namespace) -> TrainPlan:
    """Validate every input and decide the run directory; raises :class:`ConfigError`. Starts nothing."""
    address = args.address or os.environ.get("RAY_ADDRESS") or None
    if args.resume:
        if args.config:
            raise ConfigError(
                [
                    "--config cannot be combined with --resume: a resumed run keeps its saved "
                    "config; change fields with --set"
                ],
                "--resume",
            )
        run_dir = Path(args.resume).expanduser().resolve()
        ckpt, state = latest_checkpoint(run_dir)
        raw = read_yaml(run_dir / CONFIG_FILE)
        data, errors = apply_overrides(raw, args.overrides)
        if errors:
            raise ConfigError(errors, str(run_dir / CONFIG_FILE))
        cfg = validate_config(data, str(run_dir / CONFIG_FILE))
        saved = validate_config(raw, str(run_dir / CONFIG_FILE))
        problems = league_resume_problems(saved, cfg, ckpt) + curriculum_resume_problems(cfg, ckpt)
        if problems:
            raise ConfigError(problems, "--resume")
        check_address(address)
        check_tracking_server(cfg)
        return TrainPlan(cfg, run_dir, address, ckpt, state, run_name=run_dir.name)
    cfg = load_config(args.config, args.overrides)
    preflight(cfg, address)
    run_dir = new_run_dir(cfg)
    return TrainPlan(cfg, run_dir, address, run_name=run_dir.name)


def preflight(cfg: TrainConfig, address: str | None) -> None:
    """The checks of a new run before Ray starts: the Ray address answers, the MLflow server answers, and without
    an address this machine has the CPUs, GPUs and custom resources the config asks for; :class:`ConfigError`."""
    check_address(address)
    check_tracking_server(cfg)
    if not address:
        problems = resource_problems(cfg, os.cpu_count() or 1, local_gpus(), "this machine")
        problems += custom_resource_problems(cfg, {}, "a local Ray (no custom resources)")
        if problems:
            raise ConfigError(problems, "resources")


def new_run_dir(cfg: TrainConfig) -> Path:
    """A folder name no run uses yet: ``<output_dir>/rocketleague-<n>v<n>__<name>__<seed>__<time>[-k]``."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"rocketleague-{cfg.env.team_size}v{cfg.env.team_size}__{cfg.run.name}__{cfg.run.seed}__{stamp}"
    run_dir = resolve_output_dir(cfg) / name
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = run_dir.with_name(f"{name}-{n}")
    return run_dir


# ------------------------------------------------------------------------------------------------ progress


def _fmt_duration(s: float | None) -> str:
    if s is None or s != s or s == float("inf"):
        return "?"
    s = int(max(0, s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def eta_seconds(
    cfg: TrainConfig, iteration: int, env_steps: int, elapsed: float, per_iter_s: float, env_steps_per_s: float
) -> float | None:
    """Seconds until the first stop limit is reached (None if unknown)."""
    etas = []
    st = cfg.stop
    if st.iterations is not None:
        etas.append((st.iterations - iteration) * per_iter_s)
    if st.env_steps is not None and env_steps_per_s > 0:
        etas.append((st.env_steps - env_steps) / env_steps_per_s)
    if st.wall_time_s is not None:
        etas.append(st.wall_time_s - elapsed)
    return max(0.0, min(etas)) if etas else None


def should_stop(cfg: TrainConfig, iteration: int, env_steps: int, elapsed: float) -> str | None:
    """Name of the stop limit reached, if any."""
    st = cfg.stop
    if st.iterations is not None and iteration >= st.iterations:
        return f"stop.iterations={st.iterations}"
    if st.env_steps is not None and env_steps >= st.env_steps:
        return f"stop.env_steps={st.env_steps}"
    if st.wall_time_s is not None and elapsed >= st.wall_time_s:
        return f"stop.wall_time_s={st.wall_time_s}"
    return None


def progress_line(row: dict[str, float], eta: float | None, stage: str | None = None) -> str:
    """One human line per iteration (``stage``: the curriculum stage's name)."""

    def g(k: str) -> float:
        return row.get(k, float("nan"))

    line = f"[{int(g('curriculum/stage'))}:{stage}] " if stage else ""
    line += (
        f"iter {int(g('iteration')):4d} | env steps {int(g('perf/env_steps_total')):>10,} | "
        f"{g('perf/agent_steps_per_s'):7,.0f} agent-steps/s | return {g('env/episode_return_mean'):7.3f} | "
        f"ep len {g('env/episode_length'):6.1f} | touches/ep {g('env/touches_per_episode'):5.2f} | "
        f"goals/ep {g('env/goals_per_episode'):5.3f} | no-touch {g('env/no_touch_timeout_rate'):4.0%} | "
        f"H {g('losses/entropy'):4.2f} kl {g('losses/kl'):.5f} EV {g('losses/explained_variance'):5.2f}"
    )
    if "league/elo_main" in row:
        line += (
            f" | Elo {g('league/elo_main'):5.0f} ({g('league/elo_main_low'):.0f}-{g('league/elo_main_high'):.0f}) "
            f"pool {int(g('league/pool_size'))} games {int(g('league/games'))}"
        )
    return line + f" | ETA {_fmt_duration(eta)}"


# ------------------------------------------------------------------------------------------------ running


def iteration_row(result: dict[str, Any], elapsed: float) -> dict[str, float]:
    """The metrics of one ``algo.train()`` result as logged (stable names), with the run's wall time and
    iteration."""
    from rl_bot.tracking import select_metrics

    row = select_metrics(result)
    row["perf/wall_time_s"] = elapsed
    row["iteration"] = int(result["training_iteration"])
    return row


def log_checkpoint(tracker: Any, algo: Any, run_dir: Path, ckpt: Path, state: CheckpointState) -> None:
    """After a checkpoint: refresh the run's artifact files (league table, rating plot, clip, ...) and, with a
    tracker, log them and where the checkpoint is."""
    files = algo.artifact_files()
    if tracker is None:
        return
    for f in files:
        tracker.log_artifact(f, artifact_path=f.parent.name)
    info = run_dir / "checkpoint.json"
    info.write_text(
        json.dumps({"path": str(ckpt), "iteration": state.iteration, "env_steps": state.env_steps}, indent=2)
    )
    tracker.log_artifact(info)
    tracker.set_tags({"checkpoint": ckpt})


def finish_evaluations(tracker: Any, algo: Any, iteration: int) -> list[dict[str, float]]:
    """Wait for the periodic evaluations still playing when training stops; log their metrics at ``iteration``
    and, since their clips arrive after the last checkpoint's artifacts, the artifact files again."""
    finals = algo.finish()
    if tracker is not None and finals:
        for final in finals:
            tracker.log_metrics(final, step=iteration)
        for f in algo.artifact_files():
            tracker.log_artifact(f, artifact_path=f.parent.name)
    return finals


def save_run_config(cfg: TrainConfig, cfg_path: Path, iteration: int) -> None:
    """Write the run's resolved config; a different one already there (``--set`` on resume, a PBT mutation) is
    kept as ``config.before-iter<N>.yaml``."""
    if cfg_path.exists() and read_yaml(cfg_path) != cfg.to_plain():
        shutil.copy2(cfg_path, cfg_path.with_name(f"config.before-iter{iteration}.yaml"))
    save_config(cfg, cfg_path)


def _save_checkpoint(algo: Any, run_dir: Path, state: CheckpointState, keep_last: int) -> Path:
    final = run_dir / CHECKPOINT_DIR / checkpoint_name(state.iteration)
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    algo.save_to_path(str(tmp))  # RLlib's state plus the league's and the curriculum's (RLBotPPO)
    write_state(tmp, state)
    finalize(tmp, final, keep_last)
    return final


def init_ray(address: str | None, log_level: str) -> None:
    """Join ``address`` or start local Ray. Token auth stays off for the local Ray we start (see docs)."""
    import ray

    if address:
        ray.init(address=address, logging_level=log_level, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(logging_level=log_level, include_dashboard=False)


def run(p: TrainPlan, quiet: bool = False, console: Console | None = None) -> TrainSummary:
    """Build the algorithm, (restore,) call ``algo.train()`` until a stop limit, checkpoint, log to MLflow. Everything
    per iteration (league, curriculum, metrics) runs inside ``train()`` (:mod:`rl_bot.trainer`). Shuts Ray down
    after. Our lines go to ``console`` (default: the terminal as it is), none with ``quiet``."""
    import ray

    from rl_bot.tracking import MlflowTracker
    from rl_bot.trainer import algorithm_config

    cfg = p.cfg
    console = console or plain_console()

    def say(msg: str) -> None:
        if not quiet:
            console.say(msg)

    logs = ""
    if console.log_path is not None:
        logs = f" (Ray, RLlib and MLflow logs: {console.log_path.name} in it; --verbose shows them here)"
    say(f"run directory: {p.run_dir}{logs}")
    we_started = not ray.is_initialized()
    if we_started:
        init_ray(p.address, cfg.run.log_level)
    res = ray.cluster_resources()
    problems = resource_problems(cfg, res.get("CPU", 0), res.get("GPU", 0), "the Ray cluster")
    problems += custom_resource_problems(cfg, res, "the Ray cluster")
    if problems:
        if we_started:
            ray.shutdown()
        raise ConfigError(problems, "resources")
    p.run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = p.run_dir / CONFIG_FILE
    if p.resume_from is None:
        save_config(cfg, cfg_path)
    tracker = None
    algo = None
    status = "FAILED"
    try:
        algo = algorithm_config(cfg, p.run_dir, p.run_name).build_algo()
        base = CheckpointState(0, 0, 0, 0.0)
        if p.resume_from is not None:
            try:
                algo.restore_from_path(str(p.resume_from))
            except Exception as e:  # RLlib raises many types for unreadable state; all mean "bad checkpoint"
                raise ConfigError(
                    [f"checkpoint {str(p.resume_from)!r} cannot be restored: {type(e).__name__}: {e}"], "--resume"
                ) from e
            base = p.resume_state
            save_run_config(cfg, cfg_path, base.iteration)
            say(f"resumed from {p.resume_from} at iteration {algo.iteration}")
            for skipped in newer_incomplete(p.run_dir, p.resume_from):
                say(f"skipped {skipped.name}: incomplete (a save that was interrupted); it is replaced when reached")
            if algo.league is not None and algo.league.resume_info["discarded_rows"]:
                say(
                    f"league: {algo.league.resume_info['discarded_rows']} games played after {p.resume_from.name} "
                    "moved from games.csv to games.discarded.csv"
                )
        if algo.league is not None:
            say(f"league: actor {algo.league.name!r}, files in {p.run_dir / 'league'}")
        if algo.curriculum is not None:
            say(f"curriculum: stage {algo.curriculum.index + 1} {algo.curriculum.stage.name!r}")
        if cfg.tracking.enabled:
            tracker = MlflowTracker(cfg, p.run_dir, p.run_name)
            tracker.log_artifact(cfg_path)
            say(f"MLflow: run {tracker.run_id} in experiment {cfg.tracking.experiment!r} at {tracker.uri}")
        iteration, env_steps, agent_steps = algo.iteration, base.env_steps, base.agent_steps
        start = time.perf_counter()
        last_ckpt: Path | None = None
        history: list[dict[str, float]] = []
        stop_reason = should_stop(cfg, iteration, env_steps, base.wall_time_s)
        while stop_reason is None:
            result = algo.train()
            iteration = int(result["training_iteration"])
            env_steps, agent_steps = int(result["perf/env_steps_total"]), int(result["perf/agent_steps_total"])
            elapsed = base.wall_time_s + (time.perf_counter() - start)
            row = iteration_row(result, elapsed)
            history.append(row)
            stop_reason = should_stop(cfg, iteration, env_steps, elapsed)
            eta = eta_seconds(
                cfg, iteration, env_steps, elapsed, row["perf/iteration_time_s"], row["perf/env_steps_per_s"]
            )
            say(progress_line(row, eta, result.get("curriculum/stage_name")))
            if "curriculum/transition" in result:
                say(f"curriculum: after iteration {iteration}: {result['curriculum/transition']}")
            if tracker is not None:
                tracker.log_metrics({k: v for k, v in row.items() if k != "iteration"}, step=iteration)
            if stop_reason is not None or iteration % cfg.checkpoint.every_n_iterations == 0:
                state = CheckpointState(iteration, env_steps, agent_steps, elapsed)
                last_ckpt = _save_checkpoint(algo, p.run_dir, state, cfg.checkpoint.keep_last)
                log_checkpoint(tracker, algo, p.run_dir, last_ckpt, state)
        # The last periodic evaluations may still be playing: their games belong to this run's record.
        for final in finish_evaluations(tracker, algo, iteration):
            if history:
                history[-1].update(final)
        if last_ckpt is None and p.resume_from is not None:
            last_ckpt = p.resume_from
        say(f"stopped: {stop_reason}; last checkpoint: {last_ckpt}")
        status = "FINISHED"
        return TrainSummary(
            p.run_dir,
            iteration,
            env_steps,
            agent_steps,
            base.wall_time_s + (time.perf_counter() - start),
            last_ckpt,
            tracker.run_id if tracker else None,
            history,
        )
    finally:
        if algo is not None:
            algo.stop()
        if tracker is not None:
            tracker.end(status)
        if we_started:
            ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    """``python -m rl_bot.train``: exit 0 on success, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m rl_bot.train", description="Train a Rocket League bot.")
    add_train_args(parser)
    args = parser.parse_args(argv)
    return train_command(args)


def remove_unstarted(run_dir: Path) -> None:
    """Delete a new run's folder that holds only its log file: a run that never started leaves no folder."""
    if run_dir.is_dir() and [f.name for f in run_dir.iterdir()] == [LOG_FILE]:
        shutil.rmtree(run_dir)


def train_command(args: argparse.Namespace) -> int:
    """Plan (exit 2 on bad input), then run: our lines on the terminal, Ray's, RLlib's and MLflow's in the run
    folder's log file unless ``--verbose``."""
    try:
        p = plan(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    existed = p.run_dir.exists()
    output = contextlib.nullcontext(plain_console()) if args.verbose else quiet_output(p.run_dir)
    try:
        try:
            with output as console:
                run(p, console=console)
        except (ConfigError, TrainingStopped, KeyboardInterrupt):
            raise
        except BaseException:
            if not args.verbose:
                print(f"(Ray's and RLlib's output of this run: {p.run_dir / LOG_FILE})", file=sys.stderr)
            raise
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        if not existed:
            remove_unstarted(p.run_dir)
        return EXIT_BAD_INPUT
    except TrainingStopped as e:
        print(f"error: {e}", file=sys.stderr)
        print(f"stopped; the newest checkpoint in {p.run_dir} is the last good one", file=sys.stderr)
        return EXIT_TRAINING_FAILED
    except KeyboardInterrupt:
        print("interrupted; the newest checkpoint in the run directory is intact", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
