"""Where rl-bot reaches into RLlib internals that no public hook covers, with the versions it was checked against.

Each entry names what it relies on; ``tests/test_compat.py`` exercises each against the installed RLlib and fails
loudly when the internals change. New code that needs an RLlib or rlgym internal belongs here.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Collection
from importlib import metadata
from typing import Any

from ray.rllib.callbacks.utils import make_callback
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
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

#: Package versions the internals below were written and tested against.
CHECKED_VERSIONS = {"ray": "2.60.0", "rlgym-rocket-league": "2.0.1"}


def version_problems() -> list[str]:
    """Installed versions that differ from :data:`CHECKED_VERSIONS`."""
    out = []
    for pkg, want in CHECKED_VERSIONS.items():
        try:
            have = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            have = "not installed"
        if have != want:
            out.append(f"{pkg} {have} (rl-bot's RLlib/rlgym internals were checked against {want})")
    return out


def warn_on_version_drift() -> None:
    """Warn once if the installed RLlib/rlgym is not the version the internals here were checked against."""
    problems = version_problems()
    if problems:
        warnings.warn("; ".join(problems) + ": run tests/test_compat.py", stacklevel=2)


class DropUntrainedAgents(ConnectorV2):
    """First custom piece of the learner connector: removes the agents played by modules that are not trained
    (the league's frozen opponents) from the episodes, so no later piece (observations, LSTM states and
    zero-padding, value forward passes for GAE) spends time on data no loss reads.

    Internal: deletes entries of ``MultiAgentEpisode.agent_episodes``; every default learner piece of RLlib 2.60
    iterates that dict (``ConnectorV2.single_agent_episode_iterator``). PPO's learner puts its own
    ``AddOneTsToEpisodesAndTruncate`` in front of custom pieces, so the items it already added for those agents
    (batch columns keyed by ``(episode id, agent id, module id)``) are removed too.
    """

    def __init__(
        self,
        input_observation_space: Any = None,
        input_action_space: Any = None,
        *,
        trainable: Collection[str],
        **kwargs: Any,
    ):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.trainable = frozenset(trainable)

    def __call__(self, *, rl_module: Any, batch: dict, episodes: list, **kwargs: Any) -> Any:
        for episode in episodes:
            if isinstance(episode, MultiAgentEpisode):
                for agent_id in [a for a in episode.agent_episodes if episode.module_for(a) not in self.trainable]:
                    del episode.agent_episodes[agent_id]
        for column in batch.values():
            if isinstance(column, dict):
                for key in [k for k in column if isinstance(k, tuple) and len(k) == 3 and k[2] not in self.trainable]:
                    del column[key]
        return batch


#: The PPO timers ``perf/sample_time_s`` and ``perf/learn_time_s`` come from (``result["timers"]``).
ITERATION_TIMERS = (("timers", "env_runner_sampling_timer"), ("timers", "learner_update_timer"))


def per_iteration_timers(algo: Any) -> None:
    """Make the PPO timers report each iteration's own time.

    RLlib 2.60's ``Algorithm.training_step`` logs them with ``MetricsLogger.log_time`` and its default reduction, an
    EMA with coefficient 0.01, so a result shows about the first iteration's time for ever. Internal: the logger
    keeps the reduction of the first stats object created under a key, so re-creating the key as a mean over a
    window of one (public ``delete`` / ``log_value``) before the next iteration changes what the timers report.
    Call after ``build_algo()`` and after a restore (restored metrics bring their old stats objects back).
    """
    for key in ITERATION_TIMERS:
        algo.metrics.delete(*key, key_error=False)
        algo.metrics.log_value(key, float("nan"), reduce="mean", window=1)


# --------------------------------------------------------------------------------------------- env runner


def installed_env(runner: Any, env: Any, env_ctx: Any) -> None:
    """Finish a ``make_env`` override the way RLlib 2.60's ``MultiAgentEnvRunner.make_env`` does: set
    ``num_envs``, have the next ``sample()`` reset every env (internal flag ``_needs_initial_reset``: episodes
    running in the old env are dropped, never mixed with the new one), and call ``on_environment_created``."""
    runner.env = env
    runner.num_envs = env.num_envs
    runner._needs_initial_reset = True
    make_callback(
        "on_environment_created",
        callbacks_objects=runner._callbacks,
        callbacks_functions=runner.config.callbacks_on_environment_created,
        kwargs=dict(env_runner=runner, metrics_logger=runner.metrics, env=env.unwrapped, env_context=env_ctx),
    )


def ongoing_episode_ids(runner: Any) -> list[str]:
    """Ids of the episodes an env runner is in the middle of (internal ``_ongoing_episodes``)."""
    return [e.id_ for e in runner._ongoing_episodes if e is not None]


class LocalSampleCounts:
    """Env runner mixin: count sampled steps locally and log the totals once per ``sample()`` call.

    RLlib 2.60's ``MultiAgentEnvRunner`` logs ``2 + 4 x cars`` values into the MetricsLogger per env step (15 % of
    sampling time in the profile in docs/benchmarks.md); the reduced metrics are the same sums. Internal: overrides
    the private ``_increase_sampled_metrics(num_steps, next_obs, episode)``; call :meth:`flush_sampled_counts`
    at the end of ``sample()``.
    """

    def _increase_sampled_metrics(self, num_steps: int, next_obs: dict, episode: Any) -> int:
        counts = self.__dict__.setdefault("_pending_counts", Counter())
        counts[None] += num_steps
        if episode.is_done:
            counts["__episodes__"] += 1
        for aid in next_obs:
            counts[("agent", str(aid))] += 1
            counts[("module", episode.module_for(aid))] += 1
        return num_steps

    def flush_sampled_counts(self) -> None:
        """Log the counts gathered since the last flush."""
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
