"""Mixed precision learner: the forward pass and loss really run under autocast (bfloat16 on this CPU box)."""

import pytest
import torch

from rl_bot.algo import build_ppo_config
from rl_bot.compat import MixedPrecisionPPOTorchLearner
from rl_bot.config import ConfigError, load_config

pytestmark = pytest.mark.integration


def test_gpu_only_options_are_refused_on_cpu():
    with pytest.raises(ConfigError, match="learner.mixed_precision=true needs a GPU learner"):
        load_config(None, ["learner.mixed_precision=true"])
    with pytest.raises(ConfigError, match="learner.torch_compile=true needs a GPU learner"):
        load_config(None, ["learner.torch_compile=true"])
    ppo = build_ppo_config(
        load_config(
            None, ["learner.mixed_precision=true", "learner.torch_compile=true", "resources.num_gpus_per_learner=1"]
        )
    )
    assert ppo.learner_class is MixedPrecisionPPOTorchLearner
    assert ppo._torch_grad_scaler_class is torch.amp.GradScaler
    assert ppo.torch_compile_learner


def test_mixed_precision_learner_trains_under_autocast(ray_guard):
    import ray

    cfg = load_config(
        None,
        [
            "resources.num_env_runners=0",
            "resources.num_envs_per_env_runner=2",
            "ppo.train_batch_size=200",
            "ppo.minibatch_size=100",
            "ppo.num_epochs=1",
            "model.fcnet_hiddens=[32]",
            "model.lstm_cell_size=16",
            "model.max_seq_len=10",
        ],
    )
    ppo = build_ppo_config(cfg).learners(learner_class=MixedPrecisionPPOTorchLearner)
    ray.init(num_cpus=2, include_dashboard=False)
    algo = ppo.build_algo()
    try:
        result = algo.train()
        learner = algo.learner_group._learner
        assert isinstance(learner, MixedPrecisionPPOTorchLearner)
        # on CPU the autocast dtype is bfloat16: the policy logits were computed in it
        assert learner.amp_last_logits_dtype == torch.bfloat16
        assert torch.isfinite(torch.tensor(result["learners"]["main"]["policy_loss"]))
        # the weights stay float32 (autocast casts activations, not parameters)
        assert all(p.dtype == torch.float32 for p in learner.module["main"].parameters())
    finally:
        algo.stop()


SMALL = [
    "resources.num_gpus_per_learner=1",  # lets the config accept the GPU-only options; the learner is put on CPU
    "resources.num_env_runners=0",
    "resources.num_envs_per_env_runner=4",
    "ppo.train_batch_size=800",
    "ppo.minibatch_size=400",
    "ppo.num_epochs=1",
    "model.use_lstm=true",
    "curriculum.enabled=false",
    "model.fcnet_hiddens=[64]",
    "model.lstm_cell_size=32",
    "model.max_seq_len=10",
    "run.log_level=ERROR",
]


def _first_update(episodes, spaces, overrides, scaler=False):
    """Weight change and logged gradient norm of one update from fixed initial weights on fixed episodes."""
    import copy
    import functools
    import random

    import numpy as np
    from ray.rllib.core.learner.training_data import TrainingData

    ppo = build_ppo_config(load_config(None, SMALL + overrides)).learners(num_gpus_per_learner=0)
    if scaler:  # CPU stands in for CUDA: bfloat16 autocast with a CPU GradScaler
        ppo.experimental(_torch_grad_scaler_class=functools.partial(torch.amp.GradScaler, "cpu"))
    torch.manual_seed(0)
    learner = ppo.build_learner(spaces=spaces)
    module = learner.module["main"]
    before = torch.cat([p.detach().reshape(-1).clone() for p in module.parameters()])
    np.random.seed(1), torch.manual_seed(1), random.seed(1)
    out = learner.update(
        training_data=TrainingData(episodes=copy.deepcopy(episodes)),
        timesteps={"num_env_steps_sampled_lifetime": 800},
        num_epochs=1,
        minibatch_size=400,
        shuffle_batch_per_epoch=True,
    )
    delta = torch.cat([p.detach().reshape(-1) for p in module.parameters()]) - before
    return learner, delta, float(out["main"]["gradients_default_optimizer_global_norm"].peek())


def test_mixed_precision_clips_unscaled_gradients_and_compile_wraps_main(ray_guard):
    """AMP's update matches fp32's in direction and size (gradients are unscaled before grad_clip), and
    torch_compile really compiles main's forward_train (dynamo's eager backend stands in for inductor on CPU)."""
    import ray

    from rl_bot.runner import RLBotEnvRunner

    ray.init(num_cpus=2, include_dashboard=False)
    runner = RLBotEnvRunner(config=build_ppo_config(load_config(None, SMALL)).learners(num_gpus_per_learner=0))
    episodes = runner.sample(num_timesteps=800, explore=True)
    spaces = runner.get_spaces()
    runner.stop()

    _, d32, g32 = _first_update(episodes, spaces, [])
    amp, damp, gamp = _first_update(episodes, spaces, ["learner.mixed_precision=true"], scaler=True)
    assert amp._grad_scalers is not None and amp._grad_scalers["main"].get_scale() > 1  # the scaler was in use
    assert gamp == pytest.approx(g32, rel=0.25)  # the clipped norm is the true one, not ~65536x it
    cos = torch.nn.functional.cosine_similarity(d32, damp, dim=0).item()
    assert cos > 0.9 and 0.75 < (damp.norm() / d32.norm()).item() < 1.33, (cos, damp.norm(), d32.norm())

    ppo_overrides = ["learner.torch_compile=true"]
    ppo = build_ppo_config(load_config(None, SMALL + ppo_overrides)).learners(num_gpus_per_learner=0)
    ppo.framework(torch_compile_learner_dynamo_backend="eager")
    learner = ppo.build_learner(spaces=spaces)
    fwd = learner.module["main"]._forward_train
    assert hasattr(fwd, "_torchdynamo_orig_callable"), "main's forward_train is not compiled"
