"""PPO learner with automatic mixed precision (forward pass and losses under ``torch.autocast``).

RLlib 2.60 scales losses with a configurable ``GradScaler`` class but has no autocast switch; the forward pass
and loss are therefore wrapped here. Selected by ``learner.mixed_precision`` (GPU learners only, see
:mod:`rl_bot.algo`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner


class MixedPrecisionPPOTorchLearner(PPOTorchLearner):
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
