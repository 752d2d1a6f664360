"""Return standardization (``ppo.standardize_returns``): the trained module's rewards divided by the running standard
deviation of its discounted returns, then clipped, before GAE.

Without it the critic fits returns whose scale is set by the reward weights (a goal worth 10, shaping summed over
hundreds of steps), RLlib's ``vf_clip_param`` drops the gradient of every sample whose squared error passes it, and
a shared trunk takes the critic's large gradients; with it the value targets have a scale near 1 whatever the
weights. This is what the single-box peers do by default (rlgym-ppo, rlgym-learn-algos: running statistics of the
discounted returns, rewards divided by their standard deviation, clip 10).

It runs in the learner's connector pipeline, right before GAE, so both sampling paths (the array sampler and
RLlib's) get the same scaling, and its statistics are part of the learner's state: saved in every checkpoint and
restored on resume (:class:`~rl_bot.compat.RLBotPPOTorchLearner`). With several learners each keeps statistics of
its own shard.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns

#: Key of the statistics in the learner's state (and in its checkpoint).
STATE_KEY = "rl_bot_return_stats"


class RunningMoments:
    """Count, mean and variance of a stream of values, merged batch by batch (Chan et al.'s parallel update)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean

    def update(self, values: np.ndarray) -> None:
        """Fold in a batch of values."""
        n = int(values.size)
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta**2 * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """The standard deviation so far (1 before two values are seen; never below 1e-6)."""
        if self.count < 2:
            return 1.0
        return max(float(np.sqrt(self.m2 / self.count)), 1e-6)

    def get_state(self) -> dict[str, float]:
        """Plain numbers, for checkpoints."""
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def set_state(self, state: dict[str, float]) -> None:
        """Continue from :meth:`get_state`'s numbers."""
        self.count, self.mean, self.m2 = int(state["count"]), float(state["mean"]), float(state["m2"])


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``G_t = r_t + gamma * G_{t+1}`` within one episode chunk (no bootstrap at its end)."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -gamma], np.asarray(rewards, np.float64)[::-1])[::-1]


class ReturnStandardizer(ConnectorV2):
    """Learner connector piece: update the running return statistics of each trained module from the batch's
    episodes, then scale that module's batch rewards to ``clip(r / std, -clip, clip)``."""

    def __init__(
        self,
        input_observation_space: Any = None,
        input_action_space: Any = None,
        *,
        gamma: float,
        clip: float,
        modules: tuple[str, ...],
    ) -> None:
        super().__init__(input_observation_space, input_action_space)
        self.gamma, self.clip, self.modules = gamma, clip, modules
        self.stats = {m: RunningMoments() for m in modules}

    def __call__(self, *, rl_module: Any, batch: dict[str, Any], episodes: list[Any], **kwargs: Any) -> Any:
        returns: dict[str, list[np.ndarray]] = {m: [] for m in self.modules}
        for sa in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            if sa.module_id in returns:
                returns[sa.module_id].append(discounted_returns(sa.get_rewards(), self.gamma))
        for module_id, parts in returns.items():
            if module_id not in batch or not parts:
                continue
            stats = self.stats[module_id]
            stats.update(np.concatenate(parts))
            rewards = batch[module_id][Columns.REWARDS]  # a tensor by now (after NumpyToTensor), or an array
            scaled = rewards / stats.std
            batch[module_id][Columns.REWARDS] = (
                scaled.clamp(-self.clip, self.clip)
                if hasattr(scaled, "clamp")
                else np.clip(scaled, -self.clip, self.clip)
            )
        return batch

    def get_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {m: s.get_state() for m, s in self.stats.items()}

    def set_state(self, state: dict[str, Any]) -> None:
        for m, s in state.items():
            self.stats.setdefault(m, RunningMoments()).set_state(s)
