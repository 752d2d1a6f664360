"""The league inside env runners: which module plays orange in each episode, frozen opponent weights, and the
results of finished games on their way to the :mod:`~rl_bot.league.actor`.

``LeagueEnvRunner`` is RLlib's ``MultiAgentEnvRunner`` with three additions, all inert until the driver sends a
plan with :meth:`LeagueEnvRunner.set_league_plan`:

- every new episode gets a mapping function that sends blue cars to ``main`` and all orange cars to one module
  drawn from the plan's probabilities (``main``, ``rule``, ``random`` or a snapshot slot ``opp_<k>``);
- the plan brings the weights of snapshot slots that changed; when a slot is *reused* for a new snapshot, the
  next ``sample()`` force-resets the envs, so no game in flight switches opponent halfway;
- finished games against pool members are collected by :class:`LeagueGamesCallback` and sent to the league actor
  once per ``sample()`` call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

from rl_bot.env.rllib_env import episode_summary
from rl_bot.league.league import MAIN

ORANGE_PREFIX = "orange"


@dataclass(frozen=True)
class OrangeMapping:
    """Agent-to-module mapping of one plan: blue cars play ``main``; all orange cars of an episode play one module
    drawn from ``module_probs``, keyed by the plan version and episode id so every orange car gets the same.

    A small picklable object rather than a runner method: episodes carry their mapping function when they are
    shipped to the learner.
    """

    version: int
    module_probs: tuple[tuple[str, float], ...]

    def module_for_episode(self, episode_id: str) -> str:
        """The module playing orange in this episode."""
        u = random.Random(f"{self.version}:{episode_id}").random()
        acc, last = 0.0, MAIN
        for module, prob in self.module_probs:
            if prob <= 0:
                continue
            acc += prob
            last = module
            if u < acc:
                return module
        return last

    def __call__(self, agent_id: Any, episode: Any, **kwargs: Any) -> str:
        if str(agent_id).startswith(ORANGE_PREFIX):
            return self.module_for_episode(episode.id_)
        return MAIN


class LeagueEnvRunner(MultiAgentEnvRunner):
    """Multi-agent env runner that plays the orange team with league-sampled opponent modules."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.league_plan: dict[str, Any] | None = None
        self._league_force_reset = False
        self._league_games: list[dict[str, Any]] = []
        self._league_selfplay = 0
        self._league_actor: Any = None
        self._league_mapping = OrangeMapping(0, ((MAIN, 1.0),))

    # ------------------------------------------------------------------------------------------- plan

    def set_league_plan(self, plan: dict[str, Any], slot_weights: dict[str, Any]) -> None:
        """Install the plan (``version``, ``module_probs``, ``module_members``, ``actor``, ``namespace``,
        ``reset``) and load the given snapshot slots' weights."""
        if self.module is not None:
            for slot, weights in slot_weights.items():
                self.module[slot].set_state(weights)
        self.league_plan = plan
        self._league_mapping = OrangeMapping(plan["version"], tuple(plan["module_probs"].items()))
        self._league_force_reset |= bool(plan.get("reset"))

    def _new_episode(self, env_index: int, episodes: list | None = None) -> None:
        super()._new_episode(env_index, episodes)
        episodes = episodes if episodes is not None else self._ongoing_episodes
        # Cut chunks copy the agent->module assignment, so the episode keeps its opponent to the end.
        episodes[env_index].agent_to_module_mapping_fn = self._league_mapping

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        if self._league_force_reset:
            kwargs["force_reset"] = True
            self._league_force_reset = False
        return super().sample(*args, **kwargs)

    # ------------------------------------------------------------------------------------------- results

    def record_league_game(self, episode: Any) -> None:
        """Note a finished episode's result (from the env's episode summary) for the league actor."""
        plan = self.league_plan
        if plan is None:
            return
        orange = next((a for a in episode.agent_ids if str(a).startswith(ORANGE_PREFIX)), None)
        if orange is None:
            return
        summary = episode_summary(episode)
        if summary is None:
            return
        module = episode.module_for(orange)
        if module == MAIN:
            self._league_selfplay += 1
            return
        self._league_games.append(
            {
                "opponent": plan["module_members"][module],
                "goals_main": int(summary["goals_blue"]),
                "goals_opponent": int(summary["goals_orange"]),
                "main_version": int(getattr(self, "_weights_seq_no", 0)),
            }
        )

    def flush_league_games(self) -> int:
        """Send the games noted since the last flush to the league actor (waits for it); returns how many."""
        plan = self.league_plan
        games, selfplay = self._league_games, self._league_selfplay
        if plan is None or (not games and not selfplay):
            return 0
        if self._league_actor is None:
            self._league_actor = ray.get_actor(plan["actor"], namespace=plan["namespace"])
        # Wait for the actor: the driver's end-of-iteration calls must see every game of the iteration.
        ray.get(self._league_actor.report_games.remote(games, selfplay))
        self._league_games, self._league_selfplay = [], 0
        return len(games)


class LeagueGamesCallback(RLlibCallback):
    """Hands finished episodes to :meth:`LeagueEnvRunner.record_league_game`; flushes after each sample."""

    def on_episode_end(self, *, episode: Any, env_runner: Any = None, **kwargs: Any) -> None:
        if isinstance(env_runner, LeagueEnvRunner):
            env_runner.record_league_game(episode)

    def on_sample_end(self, *, env_runner: Any = None, **kwargs: Any) -> None:
        if isinstance(env_runner, LeagueEnvRunner):
            env_runner.flush_league_games()
