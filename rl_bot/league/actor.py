"""``LeagueManager``: the named Ray actor around :class:`~rl_bot.league.league.League`.

Env runners report finished games to it; the training driver asks it for snapshot decisions, the sampling plan,
metrics and its state (saved with every checkpoint). It appends every rated game to ``RUN_DIR/league/games.csv``,
so it is pinned to the driver's node, where the run directory is.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import ray

from rl_bot.config import LeagueConfig
from rl_bot.league.league import GameRecord, League

NAMESPACE = "rl_bot"


def actor_name(run_name: str) -> str:
    """The actor's registered name for a run (env runners look it up by this name)."""
    return f"league:{run_name}"


class LeagueManager:
    """Thin remote wrapper: every method is one call on the league core, plus the game CSV."""

    def __init__(self, cfg: dict[str, Any], games_csv: str, state: dict[str, Any] | None = None):
        lc = LeagueConfig.model_validate(cfg)
        self.league = League.from_state(lc, state) if state else League(lc)
        self.csv_path = Path(games_csv)

    def begin_iteration(self, iteration: int) -> None:
        """Games reported from now on were played during ``iteration``."""
        self.league.iteration = iteration

    def report_games(self, games: list[dict[str, Any]], selfplay: int = 0) -> int:
        """Rate finished games (``opponent``, ``goals_main``, ``goals_opponent``, ``main_version``) and append them
        to the CSV; ``selfplay`` counts games against main itself (not rated). Returns the games rated."""
        records: list[GameRecord] = [
            self.league.record_game(g["opponent"], g["goals_main"], g["goals_opponent"], g.get("main_version", 0))
            for g in games
        ]
        self.league.selfplay_games += int(selfplay)
        if records:
            new = not self.csv_path.exists()
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            with self.csv_path.open("a", newline="") as f:
                w = csv.writer(f)
                if new:
                    w.writerow(GameRecord.FIELDS)
                w.writerows(r.row() for r in records)
        return len(records)

    def snapshot_due(self, iteration: int) -> str | None:
        """Why main should be snapshotted now, or None."""
        return self.league.snapshot_due(iteration)

    def add_snapshot(self, iteration: int, env_steps: int) -> dict[str, Any]:
        """Add a snapshot member; returns its id, module slot and the ids it displaced."""
        member, evicted = self.league.add_snapshot(iteration, env_steps)
        return {"member": member.id, "module": member.module, "evicted": [m.id for m in evicted]}

    def prune(self, iteration: int) -> list[str]:
        """Retire weak snapshots; returns their ids."""
        return [m.id for m in self.league.prune(iteration)]

    def end_iteration(self, iteration: int) -> None:
        """Record the iteration's ratings in the history."""
        self.league.end_iteration(iteration)

    def plan(self) -> dict[str, Any]:
        """Per-episode opponent-module probabilities and the member each module plays."""
        return self.league.plan()

    def metrics(self) -> dict[str, float]:
        """``league/…`` metrics."""
        return self.league.metrics()

    def table(self) -> list[list[Any]]:
        """League table rows."""
        return self.league.table()

    def history(self) -> list[dict[str, Any]]:
        """Ratings after every iteration."""
        return self.league.history

    def state(self) -> dict[str, Any]:
        """The league state as plain data."""
        return self.league.state()


def start_league_actor(cfg: LeagueConfig, run_dir: Path, run_name: str, state: dict[str, Any] | None) -> Any:
    """Create the named actor on this (the driver's) node; it holds no CPU."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    cls = ray.remote(num_cpus=0)(LeagueManager)
    return cls.options(
        name=actor_name(run_name),
        namespace=NAMESPACE,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
    ).remote(cfg.model_dump(mode="json"), str(run_dir / "league" / "games.csv"), state)
