"""The league inside env runners: which module plays orange in each episode, frozen opponent weights, and the
results of finished games on their way to the :mod:`~rl_bot.league.actor`.

``LeagueEnvRunner`` is RLlib's ``MultiAgentEnvRunner`` with three additions, all inert until the driver sends a
plan with :meth:`LeagueEnvRunner.set_league_plan`:

- every new episode gets the module that plays its whole orange team: ``main`` with ``main_share`` (spread evenly
  over successive games), else the pool member the runner drew for its current round of ``league.round_steps`` env
  steps (by the plan's probabilities); it notes the member played, and the episode keeps both to its end, across
  ``sample()`` calls and rounds;
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


class LeagueEnvRunner(MultiAgentEnvRunner):
    """Multi-agent env runner that plays the orange team with league-sampled opponent modules; the bookkeeping is
    :class:`~rl_bot.league.assignment.OpponentBook`'s."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._league_games: list[dict[str, Any]] = []
        self._league_selfplay = 0
        self._league_actor: Any = None
        self._league_rng = np.random.default_rng([int(self.config.seed or 0), int(self.worker_index or 0), 7919])
        self.league = OpponentBook(first_u=float(self._league_rng.random()))

    @property
    def league_plan(self) -> dict[str, Any] | None:
        """The plan installed last (None until the driver sends one: the league is inert)."""
        return self.league.plan

    def set_league_plan(self, plan: dict[str, Any]) -> None:
        """Install a plan (``module_probs``, ``module_members``, ``actor``, ``namespace``); fetch the weights of
        snapshots new to a slot from the league actor and load those whose slot no running game uses."""
        self._league_namespace = (plan["actor"], plan["namespace"])
        self.league.set_plan(plan, lambda member: ray.get(self._actor().snapshot_weights.remote(member)))
        self.league.load_idle(self._load_slot)

    def league_status(self) -> dict[str, Any]:
        """What the runner holds: loaded and pending slots, games in flight per module (for tests and debugging)."""
        return self.league.status()

    def _actor(self) -> Any:
        if self._league_actor is None:
            name, namespace = self._league_namespace
            self._league_actor = ray.get_actor(name, namespace=namespace)
        return self._league_actor

    def _load_slot(self, slot: str, weights: Any) -> None:
        if self.module is not None:
            self.module[slot].set_state(weights)

    def assign_league_opponent(self, episode: Any) -> None:
        """Draw the module that plays the orange team of a new episode and note the member it plays."""
        if self.league.plan is None:
            return
        self.league.load_idle(self._load_slot)
        # u from a golden-ratio sequence rather than independent draws: any n successive games hold
        # (1 - main_share) n league games within two, so small batches do not pass with none.
        module = self.league.start(episode.id_, self.league.next_u())
        episode.agent_to_module_mapping_fn = OrangeAssignment(module)

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        if self.league.plan is not None:
            # Games dropped by a reset (an env failure) never end: forget them so their slots can change.
            self.league.forget_all_but(e.id_ for e in self._ongoing_episodes if e is not None)
            self.league.load_idle(self._load_slot)
            if self.league.round_over():
                self.league.new_round(float(self._league_rng.random()))
        episodes = super().sample(*args, **kwargs)
        if self.league.plan is not None:
            self.league.advance(sum(len(e) for e in episodes) / max(1, self.num_envs))
        return episodes

    # ------------------------------------------------------------------------------------------- results

    def record_league_game(self, episode: Any) -> None:
        """Note a finished episode's result (from the env's episode summary) for the league actor."""
        entry = self.league.finish(episode.id_)
        summary = episode_summary(episode)
        if entry is None or summary is None:
            return
        module, member = entry
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
        if self.league.plan is None or (not games and not selfplay):
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
