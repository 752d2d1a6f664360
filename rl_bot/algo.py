"""The only place that turns a :class:`~rl_bot.config.TrainConfig` into an RLlib ``PPOConfig``."""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from rl_bot.callbacks.metrics import EnvMetricsCallback
from rl_bot.compat import (
    DropUntrainedAgents,
    MixedPrecisionPPOTorchLearner,
    RLBotPPOTorchLearner,
    warn_on_version_drift,
)
from rl_bot.config import ModelConfig, TrainConfig
from rl_bot.env.rllib_env import ENV_NAME, RocketLeagueEnv
from rl_bot.league.league import MAIN as MAIN_MODULE
from rl_bot.league.league import slot_ids
from rl_bot.runner import RLBotEnvRunner, RunnerCallback


def _make_env(env_context: Any) -> RocketLeagueEnv:
    return RocketLeagueEnv(env_context)


def register() -> None:
    """Register the env under :data:`ENV_NAME` (idempotent; RLlib calls it again on each runner)."""
    register_env(ENV_NAME, _make_env)


def model_config(cfg: ModelConfig) -> DefaultModelConfig:
    """RLlib's default model: dense layers, then an LSTM unless ``use_lstm`` is false."""
    return DefaultModelConfig(
        fcnet_hiddens=list(cfg.fcnet_hiddens),
        fcnet_activation=cfg.fcnet_activation,
        use_lstm=cfg.use_lstm,
        lstm_cell_size=cfg.lstm_cell_size,
        max_seq_len=cfg.max_seq_len,
        vf_share_layers=cfg.vf_share_layers,
    )


def main_policy_mapping(agent_id: Any, episode: Any, **kwargs: Any) -> str:
    """Shared-policy self-play: ``main`` drives every car on both teams."""
    return MAIN_MODULE


def module_specs(cfg: TrainConfig) -> dict[str, RLModuleSpec]:
    """``main``; the frozen opponents: the built-in bots the league or a curriculum stage plays
    (``TrainConfig.builtin_modules``) and, with the league on, the snapshot slots (the pool size plus a spare),
    each with main's architecture (weights set by the league)."""
    from rl_bot.league.modules import BUILTIN_MODULES, SnapshotModule

    main = RLModuleSpec(model_config=model_config(cfg.model))
    specs = {MAIN_MODULE: main}
    for name in cfg.builtin_modules:
        specs[name] = RLModuleSpec(module_class=BUILTIN_MODULES[name])
    if cfg.league.enabled:
        for slot in slot_ids(cfg.league.num_slots):
            specs[slot] = RLModuleSpec(module_class=SnapshotModule, model_config=model_config(cfg.model))
    return specs


def inference_module(cfg: TrainConfig) -> Any:
    """A stand-alone inference-only copy of main's architecture (for evaluation and snapshot opponents)."""
    import gymnasium as gym
    import numpy as np
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule

    from rl_bot.env.batched import OBS_SIZE
    from rl_bot.env.game import NUM_ACTIONS

    return RLModuleSpec(
        module_class=DefaultPPOTorchRLModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (OBS_SIZE,), np.float32),
        action_space=gym.spaces.Discrete(NUM_ACTIONS),
        model_config=model_config(cfg.model),
        inference_only=True,
    ).build()


def build_ppo_config(cfg: TrainConfig) -> PPOConfig:
    """Map the config onto PPO: env, env runners, learners, model, PPO hyperparameters, callbacks."""
    warn_on_version_drift()
    register()
    p = cfg.ppo
    r = cfg.resources
    specs = module_specs(cfg)
    frozen = len(specs) > 1
    ppo = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment(
            ENV_NAME,
            env_config={"env": cfg.env.model_dump(mode="json"), "seed": cfg.run.seed, "sampler": r.sampler},
            # Discrete actions need no unsquashing or clipping; with both off RLlib's NormalizeAndClipActions
            # connector returns at once instead of deep-copying and visiting every action (5 % of sampling).
            normalize_actions=False,
            clip_actions=False,
        )
        .env_runners(
            env_runner_cls=RLBotEnvRunner,
            num_env_runners=r.num_env_runners,
            num_envs_per_env_runner=r.num_envs_per_env_runner,
            num_cpus_per_env_runner=r.num_cpus_per_env_runner,
            sample_timeout_s=r.sample_timeout_s,
            rollout_fragment_length="auto",
            custom_resources_per_env_runner=dict(r.env_runner_resources),
        )
        .learners(
            num_learners=r.num_learners,
            num_gpus_per_learner=r.num_gpus_per_learner,
            custom_resources_per_learner=dict(r.learner_resources),
            learner_config_dict={"standardize_returns": p.standardize_returns, "return_clip": p.return_clip},
            # The league's frozen opponents are never trained: keep their agents out of the learner's batch.
            learner_connector=(lambda *_: DropUntrainedAgents(trainable=[MAIN_MODULE])) if frozen else None,
        )
        .multi_agent(
            # in the specs' order: a set would build the modules (drawing their initial weights from the seeded
            # generator) in the order of the string hash, which changes from process to process
            policies=list(specs),
            policy_mapping_fn=main_policy_mapping,
            policies_to_train=[MAIN_MODULE],
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(
            lr=p.lr,
            gamma=p.gamma,
            lambda_=p.lambda_,
            entropy_coeff=p.entropy_coeff,
            vf_loss_coeff=p.vf_loss_coeff,
            clip_param=p.clip_param,
            grad_clip=p.grad_clip,
            grad_clip_by="global_norm",
            kl_coeff=p.kl_coeff,
            use_kl_loss=p.kl_coeff > 0,
            vf_clip_param=p.vf_clip_param if p.vf_clip_param is not None else float("inf"),
            train_batch_size_per_learner=p.train_batch_size,
            minibatch_size=p.minibatch_size,
            num_epochs=p.num_epochs,
        )
        .framework(
            "torch",
            torch_compile_learner=cfg.learner.torch_compile,
            torch_compile_learner_what_to_compile="forward_train",
            torch_compile_learner_dynamo_backend="inductor",
        )
        .callbacks([EnvMetricsCallback, RunnerCallback])
        .debugging(seed=cfg.run.seed, log_level=cfg.run.log_level)
        .reporting(metrics_num_episodes_for_smoothing=100)
    )
    if cfg.learner.mixed_precision:
        import torch

        ppo.learners(learner_class=MixedPrecisionPPOTorchLearner)
        ppo.experimental(_torch_grad_scaler_class=torch.amp.GradScaler)
    else:
        ppo.learners(learner_class=RLBotPPOTorchLearner)
    return ppo
