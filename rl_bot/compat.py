"""Where rl-bot reaches into RLlib internals that no public hook covers, with the versions it was checked against.

Everything that reads a private attribute, overrides a private method or copies RLlib code lives here: the learner
connector pieces (dropping frozen agents; per-step flags and LSTM sequences as numpy arrays; values without
autograd), the env runner's env installation and local step counters, two indexed module-to-env connector pieces,
the PPO learners (optimizers for trained modules only, torch.compile of the modules, mixed precision), and the
per-iteration timers; and one fix in Ray Tune's population-based training (a stale stop after an exploit).
``tests/test_compat.py`` and the tests of each piece exercise them against the installed RLlib
and fail loudly when the internals change. New code that needs an RLlib internal belongs here. (The pure
``rl_bot.env.batched`` reads three private attributes of rlgym's ``RocketSimEngine``; it cannot import Ray, so they
stay there, named in its docstring and guarded by the lock-step agreement test; :data:`CHECKED_VERSIONS` names that
rlgym version too.)
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Collection
from importlib import metadata
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.connectors.common.add_time_dim_to_batch_and_zero_pad import AddTimeDimToBatchAndZeroPad
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.learner.add_one_ts_to_episodes_and_truncate import AddOneTsToEpisodesAndTruncate
from ray.rllib.connectors.learner.general_advantage_estimation import GeneralAdvantageEstimation
from ray.rllib.connectors.module_to_env.listify_data_for_vector_env import ListifyDataForVectorEnv
from ray.rllib.connectors.module_to_env.unbatch_to_individual_items import UnBatchToIndividualItems
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.env.env_runner import NUM_ENV_STEP_FAILURES_LIFETIME
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils.metrics import (
    ENV_STEP_TIMER,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
    RLMODULE_INFERENCE_TIMER,
    WEIGHTS_SEQ_NO,
)
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.postprocessing.zero_padding import create_mask_and_seq_lens, split_and_zero_pad
from ray.rllib.utils.spaces.space_utils import BatchedNdArray
from ray.rllib.utils.spaces.space_utils import unbatch as unbatch_fn
from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler

logger = logging.getLogger(__name__)

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


class PopulationBasedTrainingFixed(PopulationBasedTraining):
    """Ray Tune's ``PopulationBasedTraining`` with one fix: an exploited trial is not stopped after its next save.

    In synchronous mode, the first trial at a perturbation point is paused, which saves it; while that save runs
    its status is still RUNNING. If the last trial arrives then and the paused one is in the lower quantile,
    ``_exploit`` calls ``pause_trial(trial, should_checkpoint=False)``, whose ``_schedule_trial_stop`` sees the
    save in flight and caches a STOP decision for the trial. The trial restarts from the exploited checkpoint, but
    the cached STOP stays and runs after its next save: the trial ends early, short of its stop limit
    (ray-project/ray#57906, open in Ray 2.60). The cached decision belonged to the old actor's save, which was
    cancelled with that actor; this removes it.

    Internal: reads ``Trial.is_saving`` and deletes from ``TuneController._cached_trial_decisions`` (the wrapper
    PBT receives keeps the controller in ``_tune_controller``).
    """

    def _exploit(self, tune_controller: Any, trial: Any, trial_to_clone: Any) -> None:
        stop_is_cached = trial.status != Trial.PAUSED and trial.is_saving
        super()._exploit(tune_controller, trial, trial_to_clone)
        if stop_is_cached:
            decisions = tune_controller._tune_controller._cached_trial_decisions
            if decisions.get(trial.trial_id) == TrialScheduler.STOP:
                del decisions[trial.trial_id]
                logger.debug("PBT: dropped the stale STOP cached for exploited trial %s", trial)


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


def split_into_rows(items: list, max_seq_len: int) -> list | None:
    """One (episode, agent, module) column split into ``max_seq_len`` rows, the last zero-padded, as RLlib's
    ``split_and_zero_pad`` makes them (same values, dtypes and row count) with one numpy copy instead of a Python
    step per item. ``None`` for what only RLlib's function handles: nested items, a mix of batched and single
    items, an empty column."""
    if not items:
        return None
    if all(isinstance(it, BatchedNdArray) for it in items):
        data = np.concatenate(items, axis=0) if len(items) > 1 else np.asarray(items[0])
    elif any(isinstance(it, (BatchedNdArray, dict, tuple, list)) for it in items):
        return None
    else:
        data = np.asarray(items)
    n = len(data)
    rows = -(-n // max_seq_len)
    out = np.zeros((rows * max_seq_len, *data.shape[1:]), data.dtype)
    out[:n] = data
    return list(out.reshape((rows, max_seq_len, *data.shape[1:])))


class ArrayTimeDimZeroPad(AddTimeDimToBatchAndZeroPad):
    """The learner's ``AddTimeDimToBatchAndZeroPad`` with each column split by :func:`split_into_rows`.

    RLlib's piece splits every column of every episode item by item (``split_and_zero_pad``: a tree flatten and
    unflatten per time step); for an LSTM batch of 50,000 agent steps that was 0.40 s of a 2.1 s update on
    2 cores. This one gives the learner the same rows, sequence lengths and loss masks (tests/test_compat.py
    compares the two batches). Env-to-module use and non-stateful modules go to RLlib's piece unchanged.

    Internal: reads ``_as_learner_connector`` and ``_get_max_seq_len`` of RLlib 2.60's piece.
    """

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
        args = dict(rl_module=rl_module, batch=batch, episodes=episodes, explore=explore, shared_data=shared_data)
        if not self._as_learner_connector or rl_module is None or not rl_module.is_stateful():
            return super().__call__(**args, **kwargs)
        if Columns.STATE_IN in batch:
            return batch
        for column, column_data in batch.items():
            if column == Columns.INFOS:
                continue
            for key, items in column_data.items():
                mid = key[2] if len(key) == 3 else None
                if mid is not None and not rl_module[mid].is_stateful():
                    continue
                max_seq_len = self._get_max_seq_len(rl_module, module_id=mid)
                rows = split_into_rows(items, max_seq_len)
                column_data[key] = split_and_zero_pad(items, max_seq_len=max_seq_len) if rows is None else rows
                shared_data[f"_zero_padded_for_mid={mid if mid is not None else DEFAULT_MODULE_ID}"] = True
        for sa_episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            if sa_episode.module_id is not None:
                module = rl_module[sa_episode.module_id]
            else:
                module = rl_module[DEFAULT_MODULE_ID] if isinstance(rl_module, MultiRLModule) else rl_module
            if not module.is_stateful():
                continue
            mask, seq_lens = create_mask_and_seq_lens(len(sa_episode), module.model_config["max_seq_len"])
            self.add_n_batch_items(batch, Columns.SEQ_LENS, seq_lens, len(seq_lens), sa_episode)
            if not shared_data.get("_added_loss_mask_for_valid_episode_ts"):
                self.add_n_batch_items(batch, Columns.LOSS_MASK, mask, len(mask), sa_episode)
        return batch


class ArrayAddOneTs(AddOneTsToEpisodesAndTruncate):
    """PPO's ``AddOneTsToEpisodesAndTruncate`` adding its per-step flags (loss mask, terminateds, truncateds) as one
    bool array per episode instead of one batch item per step (150,000 items for a batch of 50,000 agent steps).
    The pieces after it batch both forms alike (tests/test_compat.py compares the batches).

    Internal: overrides the ``add_n_batch_items`` that RLlib 2.60's piece calls through ``self``.
    """

    FLAGS = (Columns.LOSS_MASK, Columns.TERMINATEDS, Columns.TRUNCATEDS)

    @staticmethod
    def add_n_batch_items(
        batch: dict, column: str, items_to_add: Any, num_items: int, single_agent_episode: Any = None
    ) -> None:
        if isinstance(items_to_add, list) and column in ArrayAddOneTs.FLAGS:
            items_to_add = np.asarray(items_to_add, dtype=bool)
        ConnectorV2.add_n_batch_items(batch, column, items_to_add, num_items, single_agent_episode)


class NoGradGAE(GeneralAdvantageEstimation):
    """PPO's ``GeneralAdvantageEstimation`` with its value forward pass under ``torch.no_grad``.

    RLlib 2.60 runs that pass (the whole batch through the encoder, the LSTM and the value head) with autograd on,
    recording a graph that nothing differentiates: its advantages and value targets are made from numpy copies. The
    values are the same without it (tests/test_compat.py compares the batches).
    """

    def __call__(self, **kwargs: Any) -> Any:
        with torch.no_grad():
            return super().__call__(**kwargs)


def use_fast_learner_pieces(pipeline: Any) -> int:
    """Swap RLlib's ``AddOneTsToEpisodesAndTruncate``, ``AddTimeDimToBatchAndZeroPad`` and
    ``GeneralAdvantageEstimation`` in a learner pipeline for :class:`ArrayAddOneTs`, :class:`ArrayTimeDimZeroPad` and
    :class:`NoGradGAE` (same batch, less time); returns how many were replaced."""
    replaced = 0
    for i, conn in enumerate(pipeline.connectors):
        if type(conn) is AddTimeDimToBatchAndZeroPad:
            pipeline.connectors[i] = ArrayTimeDimZeroPad(
                conn.input_observation_space, conn.input_action_space, as_learner_connector=conn._as_learner_connector
            )
        elif type(conn) is AddOneTsToEpisodesAndTruncate:
            pipeline.connectors[i] = ArrayAddOneTs(conn.input_observation_space, conn.input_action_space)
        elif type(conn) is GeneralAdvantageEstimation:
            pipeline.connectors[i] = NoGradGAE(
                conn.input_observation_space, conn.input_action_space, gamma=conn.gamma, lambda_=conn.lambda_
            )
        else:
            continue
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
        if self._learner_connector is not None:
            use_fast_learner_pieces(self._learner_connector)
            settings = self.config.learner_config_dict
            if settings.get("standardize_returns"):
                from rl_bot.return_scaling import ReturnStandardizer

                pieces = self._learner_connector.connectors
                gae = next(i for i, c in enumerate(pieces) if isinstance(c, GeneralAdvantageEstimation))
                trained = tuple(m for m in self.module.keys() if self.should_module_be_updated(m))
                pieces.insert(
                    gae,
                    ReturnStandardizer(gamma=self.config.gamma, clip=settings["return_clip"], modules=trained),
                )
        if getattr(self, "_torch_compile_forward_train", False) and isinstance(self._module, MultiRLModule):
            for module_id in self.module.keys():
                module = self.module[module_id]
                module = module.unwrapped() if hasattr(module, "unwrapped") else module
                if self.should_module_be_updated(module_id) and isinstance(module, TorchRLModule):
                    module.compile(self._torch_compile_cfg)

    def return_standardizer(self) -> Any:
        """The learner pipeline's :class:`~rl_bot.return_scaling.ReturnStandardizer` (None when off)."""
        from rl_bot.return_scaling import ReturnStandardizer

        pipeline = self._learner_connector
        pieces = pipeline.connectors if pipeline is not None else []
        return next((c for c in pieces if isinstance(c, ReturnStandardizer)), None)

    def get_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        state = super().get_state(*args, **kwargs)
        scaler = self.return_standardizer()
        if scaler is not None:
            from rl_bot.return_scaling import STATE_KEY

            state[STATE_KEY] = scaler.get_state()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        from rl_bot.return_scaling import STATE_KEY

        scaler = self.return_standardizer()
        if scaler is not None and STATE_KEY in state:
            scaler.set_state(state[STATE_KEY])
        super().set_state({k: v for k, v in state.items() if k != STATE_KEY})

    def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict, fwd_out: dict) -> Any:
        loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        from rl_bot.diagnostics import ppo_diagnostics

        found = ppo_diagnostics(
            module=self.module[module_id].unwrapped(),
            batch=batch,
            fwd_out=fwd_out,
            clip_param=config.clip_param,
            vf_clip_param=config.vf_clip_param,
        )
        self.metrics.log_dict(found, key=module_id, window=1)  # as PPO's own loss stats: the last minibatch's
        return loss

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


