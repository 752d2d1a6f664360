"""``rl-bot bench``: where the time goes, for one config, in one run.

Layers, each as agent-steps/s (one car acting once = one agent step):

1. physics: ``Arena.step(tick_skip)`` on bare RocketSim arenas (the ceiling);
2. env: our game with random actions, the rlgym component path and the batched path;
3. sampling: RLlib's env runner with the real module (inference, connectors, episodes), no learning;
4. end-to-end PPO training, with the learner's update time per 1,000 agent steps, for 1 .. N env runners;
   with ``--league-compare``, also at N runners with the league switched the other way (its cost as a ratio).

All single-core layers run in this process; the end-to-end runs use local Ray. Peak memory is the largest sum
of resident set sizes (PSS where the OS gives it) over the driver and every process it started (Ray included),
sampled twice a second. Speed lives here, never in tests; figures are medians.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from rl_bot.config import TrainConfig, validate_config
from rl_bot.env.game import NUM_ACTIONS, RLGymGame


def machine_line() -> str:
    """Cores, Python and the versions that matter for the figures."""
    vers = []
    for pkg in ("ray", "torch", "rocketsim", "rlgym-rocket-league"):
        try:
            vers.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            vers.append(f"{pkg} ?")
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, " + ", ".join(vers)


def _median_rate(step_chunk, seconds: float, chunks: int = 5) -> float:
    rates = []
    for _ in range(chunks):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / chunks:
            n += step_chunk()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_physics(cfg: TrainConfig, seconds: float, arenas: int = 32, seed: int = 0) -> float:
    """Agent-steps/s of bare RocketSim: ``arena.step(tick_skip)`` on ``arenas`` arenas.

    Same workload as the env layers: every car gets a uniformly random lookup-table action each step (pre-built
    ``CarControls``, the cheapest way to set them) and each arena restarts at a kickoff every 150 steps.
    """
    import RocketSim as rsim

    from rl_bot.env.batched import car_controls
    from rl_bot.env.game import RLGymGame as _Game

    _Game(cfg.env).close()  # initialises RocketSim with rlgym's collision meshes
    from rlgym.rocket_league.action_parsers import LookupTableAction

    controls = [car_controls(row) for row in LookupTableAction.make_lookup_table()]
    rng = np.random.default_rng(seed)
    pool, cars = [], []
    for _ in range(arenas):
        a = rsim.Arena(rsim.GameMode.SOCCAR)
        cars.append([a.add_car(team) for team in (rsim.Team.BLUE, rsim.Team.ORANGE) for _ in range(cfg.env.team_size)])
        a.reset_kickoff(int(rng.integers(2**31 - 1)))
        pool.append(a)
    ts, n_cars, steps = cfg.env.tick_skip, 2 * cfg.env.team_size, [0]

    def chunk() -> int:
        acts = rng.integers(NUM_ACTIONS, size=(arenas, n_cars))
        for a, arena_cars, arena_acts in zip(pool, cars, acts, strict=True):
            for car, x in zip(arena_cars, arena_acts, strict=True):
                car.set_controls(controls[x])
            a.step(ts)
        steps[0] += 1
        if steps[0] % 150 == 0:
            for a in pool:
                a.reset_kickoff(int(rng.integers(2**31 - 1)))
        return arenas * n_cars

    return _median_rate(chunk, seconds)


def bench_env_component(cfg: TrainConfig, seconds: float, seed: int = 0) -> float:
    """Agent-steps/s of one ``RLGymGame`` (rlgym components) with uniformly random actions."""
    game = RLGymGame(cfg.env.model_copy(update={"backend": "rlgym"}))
    game.seed(seed)
    rng = np.random.default_rng(seed)
    game.reset()

    def chunk() -> int:
        acts = {a: np.atleast_1d(rng.integers(NUM_ACTIONS)) for a in game.agents}
        _, _, term, trunc = game.step(acts)
        if term or trunc:
            game.reset()
        return len(game.agents)

    rate = _median_rate(chunk, seconds)
    game.close()
    return rate


def bench_env_batched(cfg: TrainConfig, seconds: float, seed: int = 0) -> float | None:
    """Agent-steps/s of one ``BatchedGame`` with ``num_envs_per_env_runner`` arenas, random actions, resets."""
    from rl_bot.env.batched import BatchedGame

    if cfg.env.batched_problems():
        return None
    n = cfg.resources.num_envs_per_env_runner
    game = BatchedGame(cfg.env, n, multi_step=cfg.env.multi_step)
    for i in range(n):
        game.seed(i, seed + i)
        game.reset(i)
    rng = np.random.default_rng(seed)
    done = np.zeros(n, bool)

    def chunk() -> int:
        nonlocal done
        for i in np.flatnonzero(done):
            game.reset(i)
        active = ~done
        _, term, trunc = game.step(rng.integers(NUM_ACTIONS, size=(n, game.num_cars)), active)
        game.observations()
        done = term | trunc
        return int(active.sum()) * game.num_cars

    rate = _median_rate(chunk, seconds)
    game.close()
    return rate


def bench_sampling(cfg: TrainConfig, seconds: float) -> dict[str, float]:
    """Agent-steps/s of one env runner in this process (real module, no learning), per sampling path:
    ``rllib`` (RLlib's connectors and episodes) and, where the env allows it, ``array``
    (:class:`rl_bot.compat.ArraySampling`).

    Each ``sample()`` call takes what one env runner samples per training iteration (``train_batch_size`` over
    the env runners). The paths' runners take turns, one call each, for ``seconds`` each in all, so both see the
    same machine; figures are medians over the calls.
    """
    import torch

    from rl_bot.algo import build_ppo_config
    from rl_bot.runner import RLBotEnvRunner

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core, as an env runner actor has
    runners = {}
    try:
        for sampler in ("rllib", "array"):
            if sampler == "array" and cfg.env.resolved_backend != "batched":
                continue
            data = cfg.to_plain()
            data["resources"]["sampler"] = sampler
            runner = RLBotEnvRunner(config=build_ppo_config(validate_config(data, "bench")))
            runner.sample(num_timesteps=2 * runner.num_envs, explore=True)  # reset, first forward passes
            runners[sampler] = runner
        per_call = max(1, cfg.ppo.train_batch_size // max(1, cfg.resources.num_env_runners))
        rates: dict[str, list[float]] = {k: [] for k in runners}
        spent = dict.fromkeys(runners, 0.0)
        while min(spent.values()) < seconds or min(len(r) for r in rates.values()) < 3:
            for sampler, runner in runners.items():
                t0 = time.perf_counter()
                episodes = runner.sample(num_timesteps=per_call, explore=True)
                dt = time.perf_counter() - t0
                spent[sampler] += dt
                rates[sampler].append(sum(e.agent_steps() for e in episodes) / dt)
    finally:
        for runner in runners.values():
            runner.stop()
        torch.set_num_threads(threads)
    return {k: statistics.median(v) for k, v in rates.items()}


class PeakMemory:
    """Largest total PSS (else RSS) of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval_s: float = 0.5):
        import psutil

        self._psutil = psutil
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        me = self._psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                info = p.memory_full_info()
                total += getattr(info, "pss", info.rss)
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._total())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def iterations_per_hour(history: list[dict[str, float]]) -> float:
    """Iterations after the first per hour of the run's wall clock (``perf/wall_time_s`` after each iteration's
    training step), so the driver's work between iterations counts; one iteration: its own training time."""
    if len(history) < 2:
        return 3600.0 / history[0]["perf/iteration_time_s"]
    return 3600.0 * (len(history) - 1) / (history[-1]["perf/wall_time_s"] - history[0]["perf/wall_time_s"])


