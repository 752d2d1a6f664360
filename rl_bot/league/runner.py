"""The league inside env runners: which module plays orange in each episode, frozen opponent weights, and the
results of finished games on their way to the :mod:`~rl_bot.league.actor`.

:class:`LeagueSide` is the part of :class:`~rl_bot.runner.RLBotEnvRunner` that does it, inert until the
training step sends a plan (and only used in stages whose opponents are the league):

- every new episode gets the module that plays its whole orange team: ``main`` with ``main_share`` (spread evenly
  over successive games), else the pool member the runner drew for its current round of ``league.round_steps`` env
  steps (by the plan's probabilities); it notes the member played, and the episode keeps both to its end, across
  ``sample()`` calls and rounds;
- snapshot slots: when the plan puts a new snapshot in a slot, the runner fetches its weights from the league actor
  and loads them only once no running game uses the slot (until then new games do not draw it). So a game always
  ends against the weights it started with, and no game is ever cut short for a pool change;
- finished games are noted (from the runner's ``on_episode_end``) with the member they were played against (also if it
  left the pool meanwhile) and sent to the league actor once per ``sample()`` call.

:class:`OrangeAssignment` is the episode mapping for every stage with a non-self opponent (a fixed bot too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from rl_bot.env.rllib_env import episode_summary
from rl_bot.league.assignment import OpponentBook
from rl_bot.league.league import MAIN

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


class LeagueSide:
    """The league's part of an env runner (composed into :class:`~rl_bot.runner.RLBotEnvRunner`): draws the
    orange module of new episodes from the plan, loads snapshot weights into idle slots, and sends finished games
    to the league actor. The bookkeeping is :class:`~rl_bot.league.assignment.OpponentBook`'s."""

    def __init__(self, seed: int, worker_index: int):
        self.games: list[dict[str, Any]] = []
        self.selfplay = 0
        self._actor_handle: Any = None
        self._namespace: tuple[str, str] | None = None
        self.rng = np.random.default_rng([int(seed), int(worker_index), 7919])
        self.book = OpponentBook(first_u=float(self.rng.random()))

    @property
    def plan(self) -> dict[str, Any] | None:
        """The plan installed last (None until the driver sends one: the league is inert)."""
        return self.book.plan

    def set_plan(self, plan: dict[str, Any], load_slot: Any) -> None:
        """Install a plan (``module_probs``, ``module_members``, ``actor``, ``namespace``); fetch the weights of
        snapshots new to a slot from the league actor and load those whose slot no running game uses."""
        if (plan["actor"], plan["namespace"]) != self._namespace:
            self._namespace, self._actor_handle = (plan["actor"], plan["namespace"]), None
        self.book.set_plan(plan, lambda member: ray.get(self._actor().snapshot_weights.remote(member)))
        self.book.load_idle(load_slot)

    def _actor(self) -> Any:
        if self._actor_handle is None:
            name, namespace = self._namespace
            self._actor_handle = ray.get_actor(name, namespace=namespace)
        return self._actor_handle

    def assign(self, episode: Any, load_slot: Any) -> None:
        """Draw the module that plays the orange team of a new episode and note the member it plays."""
        self.book.load_idle(load_slot)
        # u from a golden-ratio sequence rather than independent draws: any n successive games hold
        # (1 - main_share) n league games within two, so small batches do not pass with none.
        module = self.book.start(episode.id_, self.book.next_u())
        episode.agent_to_module_mapping_fn = OrangeAssignment(module)

    def before_sample(self, ongoing_ids: Any, load_slot: Any) -> None:
        """Forget games dropped by a reset (an env failure or a stage switch: they never end) so their slots can
        change; load idle slots; start a new round when due."""
        self.book.forget_all_but(ongoing_ids)
        self.book.load_idle(load_slot)
        if self.book.round_over():
            self.book.new_round(float(self.rng.random()))

    def after_sample(self, env_steps_per_env: float) -> None:
        """Advance the round by the env steps each env took."""
        self.book.advance(env_steps_per_env)

    def record(self, episode: Any, weights_seq_no: int) -> None:
        """Note a finished episode's result (from the env's episode summary) for the league actor."""
        entry = self.book.finish(episode.id_)
        summary = episode_summary(episode)
        if entry is None or summary is None:
            return
        module, member = entry
        if module == MAIN:
            self.selfplay += 1
            return
        self.games.append(
            {
                "opponent": member,
                "goals_main": int(summary["goals_blue"]),
                "goals_opponent": int(summary["goals_orange"]),
                "end": summary["end"],
                "main_version": int(weights_seq_no),
            }
        )

    def flush(self) -> int:
        """Send the games noted since the last flush to the league actor (waits for it); returns how many."""
        games, selfplay = self.games, self.selfplay
        if self.book.plan is None or (not games and not selfplay):
            return 0
        # Wait for the actor: the driver's end-of-iteration calls must see every game of the iteration.
        ray.get(self._actor().report_games.remote(games, selfplay))
        self.games, self.selfplay = [], 0
        return len(games)