# --------------------------------------------------------------------------------------------- array sampling
# RLlib 2.60's ``MultiAgentEnvRunner._sample`` moves every (env, agent) item of every step through its connector
# pipelines one by one and appends each step to each episode with ``add_env_step``: about three quarters of sampling
# time in the profile in docs/benchmarks.md. ``ArraySampling`` replaces ``_sample`` for vector envs that step from
# arrays (``step_arrays``, rl_bot.env.rllib_batched): observations, actions, log-probs, action-distribution inputs
# and LSTM states of all cars of all arenas live in arrays, each module runs one forward pass per step on its rows,
# and every run of steps is appended to its episode once, when the game ends or the ``sample()`` call does.
#
# It reproduces what RLlib's default connector pipelines (checked by ``array_sampling_problems``) would compute,
# row for row: the rows of a module are in the order the pipelines build them (episodes in env order, the agents of
# an episode in the order of a set of their ids, modules in order of first appearance), so the torch random draws of
# ``GetActions`` and the sampled actions are the same; tests/env/test_array_sampling.py compares the episodes and
# the learner batches of both paths. Episode callbacks: ``on_episode_created``, ``on_episode_start`` and
# ``on_episode_end`` are made at the same points as RLlib makes them, with the episode complete up to that point;
# ``on_episode_step`` is not made (the runner refuses callbacks that define it).

