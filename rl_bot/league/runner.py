"""The league inside env runners: which module plays orange in each episode, frozen opponent weights, and the
results of finished games on their way to the :mod:`~rl_bot.league.actor`.

``LeagueEnvRunner`` is RLlib's ``MultiAgentEnvRunner`` with three additions, all inert until the driver sends a
plan with :meth:`LeagueEnvRunner.set_league_plan`:

- every new episode draws the module that plays its whole orange team (``main`` with ``main_share``, else a pool
  member by the plan's probabilities) and notes the member it plays; the episode keeps both to its end, across
  ``sample()`` calls;
- snapshot slots: when the plan puts a new snapshot in a slot, the runner fetches its weights from the league actor
  and loads them only once no running game uses the slot (until then new games do not draw it). So a game always
  ends against the weights it started with, and no game is ever cut short for a pool change;
- finished games are noted by :class:`LeagueGamesCallback` with the member they were played against (also if it
  left the pool meanwhile) and sent to the league actor once per ``sample()`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

from rl_bot.env.rllib_env import episode_summary
from rl_bot.league.league import MAIN, SLOT_PREFIX

ORANGE_PREFIX = "orange"


@dataclass(frozen=True)
class OrangeAssignment:
    """Agent-to-module mapping of one episode: blue cars play ``main``, every orange car plays ``module``.

    A small picklable object rather than a runner method: episodes carry their mapping function when they are
    shipped to the learner, and RLlib copies it to every chunk of the episode.
    """

    module: str

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        return self.module if str(agent_id).startswith(ORANGE_PREFIX) else MAIN


def draw_module(module_probs: dict[str, float], ready: set[str], u: float) -> str:
    """The module for a new episode: ``main`` keeps its share; the pool share goes to the members whose module is
    ready, in proportion to their probabilities (all of it to ``main`` if none is). ``u`` is uniform in [0, 1)."""
    share = module_probs.get(MAIN, 1.0)
    pool = [(m, p) for m, p in module_probs.items() if m != MAIN and m in ready and p > 0]
    total = sum(p for _, p in pool)
    if u < share or total <= 0:
        return MAIN
    x = (u - share) / (1.0 - share) * total
    for module, p in pool:
        x -= p
        if x < 0:
            return module
    return pool[-1][0]


class LeagueEnvRunner(MultiAgentEnvRunner):
    """Multi-agent env runner that plays the orange team with league-sampled opponent modules."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.league_plan: dict[str, Any] | None = None
        self._league_games: list[dict[str, Any]] = []
        self._league_selfplay = 0
        self._league_actor: Any = None
        self._league_rng = np.random.default_rng([int(self.config.seed or 0), int(self.worker_index or 0), 7919])
        #: episode id -> (module, member) of every game in flight
        self._league_episodes: dict[str, tuple[str, str]] = {}
        self._slot_loaded: dict[str, str] = {}  # slot -> member whose weights it holds
        self._slot_pending: dict[str, tuple[str, Any]] = {}  # slot -> (member, weights) to load once it is idle

    # ------------------------------------------------------------------------------------------- plan

    def set_league_plan(self, plan: dict[str, Any]) -> None:
        """Install a plan (``module_probs``, ``module_members``, ``actor``, ``namespace``); fetch the weights of
        snapshots new to a slot from the league actor and load those whose slot no running game uses."""
        self.league_plan = plan
        for slot, member in plan["module_members"].items():
            if not slot.startswith(SLOT_PREFIX) or self._slot_loaded.get(slot) == member:
                self._slot_pending.pop(slot, None)
                continue
            if self._slot_pending.get(slot, ("",))[0] != member:
                self._slot_pending[slot] = (member, ray.get(self._actor().snapshot_weights.remote(member)))
        self._load_idle_slots()

    def league_status(self) -> dict[str, Any]:
        """What the runner holds: loaded and pending slots, games in flight per module (for tests and debugging)."""
        in_flight: dict[str, int] = {}
        for module, _ in self._league_episodes.values():
            in_flight[module] = in_flight.get(module, 0) + 1
        return {"loaded": dict(self._slot_loaded), "pending": sorted(self._slot_pending), "in_flight": in_flight}

    def _actor(self) -> Any:
        if self._league_actor is None:
            plan = self.league_plan
            self._league_actor = ray.get_actor(plan["actor"], namespace=plan["namespace"])
        return self._league_actor

    def _load_idle_slots(self) -> None:
        if not self._slot_pending:
            return
        busy = {module for module, _ in self._league_episodes.values()}
        for slot in [s for s in self._slot_pending if s not in busy]:
            member, weights = self._slot_pending.pop(slot)
            if self.module is not None:
                self.module[slot].set_state(weights)
            self._slot_loaded[slot] = member

    def _ready_modules(self) -> set[str]:
        members = self.league_plan["module_members"]
        return {
            m
            for m, member in members.items()
            if not m.startswith(SLOT_PREFIX) or (self._slot_loaded.get(m) == member and m not in self._slot_pending)
        }

    def assign_league_opponent(self, episode: Any) -> None:
        """Draw the module that plays the orange team of a new episode and note the member it plays."""
        plan = self.league_plan
        if plan is None:
            return
        self._load_idle_slots()
        module = draw_module(plan["module_probs"], self._ready_modules(), float(self._league_rng.random()))
        episode.agent_to_module_mapping_fn = OrangeAssignment(module)
        self._league_episodes[episode.id_] = (module, plan["module_members"].get(module, MAIN))

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        if self.league_plan is not None:
            # Games dropped by a reset (an env failure) never end: forget them so their slots can change.
            live = {e.id_ for e in self._ongoing_episodes if e is not None}
            for eid in [e for e in self._league_episodes if e not in live]:
                del self._league_episodes[eid]
            self._load_idle_slots()
        return super().sample(*args, **kwargs)

    # ------------------------------------------------------------------------------------------- results

    def record_league_game(self, episode: Any) -> None:
        """Note a finished episode's result (from the env's episode summary) for the league actor."""
        entry = self._league_episodes.pop(episode.id_, None)
        if entry is None:
            return
        module, member = entry
        summary = episode_summary(episode)
        if summary is None:
            return
        if module == MAIN:
            self._league_selfplay += 1
            return
        self._league_games.append(
            {
                "opponent": member,
                "goals_main": int(summary["goals_blue"]),
                "goals_opponent": int(summary["goals_orange"]),
                "end": summary["end"],
                "main_version": int(getattr(self, "_weights_seq_no", 0)),
            }
        )

    def flush_league_games(self) -> int:
        """Send the games noted since the last flush to the league actor (waits for it); returns how many."""
        games, selfplay = self._league_games, self._league_selfplay
        if self.league_plan is None or (not games and not selfplay):
            return 0
        # Wait for the actor: the driver's end-of-iteration calls must see every game of the iteration.
        ray.get(self._actor().report_games.remote(games, selfplay))
        self._league_games, self._league_selfplay = [], 0
        return len(games)


class LeagueGamesCallback(RLlibCallback):
    """Draws each new episode's opponent (:meth:`LeagueEnvRunner.assign_league_opponent`), hands finished episodes
    to :meth:`LeagueEnvRunner.record_league_game`, and flushes the results after each sample."""

    def on_episode_created(self, *, episode: Any, env_runner: Any = None, **kwargs: Any) -> None:
        if isinstance(env_runner, LeagueEnvRunner):
            env_runner.assign_league_opponent(episode)

    def on_episode_end(self, *, episode: Any, env_runner: Any = None, **kwargs: Any) -> None:
        if isinstance(env_runner, LeagueEnvRunner):
            env_runner.record_league_game(episode)

    def on_sample_end(self, *, env_runner: Any = None, **kwargs: Any) -> None:
        if isinstance(env_runner, LeagueEnvRunner):
            env_runner.flush_league_games()
