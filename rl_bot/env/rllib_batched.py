"""RLlib wiring for :class:`~rl_bot.env.batched.BatchedGame`: a ``VectorMultiAgentEnv`` whose sub-envs are the
arenas of one batched game (built by :class:`~rl_bot.runner.RLBotEnvRunner` for the batched backend).

RLlib's own vectorisation (``SyncVectorMultiAgentEnv``) steps ``num_envs_per_env_runner`` separate env objects
one by one and deep-copies every observation dict; here one object steps all arenas and builds all observations
with numpy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.vector.vector_multi_agent_env import VectorMultiAgentEnv

from rl_bot.config import EnvConfig
from rl_bot.env.batched import OBS_SIZE, BatchedGame
from rl_bot.env.game import NUM_ACTIONS
from rl_bot.env.rllib_env import SUMMARY_KEY, derive_seed, done_dicts


class ArrayStep(NamedTuple):
    """One step of all arenas as arrays (:meth:`BatchedRocketLeagueVectorEnv.step_arrays`)."""

    obs: np.ndarray  #: (num_envs, cars, OBS_SIZE): next observations, or the new game's first for reset arenas
    rewards: np.ndarray  #: (num_envs, cars)
    terminated: np.ndarray  #: (num_envs,) a goal ended the game
    truncated: np.ndarray  #: (num_envs,) a timeout ended the game
    resetting: np.ndarray  #: (num_envs,) the arena was reset instead of stepped (its game ended the step before)
    final_infos: dict[int, dict[str, Any]]  #: arena -> every car's info dict, for the games that ended this step


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
        self.last_obs = np.zeros((num_envs, len(self.agents), OBS_SIZE), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None or not self._seeded:
            for i in range(self.num_envs):
                self.game.seed(i, derive_seed(self.base_seed, self.worker_index, i))
            self._seeded = True
        for i in range(self.num_envs):
            self.game.reset(i)
        self._needs_reset[:] = False
        self.last_obs = self.game.observations()
        return self._obs_dicts(self.last_obs), [{} for _ in range(self.num_envs)]

    @property
    def resetting_next(self) -> np.ndarray:
        """``(num_envs,)`` bools: arenas whose game ended on the last step; the next step resets them (a copy)."""
        return self._needs_reset.copy()

    def step_arrays(self, actions: np.ndarray) -> ArrayStep:
        """One step of every arena from an ``(num_envs, cars)`` action array (cars in :attr:`agents` order).

        Arenas whose game ended on the previous step are reset instead (their actions are ignored and their
        ``resetting`` flag is set): next-step auto-reset, as in :meth:`step`. The array sampler
        (:class:`rl_bot.compat.ArraySampling`) calls this; :meth:`step` is the dict form RLlib's sampler uses.
        """
        game = self.game
        resetting = self._needs_reset.copy()
        for i in np.flatnonzero(resetting):
            game.reset(i)
        rewards, terminated, truncated = game.step(actions, ~resetting)
        self.last_obs = game.observations()
        done = terminated | truncated
        seconds = self.env_cfg.step_seconds
        final_infos = {int(i): {SUMMARY_KEY: game.episode_stats(i).as_info(seconds)} for i in np.flatnonzero(done)}
        self._needs_reset = done
        return ArrayStep(self.last_obs, rewards, terminated, truncated, resetting, final_infos)

    def step(self, actions: list[dict[str, Any]]):
        agents = self.agents
        act = np.zeros((self.num_envs, len(agents)), np.int64)
        for i, a in enumerate(actions):
            if a:
                act[i] = [a[aid] for aid in agents]
        out = self.step_arrays(act)
        obs = self._obs_dicts(out.obs)
        rew_l, term_l, trunc_l, info_l = [], [], [], []
        for i in range(self.num_envs):
            rew_l.append(dict(zip(agents, out.rewards[i].tolist(), strict=True)))
            term, trunc = done_dicts(agents, bool(out.terminated[i]), bool(out.truncated[i]))
            term_l.append(term)
            trunc_l.append(trunc)
            info = out.final_infos.get(i)
            info_l.append({a: dict(info) for a in agents} if info is not None else {})
        return obs, rew_l, term_l, trunc_l, info_l

    def _obs_dicts(self, obs: np.ndarray) -> list[dict[str, np.ndarray]]:
        agents = self.agents
        return [dict(zip(agents, arena_obs, strict=True)) for arena_obs in obs]

    def close_extras(self, **kwargs: Any) -> None:
        self.game.close()
