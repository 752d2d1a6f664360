"""Mixed precision learner: the forward pass and loss really run under autocast (bfloat16 on this CPU box)."""

import pytest
import torch

from rl_bot.algo import build_ppo_config
from rl_bot.config import ConfigError, load_config
from rl_bot.learner import MixedPrecisionPPOTorchLearner

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