def bench_train(
    cfg: TrainConfig,
    iterations: int,
    num_env_runners: int | None = None,
    league: bool | None = None,
    sampler: str | None = None,
) -> dict[str, float]:
    """Real PPO iterations on local Ray (MLflow off, temp outputs); medians of all iterations but the first.

    The league runs as configured (snapshots, periodic evaluation in its background actor); ``league_time_s`` is
    the driver's league work per iteration. ``iterations_per_hour`` is measured on the run's wall clock from the end
    of the first iteration to the end of the last (training, the league's work between iterations and iterations
    with an evaluation beside them included): the figure to compare league on and off with. ``evaluations``
    counts the periodic evaluations that finished.
    """
    from rl_bot.train import TrainPlan, run

    with tempfile.TemporaryDirectory(prefix="rl-bot-bench-") as tmp:
        data = cfg.to_plain()
        data["stop"] = {"iterations": iterations}
        data["tracking"]["enabled"] = False
        data["run"]["output_dir"] = tmp
        data["checkpoint"]["every_n_iterations"] = 10**6
        if num_env_runners is not None:
            data["resources"]["num_env_runners"] = num_env_runners
        if league is not None:
            data["league"]["enabled"] = league
        if sampler is not None:
            data["resources"]["sampler"] = sampler
        bench_cfg = validate_config(data, "bench")
        with PeakMemory() as mem:
            summary = run(TrainPlan(bench_cfg, Path(tmp) / "run", None, run_name="bench"), quiet=True)
    rows = summary.history[1:] or summary.history

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {
        "num_env_runners": bench_cfg.resources.num_env_runners,
        "league": bench_cfg.league.enabled,
        "sampler": sampler_path(bench_cfg),
        "league_time_s": med("perf/league_time_s") if bench_cfg.league.enabled else 0.0,
        "agent_steps_per_s": med("perf/agent_steps_per_s"),
        "iteration_time_s": med("perf/iteration_time_s"),
        "sample_time_s": med("perf/sample_time_s"),
        "learn_time_s": med("perf/learn_time_s"),
        "learn_s_per_1000_agent_steps": med("perf/learn_s_per_1000_agent_steps"),
        "peak_memory_gib": mem.peak_bytes / 2**30,
        "iterations_per_hour": iterations_per_hour(summary.history),
        "iterations_measured": len(rows),
        "evaluations": sum("league/eval_iteration" in r for r in summary.history),
    }


