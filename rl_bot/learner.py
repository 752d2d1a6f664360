"""The PPO learners: optimizers only for trained modules, and automatic mixed precision.

RLlib 2.60 scales losses with a configurable ``GradScaler`` class but has no autocast switch; the forward pass
and loss are therefore wrapped here. Selected by ``learner.mixed_precision`` (GPU learners only, see
:mod:`rl_bot.algo`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.torch import TorchRLModule


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
