"""The league on the training driver's side: the actor's lifecycle, snapshots of ``main`` taken from the learner,
the plan sent to env runners, periodic evaluation against the rule bot, state in checkpoints, artifacts.

Files under ``RUN_DIR/league/``: ``games.csv`` (every rated game, written by the actor),
``snapshots/<id>.pkl`` (main's learner weights when the snapshot was taken, never overwritten), ``table.csv`` and
``elo.png`` (refreshed at every checkpoint). Each checkpoint folder gets ``league_state.json``, which ``--resume``
restores.
"""

from __future__ import annotations

import csv
import json
import pickle
import time
from pathlib import Path
from typing import Any

from rl_bot.checkpoints import LEAGUE_STATE_FILE
from rl_bot.config import TrainConfig
from rl_bot.league.actor import NAMESPACE, actor_name, start_league_actor
from rl_bot.league.league import MAIN, SLOT_PREFIX, League

LEAGUE_DIR = "league"


def snapshot_file(run_dir: Path, member_id: str) -> Path:
    """Where a snapshot's weights live."""
    return run_dir / LEAGUE_DIR / "snapshots" / f"{member_id}.pkl"


def load_snapshot(path: Path) -> dict[str, Any]:
    """A snapshot's module state (numpy arrays; loads into main's architecture, inference-only or not)."""
    with path.open("rb") as f:
        return pickle.load(f)


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


