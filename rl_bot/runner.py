"""rl-bot's one env runner, built by composition: an env factory (batched or rlgym backend, chosen per stage from
the stage's env config) and an episode-to-module mapping (self-play, a fixed built-in bot, or the league's
:class:`~rl_bot.league.runner.LeagueSide`).

The training step (:mod:`rl_bot.trainer`) drives it through three public methods, called on every runner with
``foreach_env_runner`` (also on runners RLlib recreated after a failure): :meth:`RLBotEnvRunner.set_stage` (a new
env, team size or opponents at an iteration boundary), :meth:`RLBotEnvRunner.set_league_plan` and
:meth:`RLBotEnvRunner.runner_status`.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import gymnasium as gym
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.vector.registration import make_vec

from rl_bot.compat import (
    ArraySampling,
    LocalSampleCounts,
    array_sampling_problems,
    installed_env,
    module_to_env_pipeline,
    ongoing_episode_ids,
    use_indexed_pieces,
    weights_version,
)
from rl_bot.config import BUILTIN_OPPONENTS, EnvConfig
from rl_bot.env.guard import NonFiniteLog, metric_key
from rl_bot.env.rllib_batched import BatchedRocketLeagueVectorEnv
from rl_bot.env.rllib_env import RocketLeagueEnv, episode_summary
from rl_bot.league.elo import outcome_from_goals
from rl_bot.league.league import MAIN
from rl_bot.league.runner import LeagueSide, OrangeAssignment

_GYM_ID = "rl-bot-rocket-league-v0"


def make_vector_env(env_cfg: EnvConfig, num_envs: int, seed: int, worker_index: int, num_workers: int) -> Any:
    """The vector env of one runner: all arenas in one batched game, or one rlgym env per game."""
    env_config = {"env": env_cfg.model_dump(mode="json"), "seed": seed}
    if env_cfg.resolved_backend == "batched":
        return BatchedRocketLeagueVectorEnv(env_config, num_envs=num_envs, worker_index=worker_index)
    ctx = EnvContext(env_config, worker_index=worker_index, num_workers=num_workers)
    # a new env (a curriculum stage) registers the id again with its own config: drop the old entry first, which
    # gymnasium would otherwise replace with a warning
    gym.registry.pop(_GYM_ID, None)
    gym.register(_GYM_ID, entry_point=partial(RocketLeagueEnv, ctx), disable_env_checker=True)
    return make_vec(_GYM_ID, num_envs=num_envs, vectorization_mode=gym.envs.registration.VectorizeMode.SYNC)


class RLBotEnvRunner(LocalSampleCounts, ArraySampling, MultiAgentEnvRunner):
    """RLlib's multi-agent env runner with rl-bot's env factory and opponent mapping (module docstring).

    Without a stage it plays the top-level ``env`` and, once a league plan arrives, the league's opponents; with
    none, self-play. It also replaces two module-to-env connector pieces with dict-indexed versions
    (:func:`rl_bot.compat.use_indexed_pieces`, same output) and counts sampled steps locally
    (:class:`~rl_bot.compat.LocalSampleCounts`). With ``resources.sampler`` ``array`` or ``auto`` it samples
    batched-backend envs through :class:`~rl_bot.compat.ArraySampling` (same episodes, no per-item connectors).
    """

    #: swap in the dict-indexed module-to-env pieces (:func:`rl_bot.compat.use_indexed_pieces`, same output)
    INDEXED_CONNECTORS = True

    def __init__(self, *args: Any, **kwargs: Any):
        self.stage: dict[str, Any] | None = None
        self.non_finite_examples: list[str] = []
        super().__init__(*args, **kwargs)
        self.league = LeagueSide(int(self.config.seed or 0), int(self.worker_index or 0))
        pipeline = module_to_env_pipeline(self)
        if self.INDEXED_CONNECTORS and pipeline is not None:
            use_indexed_pieces(pipeline)
        if self.sampler != "rllib" and self.module is not None:
            problems = array_sampling_problems(self)
            if problems:
                raise ValueError(f"resources.sampler={self.sampler} cannot be used: {'; '.join(problems)}")

    @property
    def sampler(self) -> str:
        """``resources.sampler``: ``array``, ``rllib`` or ``auto``."""
        return str(self.config.env_config.get("sampler", "rllib"))

    def use_array_sampling(self) -> bool:
        """Whether ``sample(num_timesteps=...)`` takes the array path: the sampler allows it and the env steps from
        arrays (the batched backend)."""
        return self.sampler != "rllib" and hasattr(getattr(self.env, "unwrapped", None), "step_arrays")

    # ------------------------------------------------------------------------------------------- env

    @property
    def env_config(self) -> EnvConfig:
        """The env this runner plays now (the stage's, else the top-level one)."""
        raw = self.stage["env"] if self.stage else self.config.env_config.get("env", {})
        return EnvConfig.model_validate(raw)

    @property
    def opponents(self) -> str:
        """Who plays orange: ``self``, a built-in bot, or ``league`` (the default; inert without a plan)."""
        return self.stage["opponents"] if self.stage else "league"

    def make_env(self) -> None:
        if self.env is not None:
            self.env.close()
            del self.env
        env_ctx = EnvContext(
            self.config.env_config, worker_index=self.worker_index, num_workers=self.config.num_env_runners
        )
        env = make_vector_env(
            self.env_config,
            self.config.num_envs_per_env_runner,
            int(self.config.env_config.get("seed", 0)),
            int(self.worker_index or 0),
            int(self.config.num_env_runners),
        )
        installed_env(self, env, env_ctx)

    def set_stage(self, stage: dict[str, Any]) -> bool:
        """Play ``stage`` (``index``, ``name``, ``env`` as a dict, ``opponents``) from the next ``sample()`` on:
        a new env (so no episode runs across the switch) unless the stage is the one already played. Returns
        whether anything changed."""
        if self.stage == stage:
            return False
        self.stage = dict(stage)
        if self.env is not None:  # the driver's local runner beside remote ones has no env to rebuild
            self.make_env()
        return True

    def runner_status(self) -> dict[str, Any]:
        """What the runner plays (for tests, logs and the recreated-runner check)."""
        ctx = ray.get_runtime_context()
        return {
            "worker_index": int(self.worker_index or 0),
            "node_id": ctx.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
            "stage": self.stage["name"] if self.stage else None,
            "team_size": self.env_config.team_size,
            "backend": self.env_config.resolved_backend,
            "sampler": "array" if self.use_array_sampling() else "rllib",
            "opponents": self.opponents,
            "num_envs": self.num_envs,
            "league": self.league.book.status() if self.league.plan is not None else None,
            "non_finite": list(self.non_finite_examples),
        }

    # ------------------------------------------------------------------------------------------- opponents

    def set_league_plan(self, plan: dict[str, Any]) -> None:
        """Install the league's plan (see :meth:`LeagueSide.set_plan`)."""
        self.league.set_plan(plan, self._load_slot)

    def _load_slot(self, slot: str, weights: Any) -> None:
        if self.module is not None:
            self.module[slot].set_state(weights)

    @property
    def _league_active(self) -> bool:
        return self.opponents == "league" and self.league.plan is not None

    def assign_opponent(self, episode: Any) -> None:
        """Set a new episode's orange module: the stage's bot, a league draw, or main (self-play)."""
        if self.opponents in BUILTIN_OPPONENTS:
            episode.agent_to_module_mapping_fn = OrangeAssignment(self.opponents)
        elif self._league_active:
            self.league.assign(episode, self._load_slot)

    def record_episode(self, episode: Any, metrics_logger: Any) -> None:
        """A finished episode: its result goes to the league (league stages) and, when orange was not main, into
        ``curriculum/games_sum`` and ``curriculum/score_sum`` (main's score: 1 a win, 0.5 a draw)."""
        if self._league_active:
            self.league.record(episode, weights_version(self))
        fn = episode.agent_to_module_mapping_fn
        summary = episode_summary(episode)
        if summary is None or metrics_logger is None or not isinstance(fn, OrangeAssignment) or fn.module == MAIN:
            return
        score = outcome_from_goals(int(summary["goals_blue"]), int(summary["goals_orange"]))
        metrics_logger.log_value("curriculum/games_sum", 1.0, reduce="sum")
        metrics_logger.log_value("curriculum/score_sum", float(score), reduce="sum")

    # ------------------------------------------------------------------------------------------- sampling

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        league = self._league_active
        if league:
            self.league.before_sample(ongoing_episode_ids(self), self._load_slot)
        try:
            episodes = super().sample(*args, **kwargs)
        finally:
            self.flush_sampled_counts()
        self._report_non_finite()
        if league:
            self.league.after_sample(sum(len(e) for e in episodes) / max(1, self.num_envs))
            self.league.flush()
        return episodes

    def _non_finite_logs(self) -> list[NonFiniteLog]:
        env = self.env.unwrapped if self.env is not None else None
        if env is None:
            return []
        if hasattr(env, "game"):  # the batched vector env
            return [env.game.non_finite]
        if hasattr(env, "envs"):  # RLlib's sync vector env of rlgym games
            return [e.unwrapped.game.non_finite for e in env.envs]
        # Never skip silently: the games replace NaN/inf by 0, and only this report makes the run stop on them.
        raise TypeError(f"env runner {self.worker_index}: cannot find the games' NaN/inf logs in {type(env).__name__}")

    def _report_non_finite(self) -> None:
        # NaN/inf the games replaced by 0 (rl_bot.env.guard): counted as env/non_finite/... metrics, which stop the
        # run in the training step; a few examples kept for its error message.
        for log in self._non_finite_logs():
            counts, examples = log.drain()
            for what, n in counts.items():
                self.metrics.log_value(metric_key(what), float(n), reduce="sum")
            where = f"env runner {int(self.worker_index or 0)}"
            self.non_finite_examples = (self.non_finite_examples + [f"{ex} ({where})" for ex in examples])[-5:]


class RunnerCallback(RLlibCallback):
    """Hands new episodes to :meth:`RLBotEnvRunner.assign_opponent` and finished ones to
    :meth:`RLBotEnvRunner.record_episode`."""

    def on_episode_created(self, *, episode: Any, env_runner: Any = None, **kwargs: Any) -> None:
        if isinstance(env_runner, RLBotEnvRunner):
            env_runner.assign_opponent(episode)

    def on_episode_end(
        self, *, episode: Any, env_runner: Any = None, metrics_logger: Any = None, **kwargs: Any
    ) -> None:
        if isinstance(env_runner, RLBotEnvRunner):
            env_runner.record_episode(episode, metrics_logger)
