"""What the learner reports beside PPO's losses, so that a policy that does not move or a broken critic is visible
in the first minutes of a run.

RLlib's PPO reports ``mean_kl_loss``, which is the KL *penalty term*: 0 whenever ``kl_coeff`` is 0 (rl-bot's
default), whatever the policy does. The values here are measured on every minibatch without gradients; like
RLlib's own loss stats they are logged with ``window=1``, so an iteration's figure is its last minibatch's: the
policy after almost all of the iteration's SGD steps, compared with the policy that sampled the batch.
"""

from __future__ import annotations

from typing import Any

VALUE_TARGETS = "value_targets"

#: learner result key -> (metric name, what it tells)
DIAGNOSTICS: dict[str, tuple[str, str]] = {
    "policy_kl": (
        "losses/kl",
        "KL(sampling policy || current policy), mean per sample: 0 is a policy that did not move",
    ),
    "clip_fraction": ("losses/clip_fraction", "share of samples whose probability ratio left [1 - clip, 1 + clip]"),
    "vf_clipped_share": (
        "losses/vf_clipped_share",
        "share of samples whose squared value error exceeds ppo.vf_clip_param: they give the critic no gradient",
    ),
    "explained_variance": (
        "losses/explained_variance",
        "1 - Var(value target - value) / Var(value target) over the real steps: 0 or less is a critic that explains "
        "nothing",
    ),
    "value_target_mean": ("losses/return_mean", "mean value target (GAE return): the scale the critic must fit"),
    "value_target_std": ("losses/return_std", "spread of the value targets"),
    "advantage_std": (
        "losses/advantage_std",
        "spread of value targets minus current values: the advantages' scale before RLlib standardizes them",
    ),
}


def ppo_diagnostics(
    *, module: Any, batch: dict[str, Any], fwd_out: dict[str, Any], clip_param: float, vf_clip_param: float
) -> dict[str, Any]:
    """The :data:`DIAGNOSTICS` of one minibatch (``batch`` and ``fwd_out`` as PPO's ``compute_loss_for_module``
    gets them; padding and bootstrap steps masked out as in its loss). Tensors, on the learner's device."""
    import torch  # here, not at import: the metric names above are read before Ray or torch load
    from ray.rllib.core.columns import Columns

    with torch.no_grad():
        mask = batch.get(Columns.LOSS_MASK)

        def pick(x: Any) -> Any:
            return x[mask] if mask is not None else x.reshape(-1)

        curr = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        prev = module.get_exploration_action_dist_cls().from_logits(batch[Columns.ACTION_DIST_INPUTS])
        ratio = torch.exp(curr.logp(batch[Columns.ACTIONS]) - batch[Columns.ACTION_LOGP])
        values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
        targets = pick(batch[VALUE_TARGETS])
        errors = targets - pick(values)
        return {
            "policy_kl": pick(prev.kl(curr)).mean(),
            "clip_fraction": (pick(ratio - 1.0).abs() > clip_param).float().mean(),
            "vf_clipped_share": (errors**2 > vf_clip_param).float().mean(),
            "explained_variance": 1.0 - errors.var(unbiased=False) / targets.var(unbiased=False).clamp_min(1e-8),
            "value_target_mean": targets.mean(),
            "value_target_std": targets.std(unbiased=False),
            "advantage_std": errors.std(unbiased=False),
        }
