"""RLlib wiring for :class:`~rl_bot.env.batched.BatchedGame`: a ``VectorMultiAgentEnv`` whose sub-envs are the
arenas of one batched game (built by :class:`~rl_bot.runner.RLBotEnvRunner` for the batched backend).

RLlib's own vectorisation (``SyncVectorMultiAgentEnv``) steps ``num_envs_per_env_runner`` separate env objects
one by one and deep-copies every observation dict; here one object steps all arenas and builds all observations
with numpy.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.vector.vector_multi_agent_env import VectorMultiAgentEnv

from rl_bot.config import EnvConfig
from rl_bot.env.batched import OBS_SIZE, BatchedGame
from rl_bot.env.game import NUM_ACTIONS
from rl_bot.env.rllib_env import SUMMARY_KEY, derive_seed, done_dicts


class ArenaView(MultiAgentEnv):
    """What RLlib asks of a sub-env (agent ids and spaces); the stepping happens in the vector env."""

    def __init__(self, agents: list[str], obs_space: gym.Space, act_space: gym.Space):
        super().__init__()
        self.possible_agents = list(agents)
        self.agents = list(agents)
        self.observation_spaces = {a: obs_space for a in agents}
        self.action_spaces = {a: act_space for a in agents}


class BatchedRocketLeagueVectorEnv(VectorMultiAgentEnv):
    """``num_envs`` RocketSim arenas stepped together; next-step auto-reset like RLlib's sync vector env."""

    metadata = {"autoreset_mode": "next_step"}

    def __init__(self, config: dict[str, Any], num_envs: int, worker_index: int = 0):
        super().__init__()
        self.env_cfg = EnvConfig.model_validate(config.get("env", {}))
        self.base_seed = int(config.get("seed", 0))
        self.worker_index = worker_index
        self.num_envs = num_envs
        self.game = BatchedGame(self.env_cfg, num_envs, multi_step=self.env_cfg.multi_step)
        self.agents = self.game.agents
        obs_space = gym.spaces.Box(-np.inf, np.inf, (OBS_SIZE,), np.float32)
        act_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.envs = [ArenaView(self.agents, obs_space, act_space) for _ in range(num_envs)]
        self.single_observation_spaces = {a: obs_space for a in self.agents}
        self.single_action_spaces = {a: act_space for a in self.agents}
        self.single_observation_space = gym.spaces.Dict(self.single_observation_spaces)
        self.single_action_space = gym.spaces.Dict(self.single_action_spaces)
        self._needs_reset = np.zeros(num_envs, bool)
        self._seeded = False
        self._no_info = [{} for _ in range(num_envs)]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None or not self._seeded:
            for i in range(self.num_envs):
                self.game.seed(i, derive_seed(self.base_seed, self.worker_index, i))
            self._seeded = True
        for i in range(self.num_envs):
            self.game.reset(i)
        self._needs_reset[:] = False
        return self._obs_dicts(self.game.observations()), [{} for _ in range(self.num_envs)]

    def step(self, actions: list[dict[str, Any]]):
        game, agents = self.game, self.agents
        resetting = self._needs_reset.copy()
        for i in np.flatnonzero(resetting):
            game.reset(i)
        act = np.zeros((self.num_envs, len(agents)), np.int64)
        for i, a in enumerate(actions):
            if a:
                act[i] = [a[aid] for aid in agents]
        rewards, terminated, truncated = game.step(act, ~resetting)
        obs = self._obs_dicts(game.observations())
        rew_l, term_l, trunc_l, info_l = [], [], [], []
        for i in range(self.num_envs):
            te, tr = bool(terminated[i]), bool(truncated[i])
            rew_l.append(dict(zip(agents, rewards[i].tolist(), strict=True)))
            term, trunc = done_dicts(agents, te, tr)
            term_l.append(term)
            trunc_l.append(trunc)
            if te or tr:
                summary = game.stats[i].as_info(self.env_cfg.step_seconds)
                info_l.append({a: {SUMMARY_KEY: summary} for a in agents})
            else:
                info_l.append({})
        self._needs_reset = terminated | truncated
        return obs, rew_l, term_l, trunc_l, info_l

    def _obs_dicts(self, obs: np.ndarray) -> list[dict[str, np.ndarray]]:
        agents = self.agents
        return [dict(zip(agents, arena_obs, strict=True)) for arena_obs in obs]

    def close_extras(self, **kwargs: Any) -> None:
        self.game.close()
