"""RLlib ``MultiAgentEnv`` adapter around :class:`~rl_bot.env.game.RLGymGame` (new API stack)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from rl_bot.config import EnvConfig
from rl_bot.env.game import NUM_ACTIONS, RLGymGame

ENV_NAME = "rl_bot_rocket_league"


SUMMARY_KEY = "episode_summary"


def episode_summary(episode: Any) -> dict[str, float] | None:
    """The summary both env backends put in a finished episode's last infos (``EpisodeStats.as_info``), or None."""
    infos = episode.get_infos(-1)
    return next((i[SUMMARY_KEY] for i in infos.values() if i and SUMMARY_KEY in i), None)


def derive_seed(base_seed: int, worker_index: int, vector_index: int) -> np.random.SeedSequence:
    """Independent, reproducible stream per (base seed, env runner, sub-env)."""
    return np.random.SeedSequence([base_seed, worker_index, vector_index])


def done_dicts(agents: Any, terminated: bool, truncated: bool) -> tuple[dict[str, bool], dict[str, bool]]:
    """The ``terminateds`` and ``truncateds`` dicts of one env step in which every car ends together.

    A truncated game (a timeout) is flagged by ``"__all__"`` only. RLlib 2.60's ``MultiAgentEpisode.add_env_step``
    declares an episode *terminated* once every agent has its own done flag, truncated ones included; the learner's
    GAE then treats a timeout like a goal and drops the value of the last observation. A goal (terminated) is
    flagged for every car.
    """
    terms = dict.fromkeys(agents, terminated)
    terms["__all__"] = terminated
    return terms, {"__all__": truncated}


class RocketLeagueEnv(MultiAgentEnv):
    """Rocket League (RocketSim) as an RLlib multi-agent env: every car is an agent, all act every step.

    ``env_config`` keys: ``env`` (an :class:`EnvConfig` as a dict), ``seed`` (base seed). RLlib adds
    ``worker_index`` (EnvContext). RLlib's vector env seeds sub-env ``i`` of runner ``w`` with
    ``seed + w + i``; we recover ``i`` from that and derive ``SeedSequence([seed, w, i])`` so that runners
    never share a stream.
    """

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        config = config if config is not None else {}
        # EnvContext is a dict subclass carrying worker_index as an attribute: read it before copying.
        self.worker_index = int(getattr(config, "worker_index", 0) or 0)
        self.env_cfg = EnvConfig.model_validate(config.get("env", {}))
        self.base_seed = int(config.get("seed", 0))
        self.game = RLGymGame(self.env_cfg)
        self.possible_agents = list(self.game.agents)
        self.agents = list(self.possible_agents)
        obs_space = gym.spaces.Box(-np.inf, np.inf, (self.game.obs_size,), np.float32)
        act_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: act_space for a in self.possible_agents}
        self._seeded = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            vector_index = max(0, int(seed) - self.base_seed - self.worker_index)
            self.game.seed(derive_seed(self.base_seed, self.worker_index, vector_index))
            self._seeded = True
        elif not self._seeded:
            self.game.seed(derive_seed(self.base_seed, self.worker_index, 0))
            self._seeded = True
        obs = self.game.reset()
        self.agents = list(self.possible_agents)
        return obs, {a: {} for a in obs}

    def step(self, action_dict: dict[str, Any]):
        # LookupTableAction wants >= 1-D arrays; RLlib hands numpy/int scalars.
        actions = {a: np.atleast_1d(np.asarray(act, dtype=np.int64)) for a, act in action_dict.items()}
        obs, rewards, terminated, truncated = self.game.step(actions)
        done = terminated or truncated
        terms, truncs = done_dicts(obs, terminated, truncated)
        infos: dict[str, dict] = {a: {} for a in obs}
        if done:
            summary = self.game.stats.as_info(self.env_cfg.step_seconds)
            for a in obs:
                infos[a][SUMMARY_KEY] = summary
        return obs, rewards, terms, truncs, infos

    def close(self) -> None:
        self.game.close()
