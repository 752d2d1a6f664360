"""The league on the training driver's side: the actor's lifecycle, snapshots of ``main`` taken from the learner,
the plan sent to env runners, periodic evaluation in a background actor, state in checkpoints, artifacts.

Files under ``RUN_DIR/league/``: ``games.csv`` (every game, written by the actor), ``snapshots/<id>.pkl`` (main's
learner weights when the snapshot was taken, never overwritten), ``table.csv`` and ``elo.png`` (refreshed at every
checkpoint). Each checkpoint folder gets ``league_state.json``, which ``--resume`` restores. With
``league.eval_record``, ``RUN_DIR/eval/`` gets a clip of one game of every periodic evaluation
(``clip-iterNNNN.gif`` and its ``.replay.json``).
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_bot.checkpoints import LEAGUE_STATE_FILE
from rl_bot.config import TrainConfig
from rl_bot.league.actor import NAMESPACE, actor_name, start_league_actor
from rl_bot.league.files import LEAGUE_DIR, snapshot_file
from rl_bot.league.league import MAIN, League
from rl_bot.league.opponents import builtin_ratings

EVAL_PREFIX = "league/eval"


def league_team_size(cfg: TrainConfig) -> int:
    """The team size the league's games are played at: the env's, or with a curriculum its first league stage's."""
    if cfg.curriculum.enabled:
        for i, st in enumerate(cfg.curriculum.stages):
            if st.opponents == "league":
                return cfg.stage_env(i).team_size
    return cfg.env.team_size


def anchor_ratings(cfg: TrainConfig) -> dict[str, float]:
    """The built-in opponents' ratings this run uses."""
    return builtin_ratings(league_team_size(cfg), cfg.league.anchor_ratings)


def _to_numpy(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: _to_numpy(v) for k, v in state.items()}
    if hasattr(state, "detach"):
        return state.detach().cpu().numpy()
    return state


def main_weights(algo: Any) -> dict[str, Any]:
    """main's weights from the learner (env runner copies lag an iteration and lack the value head)."""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    state = algo.learner_group.get_state(components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}/{MAIN}")
    return _to_numpy(state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][MAIN])


EVAL_NICE = 10


