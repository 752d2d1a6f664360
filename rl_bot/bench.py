"""``rl-bot bench``: throughput of the env alone and of end-to-end training, for one config.

Speed lives here, never in tests. Figures are medians; compare ratios measured in the same run.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
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
    return (
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, " + ", ".join(vers)
    )


def bench_env(cfg: TrainConfig, seconds: float, seed: int = 0, chunks: int = 5) -> dict[str, float]:
    """Step one game with uniformly random actions on one core; median over ``chunks`` equal slices."""
    game = RLGymGame(cfg.env)
    game.seed(seed)
    rng = np.random.default_rng(seed)
    game.reset()
    n_agents = len(game.agents)
    rates = []
    for _ in range(chunks):
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / chunks:
            acts = {a: np.atleast_1d(rng.integers(NUM_ACTIONS)) for a in game.agents}
            _, _, term, trunc = game.step(acts)
            steps += 1
            if term or trunc:
                game.reset()
        rates.append(steps / (time.perf_counter() - t0))
    game.close()
    env_rate = statistics.median(rates)
    return {"env_steps_per_s": env_rate, "agent_steps_per_s": env_rate * n_agents}


def bench_train(cfg: TrainConfig, iterations: int) -> dict[str, float]:
    """Run ``iterations`` real PPO iterations (MLflow off, temp outputs); median of all but the first."""
    from rl_bot.train import TrainPlan, run

    with tempfile.TemporaryDirectory(prefix="rl-bot-bench-") as tmp:
        data = cfg.to_plain()
        data["stop"] = {"iterations": iterations}
        data["tracking"]["enabled"] = False
        data["run"]["output_dir"] = tmp
        data["checkpoint"]["every_n_iterations"] = 10**6
        bench_cfg = validate_config(data, "bench")
        summary = run(TrainPlan(bench_cfg, Path(tmp) / "run", None, run_name="bench"), quiet=True)
    rows = summary.history[1:] or summary.history
    return {
        "agent_steps_per_s": statistics.median(r["perf/agent_steps_per_s"] for r in rows),
        "env_steps_per_s": statistics.median(r["perf/env_steps_per_s"] for r in rows),
        "iteration_time_s": statistics.median(r["perf/iteration_time_s"] for r in rows),
        "iterations_measured": len(rows),
    }


def run_bench(cfg: TrainConfig, env_seconds: float, train_iterations: int, skip_train: bool = False) -> dict:
    """Print (and return) the benchmark table."""
    r = cfg.resources
    print(f"machine: {machine_line()}")
    print(
        f"config: {cfg.env.team_size}v{cfg.env.team_size}, tick skip {cfg.env.tick_skip}, "
        f"{'LSTM' if cfg.model.use_lstm else 'feed-forward'} {list(cfg.model.fcnet_hiddens)}, "
        f"{r.num_env_runners} env runners x {r.num_envs_per_env_runner} envs, batch {cfg.ppo.train_batch_size} "
        f"env steps, minibatch {cfg.ppo.minibatch_size}, {cfg.ppo.num_epochs} epochs"
    )
    out: dict = {"env": bench_env(cfg, env_seconds)}
    print(
        f"| env only (1 core, random actions) | {out['env']['agent_steps_per_s']:,.0f} agent-steps/s | "
        f"{out['env']['env_steps_per_s']:,.0f} env-steps/s |"
    )
    if not skip_train:
        out["train"] = bench_train(cfg, train_iterations)
        t = out["train"]
        print(
            f"| end-to-end training (median of {t['iterations_measured']} iterations) | "
            f"{t['agent_steps_per_s']:,.0f} agent-steps/s | {t['env_steps_per_s']:,.0f} env-steps/s | "
            f"{t['iteration_time_s']:.1f} s/iteration |"
        )
    return out


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    """``python -m rl_bot.bench`` (same as ``rl-bot bench``)."""
    from rl_bot.cli import main as cli_main

    return cli_main(["bench", *(argv or [])])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