def sampler_path(cfg: TrainConfig) -> str:
    """The sampling path the env runners take for the top-level env: ``array`` or ``rllib``."""
    return "array" if cfg.resources.sampler != "rllib" and cfg.env.resolved_backend == "batched" else "rllib"


def describe(cfg: TrainConfig) -> str:
    """One line naming the measured config."""
    r, p = cfg.resources, cfg.ppo
    model = f"LSTM {cfg.model.lstm_cell_size}" if cfg.model.use_lstm else "feed-forward"
    minibatch = "the whole batch" if p.minibatch_size is None else f"{p.minibatch_size} samples"
    return (
        f"{cfg.env.team_size}v{cfg.env.team_size}, tick skip {cfg.env.tick_skip}, backend "
        f"{cfg.env.resolved_backend}, sampler {sampler_path(cfg)}, {list(cfg.model.fcnet_hiddens)} + {model}, "
        f"{r.num_env_runners} env runners x "
        f"{r.num_envs_per_env_runner} envs, batch {p.train_batch_size} env steps "
        f"({p.train_batch_size * 2 * cfg.env.team_size} agent steps), minibatch {minibatch}, "
        f"{p.num_epochs} epoch(s)"
    )


def run_bench(
    cfg: TrainConfig,
    seconds: float,
    train_iterations: int,
    skip_train: bool = False,
    scaling: bool = True,
    markdown: Path | None = None,
    command: str = "rl-bot bench",
    league_compare: bool = False,
    sampler_compare: bool = False,
) -> dict:
    """Measure every layer, print a markdown table, optionally append it to ``markdown``."""
    out: dict = {
        "physics": bench_physics(cfg, seconds),
        "env_component": bench_env_component(cfg, seconds),
        "env_batched": bench_env_batched(cfg, seconds),
        "sampling": bench_sampling(cfg, seconds),
    }
    rows = [
        ("physics only: `Arena.step`, random controls, 1 core", out["physics"], ""),
        ("env only, rlgym components, 1 core, random actions", out["env_component"], ""),
    ]
    if out["env_batched"] is not None:
        rows.append(
            (
                f"env only, batched ({cfg.resources.num_envs_per_env_runner} arenas), 1 core, random actions",
                out["env_batched"],
                "",
            )
        )
    per_call = cfg.ppo.train_batch_size // max(1, cfg.resources.num_env_runners)
    names = {
        "rllib": "RLlib's connectors and episodes",
        "array": "array path (one forward pass per module per step)",
    }
    for sampler, rate in out["sampling"].items():
        note = f"{per_call:,} env steps per `sample()` call, the paths taking turns"
        if sampler == "array" and "rllib" in out["sampling"]:
            note += f"; {rate / out['sampling']['rllib']:.2f}x RLlib's path"
        rows.append((f"sampling only: 1 env runner ({cfg.env.resolved_backend}), {names[sampler]}, 1 core", rate, note))
    if not skip_train:
        counts = range(1, cfg.resources.num_env_runners + 1) if scaling else [cfg.resources.num_env_runners]
        out["train"] = [bench_train(cfg, train_iterations, k) for k in counts if k >= 1] or [
            bench_train(cfg, train_iterations)
        ]
        if league_compare:
            # The same run with the league switched the other way, for the ratio (same machine, same minutes).
            other = bench_train(cfg, train_iterations, league=not cfg.league.enabled)
            out["train"].append(other)
        if sampler_compare:
            # The same run on the other sampling path, right after.
            other_path = "rllib" if sampler_path(cfg) == "array" else "array"
            out["train"].append(bench_train(cfg, train_iterations, sampler=other_path))
        for t in out["train"]:
            name = f"end-to-end training, {t['num_env_runners']} env runner(s)"
            if sampler_compare:
                name += f", {t['sampler']} sampler"
            note = ""
            if league_compare:
                name += f", league {'on' if t['league'] else 'off'}"
                if t["league"]:
                    lc = cfg.league
                    every = lc.eval_every_n_iterations
                    note = (
                        f"{' + '.join(lc.opponents) or 'no built-ins'} + up to {lc.max_pool_size} snapshots (one every "
                        f"{lc.snapshot_every_n_iterations} iterations), evaluation "
                        f"{f'every {every} iterations' if every else 'off'}; league work "
                        f"{t['league_time_s'] * 1000:.0f} ms/iter; "
                    )
                note += f"{t['iterations_per_hour']:,.0f} iterations/hour; "
            rows.append(
                (
                    name,
                    t["agent_steps_per_s"],
                    note + f"{t['iteration_time_s']:.1f} s/iter (sample {t['sample_time_s']:.1f} s, learn "
                    f"{t['learn_time_s']:.1f} s = {t['learn_s_per_1000_agent_steps'] * 1000:.1f} ms per 1,000 agent "
                    f"steps); peak memory {t['peak_memory_gib']:.2f} GiB",
                )
            )
    footer = []
    if sampler_compare and not skip_train:
        last = out["train"][-1]
        same = next(t for t in out["train"][:-1] if t["num_env_runners"] == last["num_env_runners"])
        by_path = {t["sampler"]: t for t in (same, last)}
        if {"array", "rllib"} <= set(by_path):
            out["sampler_speedup"] = by_path["array"]["agent_steps_per_s"] / by_path["rllib"]["agent_steps_per_s"]
            footer += [
                f"End to end the array sampler runs {out['sampler_speedup']:.2f}x RLlib's sampling path "
                f"({by_path['array']['agent_steps_per_s']:,.0f} vs {by_path['rllib']['agent_steps_per_s']:,.0f} "
                "agent-steps/s, one run after the other).",
                "",
            ]
    if league_compare and not skip_train:
        # the league-switched run against the run at the same env runner count (the scaling runs use fewer)
        other = out["train"][-2 if sampler_compare else -1]
        same = next(t for t in out["train"][:-1] if t["num_env_runners"] == other["num_env_runners"])
        on, off = (same, other) if same["league"] else (other, same)
        out["league_cost"] = 1.0 - on["iterations_per_hour"] / off["iterations_per_hour"]
        evals = (
            f"{on['evaluations']} periodic evaluation(s) included"
            if on["evaluations"]
            else "no periodic evaluation finished in these iterations (use more --iterations to include it)"
        )
        footer += [
            f"League on runs {on['iterations_per_hour'] / off['iterations_per_hour']:.2f}x league off's iterations per "
            f"hour (cost {100 * out['league_cost']:.0f} %); {evals}.",
            "",
        ]
    lines = [
        f"### {dt.date.today().isoformat()} — `{command}`",
        "",
        f"Machine: {machine_line()}.  ",
        f"Config: {describe(cfg)}.",
        "",
        "| layer | agent-steps/s | notes |",
        "|---|---|---|",
        *[f"| {name} | {rate:,.0f} | {note} |" for name, rate, note in rows],
        "",
        *footer,
    ]
    text = "\n".join(lines)
    print(text)
    if markdown is not None:
        with open(markdown, "a") as f:
            f.write("\n" + text)
    return out
