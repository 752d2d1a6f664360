"""The learner's diagnostics (rl_bot/diagnostics.py) on minibatches whose answers are known by hand."""

import math

import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.models.torch.torch_distributions import TorchCategorical

from rl_bot.diagnostics import DIAGNOSTICS, ppo_diagnostics


class Module:
    """A module whose value head returns the embeddings it is given (so the test sets the values)."""

    def get_train_action_dist_cls(self):
        return TorchCategorical

    def get_exploration_action_dist_cls(self):
        return TorchCategorical

    def compute_values(self, batch, embeddings=None):
        return embeddings


def minibatch(old_logits, new_logits, values, targets, mask=None):
    old = TorchCategorical.from_logits(old_logits)
    actions = torch.tensor([0, 1, 2, 0])
    batch = {
        Columns.ACTION_DIST_INPUTS: old_logits,
        Columns.ACTIONS: actions,
        Columns.ACTION_LOGP: old.logp(actions),
        "value_targets": torch.tensor(targets),
        "advantages": torch.zeros(4),
    }
    if mask is not None:
        batch[Columns.LOSS_MASK] = torch.tensor(mask)
    fwd = {Columns.ACTION_DIST_INPUTS: new_logits, Columns.EMBEDDINGS: torch.tensor(values)}
    return ppo_diagnostics(module=Module(), batch=batch, fwd_out=fwd, clip_param=0.2, vf_clip_param=10.0)


def test_an_unmoved_policy_and_a_perfect_critic():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    d = minibatch(logits, logits.clone(), [0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0])
    assert d["policy_kl"].item() == pytest.approx(0.0, abs=1e-7)
    assert d["clip_fraction"].item() == 0.0 and d["vf_clipped_share"].item() == 0.0
    assert d["explained_variance"].item() == pytest.approx(1.0)
    assert d["value_target_mean"].item() == pytest.approx(1.5)
    assert d["value_target_std"].item() == pytest.approx(math.sqrt(1.25))
    assert d["advantage_std"].item() == pytest.approx(0.0)


def test_a_moved_policy_and_a_critic_off_on_one_sample():
    old = torch.zeros(4, 3)  # uniform
    new = torch.zeros(4, 3)
    new[0, 0] = math.log(4.0)  # sample 0: p(action 0) 1/3 -> 2/3, ratio 2 (clipped); the rest unchanged
    d = minibatch(old, new, [0.0, 1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 10.0])
    p = torch.tensor([2 / 3, 1 / 6, 1 / 6])
    kl0 = (torch.full((3,), 1 / 3) * (torch.full((3,), 1 / 3) / p).log()).sum().item()
    assert d["policy_kl"].item() == pytest.approx(kl0 / 4, rel=1e-5)
    assert d["clip_fraction"].item() == pytest.approx(0.25)
    assert d["vf_clipped_share"].item() == pytest.approx(0.25)  # 10^2 > vf_clip_param: no gradient for it
    assert d["explained_variance"].item() < 0.2
    # the loss mask keeps padding and bootstrap steps out, as in PPO's loss
    masked = minibatch(old, new, [0.0, 1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 10.0], mask=[False, True, True, False])
    assert masked["policy_kl"].item() == pytest.approx(0.0, abs=1e-7)
    assert masked["clip_fraction"].item() == 0.0 and masked["vf_clipped_share"].item() == 0.0


def test_every_diagnostic_has_a_metric_name_and_a_meaning():
    d = minibatch(torch.zeros(4, 3), torch.zeros(4, 3), [0.0] * 4, [1.0, 2.0, 3.0, 4.0])
    assert set(d) == set(DIAGNOSTICS)
    assert all(name.startswith("losses/") and doc for name, doc in DIAGNOSTICS.values())
