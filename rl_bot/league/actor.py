"""``LeagueManager``: the named Ray actor around :class:`~rl_bot.league.league.League`.

Env runners report finished games to it and fetch snapshot weights from it; the training driver asks it for
snapshot decisions, the sampling plan, metrics and its state (saved with every checkpoint). It owns the run's
league folder: it appends every game to ``RUN_DIR/league/games.csv`` and reads the snapshot files, so it is pinned
to the driver's node, where the run directory is.
What a resume does to those files is described in :mod:`rl_bot.league.files`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import ray

from rl_bot.config import LeagueConfig
from rl_bot.league.files import (
    GAMES_CSV,
    LEAGUE_DIR,
    highest_snapshot_on_disk,
    load_snapshot,
    snapshot_file,
    split_games_csv,
)
from rl_bot.league.league import GameRecord, League

NAMESPACE = "rl_bot"


def actor_name(run_name: str) -> str:
    """The actor's registered name for a run (env runners look it up by this name)."""
    return f"league:{run_name}"


class LeagueManager:
    """Thin remote wrapper: every method is one call on the league core, plus the run's league files."""

    def __init__(
        self,
        cfg: dict[str, Any],
        anchor_ratings: dict[str, float],
        run_dir: str,
        state: dict[str, Any] | None = None,
    ):
        self.cfg = LeagueConfig.model_validate(cfg)
        self.anchor_ratings = anchor_ratings
        self.run_dir = Path(run_dir)
        self.league_dir = self.run_dir / LEAGUE_DIR
        self.csv_path = self.league_dir / GAMES_CSV
        self.discarded_rows = 0
        self.league = League(self.cfg, anchor_ratings)
        self._weights: dict[str, Any] = {}
        if state:
            self.load_state(state)

    def load_state(self, state: dict[str, Any]) -> dict[str, int]:
        """Continue from a saved state (a resume): games recorded after it move to games.discarded.csv. Returns
        :meth:`resume_info`."""
        self.discarded_rows = split_games_csv(self.league_dir, int(state["iteration"]))
        self.league = League.from_state(self.cfg, self.anchor_ratings, state, highest_snapshot_on_disk(self.run_dir))
        self._weights = {}
        return self.resume_info()

    def begin_iteration(self, iteration: int) -> None:
        """Games reported from now on were played during ``iteration``."""
        self.league.iteration = iteration

    def report_games(self, games: list[dict[str, Any]], selfplay: int = 0) -> int:
        """Record finished games (``opponent``, ``goals_main``, ``goals_opponent``, ``end``, ``main_version``) and
        append them to the CSV; ``selfplay`` counts games against main itself (not rated). Returns the games
        recorded."""
        records: list[GameRecord] = [
            self.league.record_game(
                g["opponent"], g["goals_main"], g["goals_opponent"], g["end"], g.get("main_version", 0)
            )
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
        """Add a snapshot member (its file is already written); returns its id, slot and the ids it displaced."""
        member, evicted = self.league.add_snapshot(iteration, env_steps)
        return {"member": member.id, "module": member.module, "evicted": [m.id for m in evicted]}

    def snapshot_weights(self, member_id: str) -> dict[str, Any]:
        """A snapshot's weights, read once from its file (env runners call this when a slot gets a new member)."""
        if member_id not in self._weights:
            pool = {m.id for m in self.league.snapshots}
            self._weights = {k: v for k, v in self._weights.items() if k in pool}
            self._weights[member_id] = load_snapshot(snapshot_file(self.run_dir, member_id))
        return self._weights[member_id]

    def prune(self, iteration: int) -> list[str]:
        """Retire weak snapshots; returns their ids."""
        return [m.id for m in self.league.prune(iteration)]

    def retire(self, member_id: str, iteration: int, reason: str) -> None:
        """Take a snapshot out of the pool by hand (the prune rule does the same automatically)."""
        self.league.retire(self.league.find(member_id), iteration, reason)

    def end_iteration(self, iteration: int) -> None:
        """Refit the ratings; record the iteration's in the history."""
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

    def resume_info(self) -> dict[str, int]:
        """What the resume did to the league files: rows moved to games.discarded.csv, next snapshot number."""
        return {"discarded_rows": self.discarded_rows, "snapshots_taken": self.league.snapshots_taken}


def start_league_actor(
    cfg: LeagueConfig, anchor_ratings: dict[str, float], run_dir: Path, run_name: str, state: dict[str, Any] | None
) -> Any:
    """Create the named actor on this (the driver's) node; it holds no CPU."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    cls = ray.remote(num_cpus=0)(LeagueManager)
    return cls.options(
        name=actor_name(run_name),
        namespace=NAMESPACE,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
    ).remote(cfg.model_dump(mode="json"), anchor_ratings, str(run_dir), state)