#: RLlib 2.60's default env-to-module / module-to-env pieces, which the array path computes itself.
ARRAY_ENV_TO_MODULE = (
    "AddObservationsFromEpisodesToBatch",
    "AddTimeDimToBatchAndZeroPad",
    "AddStatesFromEpisodesToBatch",
    "AgentToModuleMapping",
    "BatchIndividualItems",
    "NumpyToTensor",
)
ARRAY_MODULE_TO_ENV = (
    "GetActions",
    "TensorToNumpy",
    "UnBatchToIndividualItems",
    "IndexedUnBatchToIndividualItems",
    "ModuleToAgentUnmapping",
    "RemoveSingleTsTimeRankFromBatch",
    "NormalizeAndClipActions",
    "ListifyDataForVectorEnv",
    "IndexedListifyDataForVectorEnv",
)


def array_sampling_problems(runner: Any) -> list[str]:
    """Why ``runner`` cannot use the array path (empty: it can): custom connector pieces (their work would be
    skipped), action normalising or clipping, or a callback that defines ``on_episode_step``."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    problems = []
    for attr, allowed in (("_env_to_module", ARRAY_ENV_TO_MODULE), ("_module_to_env", ARRAY_MODULE_TO_ENV)):
        pipeline = getattr(runner, attr, None)
        extra = [type(c).__name__ for c in getattr(pipeline, "connectors", []) if type(c).__name__ not in allowed]
        if extra:
            problems.append(f"custom {attr.strip('_')} connector pieces {extra}")
    if runner.config.normalize_actions or runner.config.clip_actions:
        problems.append("normalize_actions/clip_actions are on")
    for cb in getattr(runner, "_callbacks", None) or []:
        if type(cb).on_episode_step is not RLlibCallback.on_episode_step:
            problems.append(f"callback {type(cb).__name__} defines on_episode_step")
    if runner.config.callbacks_on_episode_step:
        problems.append("config.callbacks_on_episode_step is set")
    return problems


class ArraySampling:
    """Env runner mixin: ``sample(num_timesteps=...)`` through :class:`ArrayRollout` when
    :meth:`use_array_sampling` says so; everything else (``num_episodes``, random actions) RLlib's way.

    Internal: overrides the private ``MultiAgentEnvRunner._sample``.
    """

    def use_array_sampling(self) -> bool:  # the runner decides (config and env)
        return False

    def _sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list:
        if num_timesteps is None or random_actions or self.module is None or not self.use_array_sampling():
            return super()._sample(
                num_timesteps=num_timesteps,
                num_episodes=num_episodes,
                explore=explore,
                random_actions=random_actions,
                force_reset=force_reset,
            )
        return ArrayRollout(self, explore).run(num_timesteps, force_reset)


def direct_forward(module: Any) -> Any:
    """A forward pass for RLlib's default PPO torch module (MLP, or MLP + LSTM, shared encoder, categorical
    logits) that calls the module's own layers without RLlib's per-call plumbing (dicts per sub-model, fold and
    unfold, pytree maps): ``batch -> outputs`` with the same tensors and keys as ``module._forward``; ``None`` for
    any other module, which then runs its own forward. The equivalence test compares the outputs
    (tests/support/compare.py)."""
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.core.models.torch.encoder import (
        TorchActorCriticEncoder,
        TorchLSTMEncoder,
        TorchMLPEncoder,
        TorchStatefulActorCriticEncoder,
    )
    from ray.rllib.core.models.torch.heads import TorchMLPHead

    cls = type(module)
    if (
        not isinstance(module, DefaultPPOTorchRLModule)
        or cls._forward is not DefaultPPOTorchRLModule._forward
        or cls._forward_exploration is not TorchRLModule._forward_exploration
        or cls._forward_inference is not TorchRLModule._forward_inference
        or type(getattr(module, "pi", None)) is not TorchMLPHead
        or module.pi.clip_log_std
    ):
        return None
    pi, enc = module.pi.net.mlp, module.encoder
    if type(enc) is TorchActorCriticEncoder:
        actor = enc.encoder if enc.config.shared else enc.actor_encoder  # the critic's output is not used here
        if type(actor) is not TorchMLPEncoder:
            return None
        mlp = actor.net.mlp

        def forward(batch: dict) -> dict:
            return {Columns.ACTION_DIST_INPUTS: pi(mlp(batch[Columns.OBS]))}

        return forward
    if type(enc) is not TorchStatefulActorCriticEncoder or not enc.config.shared:
        return None
    if type(enc.encoder) is not TorchLSTMEncoder:
        return None
    tokenizer, lstm = enc.encoder.tokenizer, enc.encoder.lstm
    if tokenizer is not None and type(tokenizer) is not TorchMLPEncoder:
        return None
    tok = tokenizer.net.mlp if tokenizer is not None else None

    def forward_lstm(batch: dict) -> dict:
        obs = batch[Columns.OBS]  # (B, T, ...)
        if tok is None:
            x = obs.float()
        else:
            b, t = obs.shape[:2]
            x = tok(obs.reshape([b * t, *obs.shape[2:]]))
            x = x.reshape([b, t, *x.shape[1:]])
        state = batch[Columns.STATE_IN]
        out, (h, c) = lstm(x, (state["h"].transpose(0, 1), state["c"].transpose(0, 1)))
        return {
            Columns.STATE_OUT: {"h": h.transpose(0, 1), "c": c.transpose(0, 1)},
            Columns.ACTION_DIST_INPUTS: pi(out),
        }

    return forward_lstm


class _Buffers:
    """Per-step arrays of one ``sample()`` call, ``(steps, envs, cars, ...)``; grown by doubling."""

    def __init__(self, steps: int, envs: int, cars: int):
        self.shape = (steps, envs, cars)
        self.arrays: dict[str, Any] = {}

    def column(self, name: str, item_shape: tuple, dtype: Any) -> Any:
        arr = self.arrays.get(name)
        if arr is None:
            arr = self.arrays[name] = np.zeros(self.shape + tuple(item_shape), dtype)
        return arr

    def ensure(self, step: int) -> None:
        if step < self.shape[0]:
            return
        grow = self.shape[0]
        self.shape = (self.shape[0] + grow, *self.shape[1:])
        for name, arr in self.arrays.items():
            self.arrays[name] = np.concatenate([arr, np.zeros((grow, *arr.shape[1:]), arr.dtype)])


def _numpy(t: Any) -> Any:
    """One tensor as RLlib's ``TensorToNumpy`` piece (``convert_to_numpy``) returns it: 0-d as a Python scalar,
    floats as float32 and signed ints as int32."""
    if not isinstance(t, torch.Tensor):
        return t
    if t.dim() == 0:
        return t.cpu().item()
    ret = t.detach().cpu().numpy()
    if np.issubdtype(ret.dtype, np.floating):
        return ret.astype(np.float32, copy=False)
    if np.issubdtype(ret.dtype, int):
        return ret.astype(np.int32, copy=False)
    return ret


def _to_numpy(out: dict) -> dict:
    """A forward pass's output as numpy (tensors, and the one level of dicts LSTM states come in)."""
    return {k: {kk: _numpy(vv) for kk, vv in v.items()} if isinstance(v, dict) else _numpy(v) for k, v in out.items()}