def _yield_cpu() -> None:
    """Run the calling thread at nice ``EVAL_NICE``: evaluation games take the CPU time training leaves idle
    (the kernel gives a nice-10 thread about a tenth of a busy core's time), so they do not slow training."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, EVAL_NICE)  # Linux: 0 is the calling thread
    except (AttributeError, OSError):  # no setpriority (Windows) or not allowed: run at normal priority
        pass


@dataclass
class EvalResult:
    """One periodic evaluation: its metrics and, when recorded, its clip (GIF bytes) and replay (JSON text).
    Files travel as data: the evaluation actor may run on another node than the run folder."""

    iteration: int
    metrics: dict[str, float] = field(default_factory=dict)
    clip: bytes | None = None
    replay: str | None = None


class EvalWorker:
    """Plays the periodic evaluation games (main with sampled actions against a built-in opponent, sides
    alternating, all games at once in one batched game) in its own actor, while training goes on; with
    ``league.eval_record`` it records the first game (main on blue) and draws it."""

    def __init__(self, cfg: dict[str, Any], opponent: str, rating: float):
        import torch

        from rl_bot.algo import inference_module
        from rl_bot.config import validate_config
        from rl_bot.evaluate import ModulePolicy

        torch.set_num_threads(1)
        _yield_cpu()
        self.cfg = validate_config(cfg)
        self.opponent, self.rating = opponent, rating
        self.policy = ModulePolicy(inference_module(self.cfg), explore=True, seed=self.cfg.run.seed)

    def evaluate(self, weights: dict[str, Any], iteration: int) -> EvalResult:
        """Play ``league.eval_games`` games with these weights: ``league/eval_…`` metrics of the match, and the
        clip of its first game when recording."""
        from rl_bot.clip import render_gif
        from rl_bot.env.replay import GameRecorder
        from rl_bot.evaluate import builtin_policy, play_match

        t0 = time.perf_counter()
        _yield_cpu()
        self.policy.module.set_state(weights)
        self.policy.reseed(self.cfg.run.seed + iteration)
        lc = self.cfg.league
        env = self.cfg.env
        # One of the evaluation's own games: recording reads the arena and leaves the games (and metrics) as they are.
        recorder = GameRecorder((0,)) if lc.eval_record else None
        report = play_match(
            self.policy,
            builtin_policy(self.opponent, seed=iteration),
            env,
            lc.eval_games,
            self.opponent,
            self.rating,
            seed=iteration,
            arenas=lc.eval_games,
            record=recorder,
            player_name=f"main @ iter {iteration}",
        )
        out = EvalResult(iteration, report.metrics(EVAL_PREFIX))
        if recorder is not None:
            t1 = time.perf_counter()
            replay = recorder.replay(env.team_size, env.step_seconds, env.game_timeout_s)
            out.clip, out.replay = render_gif(replay), replay.to_json()
            out.metrics["perf/league_eval_clip_s"] = time.perf_counter() - t1
        out.metrics[f"{EVAL_PREFIX}_iteration"] = float(iteration)
        out.metrics["perf/league_eval_s"] = time.perf_counter() - t0
        return out


class LeagueDriver:
    """Runs the league for one training run (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, run_name: str, algo: Any, state: dict[str, Any] | None = None):
        import ray

        self.ray = ray
        self.cfg = cfg
        self.run_dir = run_dir
        self.algo = algo
        self.anchor_ratings = anchor_ratings(cfg)
        (run_dir / LEAGUE_DIR / "snapshots").mkdir(parents=True, exist_ok=True)
        self.actor = start_league_actor(cfg.league, self.anchor_ratings, run_dir, run_name, state)
        self.name = actor_name(run_name)
        self.resume_info = ray.get(self.actor.resume_info.remote())
        self._evaluator: Any = None
        self._eval_pending: Any = None
        self._eval_queued: tuple[int, dict[str, Any]] | None = None
        self.eval_skipped = 0
        self.latest_clip: list[Path] = []  # the newest evaluation clip and its replay, once one was recorded
        self.push_plan()

    # ------------------------------------------------------------------------------------------- plan

    def push_plan(self) -> float:
        """Send the current plan to every env runner (they fetch new snapshots' weights from the actor
        themselves). Returns the seconds it took."""
        t0 = time.perf_counter()
        plan = self.ray.get(self.actor.plan.remote())
        plan.update(actor=self.name, namespace=NAMESPACE)
        self.algo.env_runner_group.foreach_env_runner(lambda r: r.set_league_plan(plan), local_env_runner=True)
        return time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------- iterations

    def check_alive(self) -> None:
        """Raise Ray's ``RayActorError`` if the league actor is gone."""
        self.ray.get(self.actor.resume_info.remote())

    def before_iteration(self, iteration: int) -> None:
        """Games reported from now on belong to ``iteration``."""
        self.ray.get(self.actor.begin_iteration.remote(iteration))

    def after_iteration(self, iteration: int, env_steps: int) -> dict[str, float]:
        """Snapshot, prune, refit, re-plan, start/collect the evaluation; returns ``league/…`` and
        ``perf/league_…`` metrics."""
        ray, actor = self.ray, self.actor
        t0 = time.perf_counter()
        weights = None
        if ray.get(actor.snapshot_due.remote(iteration)):
            weights = main_weights(self.algo)
            added = ray.get(actor.add_snapshot.remote(iteration, env_steps))
            path = snapshot_file(self.run_dir, added["member"])
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump(weights, f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        ray.get(actor.end_iteration.remote(iteration))
        ray.get(actor.prune.remote(iteration))
        push_s = self.push_plan()
        out = ray.get(actor.metrics.remote())
        for finished in self.collect_evaluation(wait=False):
            out.update(finished)
        every = self.cfg.league.eval_every_n_iterations
        if every and iteration % every == 0:
            self.start_evaluation(iteration, weights)
        if every:
            # every iteration, so an evaluation that never finishes shows (running stays 1, skipped grows)
            out["league/eval_running"] = float(self._eval_pending is not None)
            out["league/eval_skipped"] = float(self.eval_skipped)
        out["perf/league_time_s"] = time.perf_counter() - t0
        out["perf/league_push_s"] = push_s
        return out

    # ------------------------------------------------------------------------------------------- evaluation

    def start_evaluation(self, iteration: int, weights: dict[str, Any] | None = None) -> None:
        """Evaluate main's current weights: at once if the evaluation actor is free, else as soon as it is (one
        evaluation waits at most; a newer one replaces it, and ``league/eval_skipped`` counts the replaced)."""
        job = (iteration, weights if weights is not None else main_weights(self.algo))
        if self._eval_pending is None:
            self._launch(*job)
            return
        if self._eval_queued is not None:
            self.eval_skipped += 1
        self._eval_queued = job

    def _launch(self, iteration: int, weights: dict[str, Any]) -> None:
        if self._evaluator is None:
            lc = self.cfg.league
            worker = self.ray.remote(num_cpus=0)(EvalWorker)
            # The evaluation plays the top-level env: its opponent's rating is the one for that team size.
            rating = builtin_ratings(self.cfg.env.team_size, lc.anchor_ratings)[lc.eval_opponent]
            self._evaluator = worker.remote(self.cfg.to_plain(), lc.eval_opponent, rating)
        self._eval_pending = self._evaluator.evaluate.remote(weights, iteration)

    def collect_evaluation(self, wait: bool) -> list[dict[str, float]]:
        """Metrics of the evaluations that finished (at most one without ``wait``; with it, every pending one)."""
        out: list[dict[str, float]] = []
        while self._eval_pending is not None:
            done, _ = self.ray.wait([self._eval_pending], timeout=None if wait else 0)
            if not done:
                break
            result: EvalResult = self.ray.get(self._eval_pending)
            self._write_clip(result)
            metrics = result.metrics
            metrics["league/eval_skipped"] = float(self.eval_skipped)
            out.append(metrics)
            self._eval_pending = None
            if self._eval_queued is not None:
                self._launch(*self._eval_queued)
                self._eval_queued = None
            if not wait:
                break
        return out

    def _write_clip(self, result: EvalResult) -> None:
        if result.clip is None or result.replay is None:
            return
        from rl_bot.clip import eval_clip_file, replay_path

        gif = eval_clip_file(self.run_dir, result.iteration)
        gif.parent.mkdir(parents=True, exist_ok=True)
        gif.write_bytes(result.clip)
        replay = replay_path(gif)
        replay.write_text(result.replay)
        self.latest_clip = [gif, replay]

    # ------------------------------------------------------------------------------------------- persistence

    def save(self, ckpt_dir: Path) -> None:
        """Write the league state into a checkpoint folder being assembled."""
        state = self.ray.get(self.actor.state.remote())
        (ckpt_dir / LEAGUE_STATE_FILE).write_text(json.dumps(state))

    def restore(self, state: dict[str, Any]) -> dict[str, int]:
        """Continue from a checkpoint's league state; sends the restored plan to the env runners. Returns what the
        resume did to the league files (``resume_info``)."""
        self.resume_info = self.ray.get(self.actor.load_state.remote(state))
        self.push_plan()
        return self.resume_info

    def write_artifacts(self) -> list[Path]:
        """Refresh ``table.csv`` and ``elo.png``; returns the files (and ``games.csv`` if any game was recorded,
        and the newest evaluation clip with its replay if one was recorded)."""
        ray = self.ray
        out_dir = self.run_dir / LEAGUE_DIR
        table = out_dir / "table.csv"
        with table.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(League.TABLE_FIELDS)
            w.writerows(ray.get(self.actor.table.remote()))
        png = out_dir / "elo.png"
        plot_elo(ray.get(self.actor.history.remote()), self.anchor_ratings, self.cfg, png)
        files = [table, png]
        games = out_dir / "games.csv"
        if games.exists():
            files.append(games)
        return files + self.latest_clip

    def stop(self) -> None:
        """End the actors (the league state lives on in the checkpoints)."""
        self.ray.kill(self.actor)
        if self._evaluator is not None:
            self.ray.kill(self._evaluator)


def plot_elo(history: list[dict[str, Any]], anchors: dict[str, float], cfg: TrainConfig, path: Path) -> None:
    """main's fitted rating per iteration with its 95 % band, each snapshot's rating while in the pool, and the
    built-in opponents of the pool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    its = [h["iteration"] for h in history]
    ax.fill_between(
        its, [h["elo_main_low"] for h in history], [h["elo_main_high"] for h in history], color="black", alpha=0.15
    )
    ax.plot(its, [h["elo_main"] for h in history], color="black", lw=2, label="main (95 % band)")
    members = sorted({m for h in history for m in h["ratings"]} - set(anchors))
    for m in members:
        pts = [(h["iteration"], h["ratings"][m]) for h in history if m in h["ratings"]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1, alpha=0.8, label=m)
    styles = {"rule": ("tab:red", "--"), "rule-basic": ("tab:orange", "-."), "random": ("tab:gray", ":")}
    for name in cfg.league.opponents:
        color, ls = styles.get(name, ("tab:blue", "--"))
        ax.axhline(anchors[name], color=color, ls=ls, lw=1, label=f"{name} (anchor)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("rating (Elo scale)")
    ax.set_title("League ratings (refitted from all rated games after every iteration)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
