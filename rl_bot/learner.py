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


class RLBotPPOTorchLearner(PPOTorchLearner):
    """``PPOTorchLearner`` that builds optimizers only for the modules in ``policies_to_train``.

    RLlib's default gives every module an Adam optimizer, trained or not: the frozen league opponents would carry
    optimizer state in every checkpoint, and the parameter-free rule-bot module makes Adam fail.
    """

    def configure_optimizers(self) -> None:
        for module_id in self.module.keys():
            if self.should_module_be_updated(module_id) and self.rl_module_is_compatible(self.module[module_id]):
                config = self.config.get_config_for_module(module_id)
                self.configure_optimizers_for_module(module_id=module_id, config=config)


class MixedPrecisionPPOTorchLearner(RLBotPPOTorchLearner):
    """``PPOTorchLearner`` whose forward pass and loss run in float16 (CUDA) / bfloat16 (CPU) autocast."""

    #: autocast dtype per device type; float16 needs the GradScaler that algo.py configures alongside.
    DTYPES = {"cuda": torch.float16, "cpu": torch.bfloat16}

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