def _finalize(buf: Any, chunks: dict | None = None) -> None:
    """``InfiniteLookbackBuffer.finalize`` for items that are arrays, scalars or flat dicts of arrays (the array
    path's), with one ``np.array`` per column instead of a Python loop per item; other items RLlib's way.

    ``chunks`` (``id(buf) -> (buf, items before, [array chunks])``, :meth:`ArrayRollout._append`): where the items
    this call appended are still the list's tail, they are taken from the arrays they came from, and only the
    items from before (an episode's lookback) are stacked one by one. Same array either way."""
    if buf.finalized:
        return
    data = buf.data
    first = data[0] if data else None
    if isinstance(first, dict):
        if not all(isinstance(v, np.ndarray) for v in first.values()):
            buf.finalize()
            return
        buf.data = {k: _stacked([d[k] for d in data], buf, chunks, k) for k in first}
    elif isinstance(first, np.ndarray):
        buf.data = _stacked(data, buf, chunks)
    elif data:
        buf.data = _stacked(data, buf, chunks)
    else:
        buf.finalize()
        return
    buf.finalized = True


def _stacked(items: list, buf: Any, chunks: dict | None, key: str | None = None) -> Any:
    """``np.array(items)`` (``items``: ``buf``'s items, or their ``key`` entries), from ``chunks`` where it can."""
    known = chunks.get(id(buf)) if chunks else None
    if known is not None and known[0] is buf:
        _, before, parts = known
        parts = [p[key] for p in parts] if key is not None else parts
        if len(items) == before + sum(len(p) for p in parts):
            head = [np.array(items[:before])] if before else []
            out = np.concatenate(head + parts)
            if out.dtype == parts[0].dtype and (not before or head[0].dtype == out.dtype):
                return out
    return np.array(items)


