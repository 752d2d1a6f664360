"""Where rl-bot reaches into RLlib internals that no public hook covers, with the versions it was checked against.

Everything that reads a private attribute, overrides a private method or copies RLlib code lives here: the learner
connector that drops frozen agents, the env runner's env installation and local step counters, two indexed
module-to-env connector pieces, the PPO learners (optimizers for trained modules only, torch.compile of the
modules, mixed precision), and the per-iteration timers. ``tests/test_compat.py`` and the tests of each piece
exercise them against the installed RLlib and fail loudly when the internals change. New code that needs an RLlib
internal belongs here. (The pure ``rl_bot.env.batched`` reads three private attributes of rlgym's
``RocketSimEngine``; it cannot import Ray, so they stay there, named in its docstring and guarded by the lock-step
agreement test; :data:`CHECKED_VERSIONS` names that rlgym version too.)
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter, defaultdict
from collections.abc import Collection
from importlib import metadata
from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.module_to_env.listify_data_for_vector_env import ListifyDataForVectorEnv
from ray.rllib.connectors.module_to_env.unbatch_to_individual_items import UnBatchToIndividualItems
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
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
from ray.rllib.utils.spaces.space_utils import unbatch as unbatch_fn

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


def module_to_env_pipeline(runner: Any) -> Any:
    """An env runner's module-to-env connector pipeline (internal ``_module_to_env``), or None."""
    return getattr(runner, "_module_to_env", None)


def weights_version(runner: Any) -> int:
    """How many weight updates an env runner has received (internal ``_weights_seq_no``; 0 before the first)."""
    return int(getattr(runner, "_weights_seq_no", 0) or 0)


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


# --------------------------------------------------------------------------------------------- module-to-env pieces
# Drop-in replacements for two of RLlib's module-to-env connector pieces, with the same output.
#
# RLlib 2.60's ``UnBatchToIndividualItems`` and ``ListifyDataForVectorEnv`` find the episode of every batch row by
# scanning the list of episodes (once per row, and per column), which is quadratic in the number of envs per
# runner. These versions build the id → episode / index map once per call. ``RLBotEnvRunner`` swaps them in; a
# test checks that a runner with them samples exactly the same episodes as one with RLlib's.