class LeagueDriver:
    """Runs the league for one training run (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, run_name: str, algo: Any, state: dict[str, Any] | None):
        import ray

        self.ray = ray
        self.cfg = cfg
        self.run_dir = run_dir
        self.algo = algo
        (run_dir / LEAGUE_DIR / "snapshots").mkdir(parents=True, exist_ok=True)
        self.actor = start_league_actor(cfg.league, run_dir, run_name, state)
        self.name = actor_name(run_name)
        self.version = 0
        self.slot_content: dict[str, str] = {}  # snapshot slot -> member id loaded in the env runners
        self._eval_policy: Any = None
        self.push_plan()

    # ------------------------------------------------------------------------------------------- plan

    def push_plan(self) -> float:
        """Send the current plan, and the weights of slots whose snapshot changed, to every env runner.
        Returns the seconds it took."""
        t0 = time.perf_counter()
        ray = self.ray
        plan = ray.get(self.actor.plan.remote())
        changed = {
            mod: mid
            for mod, mid in plan["module_members"].items()
            if mod.startswith(SLOT_PREFIX) and self.slot_content.get(mod) != mid
        }
        weights = {mod: load_snapshot(snapshot_file(self.run_dir, mid)) for mod, mid in changed.items()}
        if weights:
            # The learner's copy is what RLlib syncs to env runners after every update (PPO syncs every module
            # that appears in the learner results, frozen ones included): it must hold the snapshot too.
            self.algo.learner_group.set_weights(weights)
        self.version += 1
        plan.update(
            version=self.version,
            actor=self.name,
            namespace=NAMESPACE,
            # A reused slot would switch the opponent of games in flight: start fresh games instead.
            reset=any(mod in self.slot_content for mod in changed),
        )
        ref = ray.put(weights)
        self.algo.env_runner_group.foreach_env_runner(
            lambda r: r.set_league_plan(plan, ray.get(ref)), local_env_runner=True
        )
        self.slot_content.update(changed)
        return time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------- iterations

    def before_iteration(self, iteration: int) -> None:
        """Games reported from now on belong to ``iteration``."""
        self.ray.get(self.actor.begin_iteration.remote(iteration))

    def after_iteration(self, iteration: int, env_steps: int) -> dict[str, float]:
        """Snapshot, prune, re-plan, evaluate; returns ``league/…`` and ``perf/league_…`` metrics."""
        ray, actor = self.ray, self.actor
        t0 = time.perf_counter()
        if ray.get(actor.snapshot_due.remote(iteration)):
            weights = main_weights(self.algo)
            added = ray.get(actor.add_snapshot.remote(iteration, env_steps))
            path = snapshot_file(self.run_dir, added["member"])
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump(weights, f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        ray.get(actor.prune.remote(iteration))
        ray.get(actor.end_iteration.remote(iteration))
        push_s = self.push_plan()
        out = ray.get(actor.metrics.remote())
        every = self.cfg.league.eval_every_n_iterations
        if every and iteration % every == 0:
            out.update(self.evaluate_vs_rule(iteration))
        out["perf/league_time_s"] = time.perf_counter() - t0
        out["perf/league_push_s"] = push_s
        return out

    def evaluate_vs_rule(self, iteration: int) -> dict[str, float]:
        """Play ``league.eval_games`` real games of main (sampled actions) against the rule bot."""
        from rl_bot.algo import inference_module
        from rl_bot.evaluate import ModulePolicy, RulePolicy, play_match

        if self._eval_policy is None:
            self._eval_policy = ModulePolicy(inference_module(self.cfg), explore=True, seed=self.cfg.run.seed)
        self._eval_policy.module.set_state(main_weights(self.algo))
        self._eval_policy.gen.manual_seed(self.cfg.run.seed + iteration)
        lc = self.cfg.league
        t0 = time.perf_counter()
        report = play_match(
            self._eval_policy, RulePolicy(), self.cfg.env, lc.eval_games, "rule", lc.rule_rating, seed=iteration
        )
        lo, hi = report.win_rate_ci
        return {
            "league/eval_winrate_vs_rule": report.win_rate,
            "league/eval_winrate_vs_rule_ci_low": lo,
            "league/eval_winrate_vs_rule_ci_high": hi,
            "league/eval_score_vs_rule": report.score_rate,
            "league/eval_elo_vs_rule": report.elo,
            "perf/league_eval_s": time.perf_counter() - t0,
        }

    # ------------------------------------------------------------------------------------------- persistence

    def save(self, ckpt_dir: Path) -> None:
        """Write the league state into a checkpoint folder being assembled."""
        state = self.ray.get(self.actor.state.remote())
        (ckpt_dir / LEAGUE_STATE_FILE).write_text(json.dumps(state))

    def write_artifacts(self) -> list[Path]:
        """Refresh ``table.csv`` and ``elo.png``; returns the files (and ``games.csv`` if any game was rated)."""
        ray = self.ray
        out_dir = self.run_dir / LEAGUE_DIR
        table = out_dir / "table.csv"
        with table.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(League.TABLE_FIELDS)
            w.writerows(ray.get(self.actor.table.remote()))
        png = out_dir / "elo.png"
        plot_elo(ray.get(self.actor.history.remote()), self.cfg, png)
        files = [table, png]
        games = out_dir / "games.csv"
        if games.exists():
            files.append(games)
        return files

    def stop(self) -> None:
        """End the actor (its state lives on in the checkpoints)."""
        self.ray.kill(self.actor)


def plot_elo(history: list[dict[str, Any]], cfg: TrainConfig, path: Path) -> None:
    """main's rating per iteration, each snapshot's rating while in the pool, and the anchors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    its = [h["iteration"] for h in history]
    ax.plot(its, [h["elo_main"] for h in history], color="black", lw=2, label="main")
    members = sorted({m for h in history for m in h["ratings"]} - {"rule", "random"})
    for m in members:
        pts = [(h["iteration"], h["ratings"][m]) for h in history if m in h["ratings"]]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1, alpha=0.8, label=m)
    ax.axhline(cfg.league.rule_rating, color="tab:red", ls="--", lw=1, label="rule (anchor)")
    if cfg.league.include_random:
        ax.axhline(cfg.league.random_rating, color="tab:gray", ls=":", lw=1, label="random (anchor)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("Elo")
    ax.set_title("League ratings")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
