"""RLlib wiring for :class:`~rl_bot.env.batched.BatchedGame`: a ``VectorMultiAgentEnv`` whose sub-envs are the
arenas of one batched game, and an env runner that builds it.

RLlib's own vectorisation (``SyncVectorMultiAgentEnv``) steps ``num_envs_per_env_runner`` separate env objects
one by one and deep-copies every observation dict; here one object steps all arenas and builds all observations
with numpy. The runner is RLlib's ``MultiAgentEnvRunner`` with only ``make_env`` replaced (a supported
extension point: ``config.env_runners(env_runner_cls=...)``), so episodes, connectors, modules, metrics and
callbacks are untouched.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.rllib.env.vector.vector_multi_agent_env import VectorMultiAgentEnv
from ray.rllib.utils.metrics import (
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
)

from rl_bot.config import EnvConfig
from rl_bot.env.batched import OBS_SIZE, BatchedGame
from rl_bot.env.connectors import use_indexed_pieces
from rl_bot.env.game import NUM_ACTIONS
from rl_bot.env.rllib_env import SUMMARY_KEY, derive_seed
from rl_bot.league.runner import LeagueEnvRunner


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
            term = dict.fromkeys(agents, te)
            term["__all__"] = te
            trunc = dict.fromkeys(agents, tr)
            trunc["__all__"] = tr
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


class BatchedEnvRunner(LeagueEnvRunner):
    """RLlib's multi-agent env runner (with the league hooks of :class:`LeagueEnvRunner`), building
    :class:`BatchedRocketLeagueVectorEnv` as its vector env.

    It also counts sampled steps locally and logs the totals once per ``sample()`` call: the parent logs
    ``2 + 4 x cars`` values into the MetricsLogger per env step (15 % of sampling time in the profile in
    docs/benchmarks.md); the reduced metrics are the same sums. And it replaces two module-to-env connector
    pieces with dict-indexed versions (:mod:`rl_bot.env.connectors`) that give the same output.
    """

    #: swap in the dict-indexed module-to-env pieces of :mod:`rl_bot.env.connectors` (same output)
    INDEXED_CONNECTORS = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.INDEXED_CONNECTORS and getattr(self, "_module_to_env", None) is not None:
            use_indexed_pieces(self._module_to_env)

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().sample(*args, **kwargs)
        finally:
            self._flush_sampled_counts()

    def _increase_sampled_metrics(self, num_steps: int, next_obs: dict, episode: Any) -> int:
        counts = self.__dict__.setdefault("_pending_counts", Counter())
        counts[None] += num_steps
        if episode.is_done:
            counts["__episodes__"] += 1
        for aid in next_obs:
            counts[("agent", str(aid))] += 1
            counts[("module", episode.module_for(aid))] += 1
        return num_steps

    def _flush_sampled_counts(self) -> None:
        counts = self.__dict__.pop("_pending_counts", None)
        if not counts:
            return
        log = self.metrics.log_value
        env_steps = counts.pop(None, 0)
        log(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        log(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        episodes = counts.pop("__episodes__", 0)
        if episodes:
            log(NUM_EPISODES, episodes, reduce="sum")
            log(NUM_EPISODES_LIFETIME, episodes, reduce="lifetime_sum")
        for (kind, key), n in counts.items():
            if kind == "agent":
                log((NUM_AGENT_STEPS_SAMPLED, key), n, reduce="sum")
                log((NUM_AGENT_STEPS_SAMPLED_LIFETIME, key), n, reduce="lifetime_sum")
            else:
                log((NUM_MODULE_STEPS_SAMPLED, key), n, reduce="sum")
                log((NUM_MODULE_STEPS_SAMPLED_LIFETIME, key), n, reduce="lifetime_sum")

    def make_env(self) -> None:
        if self.env is not None:
            self.env.close()
            del self.env
        env_ctx = self.config.env_config
        if not isinstance(env_ctx, EnvContext):
            env_ctx = EnvContext(env_ctx, worker_index=self.worker_index, num_workers=self.config.num_env_runners)
        self.env = BatchedRocketLeagueVectorEnv(
            env_ctx, num_envs=self.config.num_envs_per_env_runner, worker_index=self.worker_index or 0
        )
        self.num_envs = self.env.num_envs
        self._needs_initial_reset = True
        make_callback(
            "on_environment_created",
            callbacks_objects=self._callbacks,
            callbacks_functions=self.config.callbacks_on_environment_created,
            kwargs=dict(env_runner=self, metrics_logger=self.metrics, env=self.env.unwrapped, env_context=env_ctx),
        )