def _episode_to_numpy(ep: Any, chunks: dict | None = None) -> Any:
    """``MultiAgentEpisode.to_numpy`` (the same buffers finalized: observations, and actions, rewards and extra
    model outputs of agents that stepped) through :func:`_finalize`."""
    for sa in ep.agent_episodes.values():
        sa.validate()
        _finalize(sa.observations, chunks)
        if len(sa) > 0:
            _finalize(sa.actions, chunks)
            _finalize(sa.rewards)
            for buf in sa.extra_model_outputs.values():
                _finalize(buf, chunks)
    return ep


class ArrayRollout:
    """One ``sample(num_timesteps=...)`` call of an :class:`ArraySampling` runner (see the section comment)."""

    STATE = "state_out"

    def __init__(self, runner: Any, explore: bool):
        self.r = runner
        self.explore = explore
        self.env = runner.env.unwrapped
        self.agents = list(self.env.agents)
        self.n, self.a = runner.num_envs, len(self.agents)
        index = {aid: j for j, aid in enumerate(self.agents)}
        # the pipelines visit an episode's agents in the order of a set of their ids (MultiAgentEpisode.
        # get_agents_that_stepped): the same ids inserted in the same order give the same set order
        self.order = [index[aid] for aid in set(self.agents)]
        self.done: list = []
        self.counts = Counter()
        self.env_steps = 0  # since the last reset: the loop's condition, as in RLlib
        self.agent_steps = 0
        self.stepped = 0  # all env steps of the call, the ones before an env failure included (counted, as RLlib)
        self.last_rows: list = []
        # seconds spent per timer over the call; logged once per call as the mean per step (RLlib logs each step)
        self.timers = {RLMODULE_INFERENCE_TIMER: 0.0, ENV_STEP_TIMER: 0.0}
        self.timed_steps = 0
        self.direct: dict[int, Any] = {}  # id(module) -> direct_forward(module)
        self.chunks: dict[int, tuple] = {}  # id(buffer) -> (buffer, items before this call, [appended arrays])

    # ------------------------------------------------------------------------------------------- set-up

    def _begin(self, step: int) -> None:
        """Read where every env stands from the runner's ongoing episodes: observations, LSTM states, modules."""
        r = self.r
        self.obs = np.array(self.env.last_obs, copy=True)
        self.seg_start = np.full(self.n, step)
        self.env_mods: list[list[str]] = [[] for _ in range(self.n)]
        self.mods_version = 0
        self.stateful: dict[str, bool] = {}
        self.state: dict[str, Any] | None = None
        self.initial: dict[str, Any] | None = None
        for i, ep in enumerate(r._ongoing_episodes):
            self._read_modules(i, ep)
            for j, aid in enumerate(self.agents):
                sa = ep.agent_episodes.get(aid)
                buf = sa.extra_model_outputs.get(self.STATE) if sa is not None else None
                if buf is not None and len(buf.data) and self.state is not None:
                    for k, v in buf.data[-1].items():
                        self.state[k][i, j] = v
        self.plan_key: Any = None
        self.plan: list = []

    def _read_modules(self, i: int, ep: Any) -> None:
        self.mods_version += 1  # the row plan (``_rows``) is rebuilt
        if not ep.is_reset:  # a game that ended on the last step: its env resets on the next one
            self.env_mods[i] = []
            return
        mods = [ep.agent_episodes[aid].module_id for aid in self.agents]
        self.env_mods[i] = mods
        for mid in mods:
            if mid not in self.stateful:
                stateful = bool(self.r.module[mid].is_stateful())
                self.stateful[mid] = stateful
                if stateful:
                    self._state_rows(mid)

    def _state_rows(self, mid: str | None = None) -> Any:
        """The (envs, cars, ...) LSTM state arrays, made from the first stateful module's initial state."""
        if self.state is None:
            mid = mid or next(m for m, s in self.stateful.items() if s)
            init = convert_to_numpy(self.r.module[mid].get_initial_state())
            self.initial = init
            self.state = {k: np.broadcast_to(v, (self.n, self.a, *v.shape)).copy() for k, v in init.items()}
        return self.state, self.initial

    # ------------------------------------------------------------------------------------------- steps

    def _rows(self, active: Any) -> list:
        """(module, env indices, car indices) per module, in the pipelines' row order (cached per active set)."""
        key = (active.tobytes(), self.mods_version)
        if key != self.plan_key:
            rows: dict[str, tuple[list[int], list[int]]] = {}
            for i in np.flatnonzero(active):
                mods = self.env_mods[i]
                for j in self.order:
                    e_idx, a_idx = rows.setdefault(mods[j], ([], []))
                    e_idx.append(int(i))
                    a_idx.append(j)
            self.plan = [(mid, np.array(e), np.array(a)) for mid, (e, a) in rows.items()]
            self.plan_key = key
        return self.plan

    def _act(self, k: int, active: Any, bufs: _Buffers) -> Any:
        """Forward passes for the active envs' cars at step ``k``; returns the (envs, cars) actions."""
        r = self.r
        actions = np.zeros((self.n, self.a), np.int64)
        outs = []
        self.last_rows = self._rows(active)
        t0 = time.perf_counter()
        for mid, e_idx, a_idx in self.last_rows:  # (``run`` holds torch.no_grad for the whole call)
            module = r.module[mid]
            obs = torch.from_numpy(self.obs[e_idx, a_idx])
            batch: dict[str, Any] = {Columns.OBS: obs}
            if self.stateful[mid]:
                batch[Columns.OBS] = obs.unsqueeze(1)
                batch[Columns.STATE_IN] = {key: torch.from_numpy(v[e_idx, a_idx]) for key, v in self.state.items()}
            out = self._forward(module, batch)
            outs.append((mid, e_idx, a_idx, module, out))
        # GetActions after all forward passes, module by module, as RLlib's module-to-env pipeline runs
        for mid, e_idx, a_idx, module, out in outs:
            if Columns.ACTIONS not in out:
                cls = (
                    module.get_exploration_action_dist_cls() if self.explore else module.get_inference_action_dist_cls()
                )
                dist = cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
                if not self.explore:
                    dist = dist.to_deterministic()
                out[Columns.ACTIONS] = dist.sample()
                if Columns.ACTION_LOGP not in out:
                    out[Columns.ACTION_LOGP] = dist.logp(out[Columns.ACTIONS])
            out = _to_numpy(out)
            timed = self.stateful[mid]
            for col, value in out.items():
                if col == Columns.STATE_OUT:
                    for key, v in value.items():
                        self.state[key][e_idx, a_idx] = v
                        bufs.column(f"{col}/{key}", v.shape[1:], v.dtype)[k, e_idx, a_idx] = v
                    continue
                if timed:
                    value = value[:, 0]
                if col == Columns.ACTIONS:
                    actions[e_idx, a_idx] = value
                bufs.column(f"{mid}:{col}", value.shape[1:], value.dtype)[k, e_idx, a_idx] = value
            if mid not in self.columns:  # extra model outputs, in the order RLlib stores them
                extra = [c for c in out if c != Columns.ACTIONS]
                self.columns[mid] = extra[:1] + [WEIGHTS_SEQ_NO] + extra[1:] if extra else []
        self.timers[RLMODULE_INFERENCE_TIMER] += time.perf_counter() - t0
        return actions

    def _forward(self, module: Any, batch: dict) -> dict:
        direct = self.direct.get(id(module), False)
        if direct is False:
            direct = self.direct[id(module)] = direct_forward(module)
        if direct is not None and not module.training:
            return direct(batch)
        # ``run`` put the modules in eval mode; TorchRLModule.forward_exploration/inference would call eval() (a walk
        # over all submodules) on every call before ``_forward_exploration``/``_forward_inference``.
        if isinstance(module, TorchRLModule) and not module.training:
            return module._forward_exploration(batch) if self.explore else module._forward_inference(batch)
        return module.forward_exploration(batch) if self.explore else module.forward_inference(batch)

    def _step(self, actions: Any) -> Any:
        """``env.step_arrays`` with RLlib's env-step failure handling (``_try_env_step``)."""
        r = self.r
        t0 = time.perf_counter()
        try:
            out = self.env.step_arrays(actions)
            self.timers[ENV_STEP_TIMER] += time.perf_counter() - t0
            return out
        except Exception as e:
            r.metrics.log_value(NUM_ENV_STEP_FAILURES_LIFETIME, 1, reduce="lifetime_sum")
            if not r.config.restart_failed_sub_environments:
                raise RuntimeError(f"env runner {r.worker_index}: env step failed: {e!r}") from e
            logger.exception("env step failed; re-creating and resetting the env: %r", e)
            r.make_env()
            return None

    # ------------------------------------------------------------------------------------------- episodes

    def _append(self, i: int, end: int, te: bool, tr: bool, final_info: Any) -> None:
        """Append env ``i``'s steps ``seg_start[i] .. end - 1`` to its ongoing episode (what ``add_env_step``
        would have stored step by step; internal: extends the episode's lookback buffers' lists)."""
        start = int(self.seg_start[i])
        count = end - start
        if count <= 0:
            return
        ep = self.r._ongoing_episodes[i]
        now = time.perf_counter()
        seq = weights_version(self.r)
        arrays = self.bufs.arrays
        obs, rew = arrays["obs"], arrays["rewards"]
        for j, aid in enumerate(self.agents):
            sa = ep.agent_episodes[aid]
            mid = sa.module_id
            base = len(sa) + ep.agent_t_started[aid]
            obs_rows = obs[start:end, i, j]
            infos = [{} for _ in range(count)]
            if final_info is not None:
                infos[-1] = dict(final_info)
            self._chunk(sa.observations, obs_rows)
            sa.observations.data.extend(obs_rows)
            sa.infos.data.extend(infos)
            acts = arrays[f"{mid}:{Columns.ACTIONS}"][start:end, i, j]
            self._chunk(sa.actions, acts)
            sa.actions.data.extend(acts)
            sa.rewards.data.extend(rew[start:end, i, j].tolist())
            for col in self.columns.get(mid, []):
                part: Any = None
                if col == WEIGHTS_SEQ_NO:
                    items = [seq] * count
                elif col == Columns.STATE_OUT:
                    part = {key: arrays[f"{col}/{key}"][start:end, i, j] for key in self.state}
                    keys = list(part)
                    items = [dict(zip(keys, vals, strict=True)) for vals in zip(*part.values(), strict=True)]
                else:
                    part = arrays[f"{mid}:{col}"][start:end, i, j]
                    items = list(part)
                self._extend(sa, col, items, part)
            sa.t += count
            sa.is_terminated, sa.is_truncated = te, tr
            sa._last_added_observation, sa._last_added_infos = obs_rows[-1], infos[-1]
            sa._last_step_time = now
            if sa._start_time is None:
                sa._start_time = now
            ep.env_t_to_agent_t[aid].data.extend(range(base + 1, base + count + 1))
        ep.env_t += count
        ep.is_terminated, ep.is_truncated = te, tr
        ep._last_step_time = now
        if ep._start_time is None:
            ep._start_time = now
        ep.validate()
        self.seg_start[i] = end

    def _extend(self, sa: Any, col: str, items: list, part: Any) -> None:
        buf = sa.extra_model_outputs.get(col)
        if buf is None:
            buf = sa.extra_model_outputs[col] = InfiniteLookbackBuffer([])
        if part is not None:
            self._chunk(buf, part)
        buf.data.extend(items)

    def _chunk(self, buf: Any, part: Any) -> None:
        """Remember that ``part`` (an array, or a dict of arrays) is about to be appended to ``buf`` (for
        :func:`_finalize`)."""
        known = self.chunks.get(id(buf))
        if known is None or known[0] is not buf:
            known = self.chunks[id(buf)] = (buf, len(buf.data), [])
        known[2].append(part)

    def _callback(self, which: str, i: int) -> None:
        self.r._make_on_episode_callback(which, i, self.r._ongoing_episodes)

    # ------------------------------------------------------------------------------------------- the loop

    def run(self, num_timesteps: int, force_reset: bool) -> list:
        # RLlib's forward_exploration/inference switch a module in training mode to eval mode and back on every call
        # (a walk over all submodules, 6 % of sampling): switch once for the whole call instead.
        training = [m for m in self.r.module.values() if getattr(m, "training", False)]
        for m in training:
            m.eval()
        try:
            with torch.no_grad():
                return self._run(num_timesteps, force_reset)
        finally:
            for m in training:
                m.train()

    def _run(self, num_timesteps: int, force_reset: bool) -> list:
        r = self.r
        if force_reset or r._needs_initial_reset:
            r._reset_envs_and_episodes(self.explore)
        by_env = r.config.count_steps_by == "env_steps"
        steps = max(2, -(-num_timesteps // (self.n if by_env else self.n * self.a)) + 2)
        bufs = self.bufs = _Buffers(steps, self.n, self.a)
        self.columns: dict[str, list[str]] = {}
        obs_dim = self.env.last_obs.shape[-1]
        bufs.column("obs", (obs_dim,), self.env.last_obs.dtype)
        self._begin(0)
        k = 0
        while (self.env_steps if by_env else self.agent_steps) < num_timesteps:
            bufs.ensure(k)
            active = ~self.env.resetting_next
            self.last_rows = []
            actions = self._act(k, active, bufs) if active.any() else np.zeros((self.n, self.a), np.int64)
            out = self._step(actions)
            if out is None:  # the env failed and was re-created: drop the running games, as RLlib does
                r._reset_envs_and_episodes(self.explore)
                self.env_steps = self.agent_steps = 0
                self._begin(k)
                continue
            bufs.arrays["obs"][k] = out.obs
            bufs.column("rewards", (), out.rewards.dtype)[k] = out.rewards
            self.obs = out.obs
            stepped = ~out.resetting
            n_stepped = int(stepped.sum())
            self.env_steps += n_stepped
            self.agent_steps += n_stepped * self.a
            self.stepped += n_stepped
            done = (out.terminated | out.truncated) & stepped
            for mid, e_idx, _ in self.last_rows:  # the rows that acted are the stepped envs' cars
                self.counts[("module", mid)] += len(e_idx)
            self.counts[None] += n_stepped
            for i in np.flatnonzero(out.resetting | done):
                if out.resetting[i]:
                    self._started(i, k)
                else:
                    self._ended(i, k, bool(out.terminated[i]), bool(out.truncated[i]), out.final_infos.get(int(i)))
            k += 1
            self.timed_steps += 1
        for i in range(self.n):
            self._append(i, k, False, False, None)
        return self._finish()

    def _started(self, i: int, k: int) -> None:
        """Env ``i`` was reset at step ``k``: the new episode's first observation, initial LSTM state, modules."""
        ep = self.r._ongoing_episodes[i]
        ep.add_env_reset(observations=dict(zip(self.agents, self.obs[i], strict=True)), infos={})
        self._read_modules(i, ep)
        if self.state is not None:
            for key, v in self.state.items():
                v[i] = self.initial[key]
        self.seg_start[i] = k + 1
        self._callback("on_episode_start", i)

    def _ended(self, i: int, k: int, te: bool, tr: bool, final_info: Any) -> None:
        """Env ``i``'s game ended at step ``k``: finish its episode, as RLlib does, and start the next one."""
        r = self.r
        self._append(i, k + 1, te, tr, final_info)
        ep = r._ongoing_episodes[i]
        self.counts["__episodes__"] += 1
        self._callback("on_episode_end", i)
        r._prune_zero_len_sa_episodes(ep)
        self.done.append(ep)
        r._new_episode(i, r._ongoing_episodes)

    def _finish(self) -> list:
        """Hand back the finished episodes and the chunks of the running ones; cut the running ones to go on."""
        r = self.r
        pending = r.__dict__.setdefault("_pending_counts", Counter())
        pending.update(self.counts)
        for aid in self.agents:
            pending[("agent", str(aid))] += self.stepped
        if self.timed_steps:
            for key, seconds in self.timers.items():
                r.metrics.log_value(key, seconds / self.timed_steps, reduce="ema")
        if self.stepped:
            r._log_env_steps(metric=r._metrics_num_env_steps_sampled, num_steps=self.stepped)
        for ep in self.done:
            _episode_to_numpy(ep, self.chunks)
        r._done_episodes_for_metrics.extend(self.done)
        going_on = [ep.cut(len_lookback_buffer=r.config.episode_lookback_horizon) for ep in r._ongoing_episodes]
        chunks = []
        for ep in r._ongoing_episodes:
            if ep.env_t == 0:
                continue
            ep.validate()
            r._ongoing_episodes_for_metrics[ep.id_].append(ep)
            r._prune_zero_len_sa_episodes(ep)
            chunks.append(_episode_to_numpy(ep, self.chunks))
        r._ongoing_episodes = going_on
        r._cached_to_module = None
        return self.done + chunks