class IndexedUnBatchToIndividualItems(UnBatchToIndividualItems):
    """``UnBatchToIndividualItems`` for multi-agent batches, looking episodes up in a dict."""

    def __call__(
        self,
        *,
        rl_module: Any,
        batch: dict,
        episodes: list,
        explore: Any = None,
        shared_data: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        memorized = shared_data.get("memorized_map_structure") if shared_data is not None else None
        if not isinstance(memorized, dict):
            return super().__call__(
                rl_module=rl_module, batch=batch, episodes=episodes, explore=explore, shared_data=shared_data, **kwargs
            )
        episode_map = shared_data.get("vector_env_episodes_map", {})
        by_id: dict = {}
        for eps in episodes:
            by_id.setdefault(eps.id_, eps)
        for module_id, module_data in batch.copy().items():
            if module_id not in memorized:
                raise KeyError(f"ModuleID={module_id} not found in `memorized_map_structure`!")
            rows = memorized[module_id]
            keys = []
            for eps_id, agent_id in rows:
                keys.append((eps_id, agent_id, module_id))
                episode = by_id.get(episode_map.get(eps_id, eps_id))
                if episode is None:
                    raise ValueError(f"No episode found that matches the ID={eps_id}.")
                if episode.agent_episodes and not episode.is_done:
                    sa_episode = episode.agent_episodes.get(agent_id)
                    if sa_episode is None or sa_episode.is_done:
                        raise ValueError(f"Agent {agent_id!r} is missing or already done in episode {eps_id!r}.")
            for column, column_data in module_data.items():
                items = unbatch_fn(column_data)
                new_column_data = defaultdict(list)
                for i, key in enumerate(keys):  # indexed like RLlib's: a short column raises there too
                    new_column_data[key].append(items[i])
                module_data[column] = dict(new_column_data)
        return batch


class IndexedListifyDataForVectorEnv(ListifyDataForVectorEnv):
    """``ListifyDataForVectorEnv`` for multi-agent episodes, looking env indices up in a dict."""

    def __call__(
        self,
        *,
        rl_module: Any,
        batch: dict,
        episodes: list,
        explore: Any = None,
        shared_data: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        if not episodes or not isinstance(episodes[0], MultiAgentEpisode):
            return super().__call__(
                rl_module=rl_module, batch=batch, episodes=episodes, explore=explore, shared_data=shared_data, **kwargs
            )
        old_ids = shared_data.get("old_episode_ids", {})
        index: dict = {}
        for i, eps in enumerate(episodes):
            index.setdefault(eps.id_, i)
        for column in list(batch):
            new_column_data: list[dict] = [{} for _ in episodes]
            for (eps_id, agent_id, _module_id), value in batch[column].items():
                assert len(value) == 1
                new_column_data[index.get(old_ids.get(eps_id, eps_id), 0)][agent_id] = value[0]
            batch[column] = new_column_data
        return batch


REPLACEMENTS = {
    UnBatchToIndividualItems: IndexedUnBatchToIndividualItems,
    ListifyDataForVectorEnv: IndexedListifyDataForVectorEnv,
}


def use_indexed_pieces(pipeline: Any) -> int:
    """Swap the pieces in a module-to-env pipeline in place; returns how many were replaced."""
    replaced = 0
    for i, conn in enumerate(pipeline.connectors):
        new_cls = REPLACEMENTS.get(type(conn))
        if new_cls is not None:
            pipeline.connectors[i] = new_cls(conn.input_observation_space, conn.input_action_space)
            replaced += 1
    return replaced


# --------------------------------------------------------------------------------------------- learners
# The PPO learners: optimizers only for trained modules, and automatic mixed precision.
#
# RLlib 2.60 scales losses with a configurable ``GradScaler`` class but has no autocast switch; the forward pass
# and loss are therefore wrapped here. Selected by ``learner.mixed_precision`` (GPU learners only, see
# :mod:`rl_bot.algo`).


class RLBotPPOTorchLearner(PPOTorchLearner):
    """``PPOTorchLearner`` that builds optimizers only for the modules in ``policies_to_train``, reports results
    only for them (so only they are synced to env runners), and compiles them when ``torch_compile_learner`` is set.

    RLlib's default gives every module an Adam optimizer, trained or not: the frozen league opponents would carry
    optimizer state in every checkpoint. And RLlib 2.60's ``TorchLearner.build`` compiles no module of a
    ``MultiRLModule`` (its loop tests the container, not the module, for ``TorchRLModule``): a GPU check found
    ``learner.torch_compile`` changed nothing.
    """

    def build(self) -> None:
        super().build()
        if getattr(self, "_torch_compile_forward_train", False) and isinstance(self._module, MultiRLModule):
            for module_id in self.module.keys():
                module = self.module[module_id]
                module = module.unwrapped() if hasattr(module, "unwrapped") else module
                if self.should_module_be_updated(module_id) and isinstance(module, TorchRLModule):
                    module.compile(self._torch_compile_cfg)

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        # PPOLearner logs an entropy coefficient for every module, and PPO syncs to the env runners every module
        # that appears in the learner results: frozen league slots would get the learner's (never loaded) copies
        # after every update. Their weights are the env runners' own business (rl_bot.league.runner).
        for module_id in list(self.module.keys()):
            if not self.should_module_be_updated(module_id):
                self.metrics.delete(module_id, key_error=False)

    def configure_optimizers(self) -> None:
        for module_id in self.module.keys():
            if self.should_module_be_updated(module_id) and self.rl_module_is_compatible(self.module[module_id]):
                config = self.config.get_config_for_module(module_id)
                self.configure_optimizers_for_module(module_id=module_id, config=config)


class MixedPrecisionPPOTorchLearner(RLBotPPOTorchLearner):
    """``PPOTorchLearner`` whose forward pass and loss run in float16 (CUDA) / bfloat16 (CPU) autocast."""

    #: autocast dtype per device type; float16 needs the GradScaler that algo.py configures alongside.
    DTYPES = {"cuda": torch.float16, "cpu": torch.bfloat16}

    def compute_gradients(self, loss_per_module: dict, **kwargs: Any) -> dict:
        grads = super().compute_gradients(loss_per_module, **kwargs)
        # RLlib clips gradients (postprocess_gradients) before GradScaler.step unscales them, so grad_clip would
        # act on gradients multiplied by the scale (65536): every update clipped, a third of fp32's size in the GPU
        # check. Unscale in place first, as torch's AMP recipe does before clipping; scaler.step then skips its
        # own unscale for these optimizers and still skips the step on inf/nan.
        if grads and self._grad_scalers is not None:
            for module_id, names in self._module_optimizers.items():
                for name in names:
                    self._grad_scalers[module_id].unscale_(self.get_optimizer(module_id, name))
        return grads

    def _uncompiled_update(self, batch: dict, **kwargs: Any):
        # Same steps as TorchLearner._uncompiled_update, with the forward pass and loss inside autocast;
        # gradients are computed outside it, as torch recommends.
        self._compute_off_policyness(batch)
        device_type = "cuda" if self._device is not None and str(self._device).startswith("cuda") else "cpu"
        with torch.autocast(device_type=device_type, dtype=self.DTYPES[device_type]):
            fwd_out = self.module.forward_train(batch)
            loss_per_module = self.compute_losses(fwd_out=fwd_out, batch=batch)
        # Kept so the autocast can be checked from outside (tests read it).
        self.amp_last_logits_dtype = next(
            (
                v.dtype
                for out in fwd_out.values()
                if isinstance(out, dict)
                for k, v in out.items()
                if k == "action_dist_inputs"
            ),
            None,
        )
        gradients = self.compute_gradients(loss_per_module)
        with contextlib.ExitStack() as stack:
            if self.config.num_learners > 1:
                for mod in self.module.values():
                    if isinstance(mod, torch.nn.Module):
                        stack.enter_context(mod.no_sync())
            self.apply_gradients(self.postprocess_gradients(gradients))
        return fwd_out, loss_per_module, {}
