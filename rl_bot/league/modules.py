"""Frozen opponents as RLlib (new API stack) RLModules, for env runners that play ``main`` against them.

Each module turns ``batch["obs"]`` into ``action_dist_inputs`` logits over the 90 lookup-table actions; the env
runner samples a ``TorchCategorical`` from them as it does for ``main``. They have no weights (one empty
parameter of size 0, for the learner's sake) and an empty state, and do not implement ``ValueFunctionAPI``, so
PPO's GAE connector computes no values for them. Keep them out of ``policies_to_train``: the learner builds them
but never updates them.

- :class:`RuleBotModule` / :class:`BasicRuleBotModule`: the scripted :class:`~rl_bot.league.rule_bot.RuleBot` /
  :class:`~rl_bot.league.rule_bot.BasicRuleBot`; logits are 0 for the bot's action and :data:`OFF_LOGIT` elsewhere,
  so sampling gives its action (probability ``1 - 89 e^-50``, i.e. always).
- :class:`RandomModule`: uniform logits, so uniformly random actions.

:data:`BUILTIN_MODULES` maps each built-in opponent's name (``league.opponents``) to its module class.
"""

from __future__ import annotations

import abc
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch import TorchRLModule

from rl_bot.league.opponents import RANDOM, RULE, RULE_BASIC
from rl_bot.league.rule_bot import NUM_ACTIONS, OBS_SIZE, BasicRuleBot, RuleBot

#: Logit of the actions the rule bot does not pick: softmax gives them e^-50 ≈ 2e-22 each.
OFF_LOGIT = -50.0


class _FrozenModule(TorchRLModule):  # RLModule is an abc.ABC
    """Shared checks and shapes: ``obs`` ``[B, 172]`` or ``[B, T, 172]`` → logits ``[B, 90]`` or ``[B, T, 90]``."""

    def setup(self) -> None:
        problems = []
        obs_shape = getattr(self.observation_space, "shape", None)
        if obs_shape != (OBS_SIZE,):
            problems.append(f"observation_space shape {obs_shape}, expected ({OBS_SIZE},)")
        if not (isinstance(self.action_space, gym.spaces.Discrete) and self.action_space.n == NUM_ACTIONS):
            problems.append(f"action_space {self.action_space}, expected Discrete({NUM_ACTIONS})")
        if problems:
            raise ValueError(f"{type(self).__name__}: " + "; ".join(problems))
        # The learner builds every module, frozen ones too. With several learners it wraps each in DDP, which
        # refuses a module without a parameter that requires grad; RLlib's default PPOTorchLearner also gives
        # each one an Adam optimizer, which refuses an empty parameter list. This empty tensor satisfies both:
        # it holds nothing, never gets a gradient (RLlib skips None gradients) and is not in the module's state.
        self._empty_param = torch.nn.Parameter(torch.zeros(0))

    def get_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Empty: a frozen module has no weights."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Nothing to load; weight syncs from the learner may still send the size-0 parameter."""

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        lead = obs.shape[:-1]
        logits = self._logits(obs.reshape(-1, obs.shape[-1]))
        return {Columns.ACTION_DIST_INPUTS: logits.reshape(*lead, NUM_ACTIONS)}

    @abc.abstractmethod
    def _logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``[N, 90]`` float32 logits for ``[N, 172]`` observations."""


class RuleBotModule(_FrozenModule):
    """The rule-based bot as a frozen module: near-one-hot logits on :meth:`RuleBot.actions`."""

    bot_class: type = RuleBot

    def setup(self) -> None:
        super().setup()
        self.bot = self.bot_class()

    def _logits(self, obs: torch.Tensor) -> torch.Tensor:
        acts = self.bot.actions(obs.detach().cpu().numpy())
        logits = torch.full((len(acts), NUM_ACTIONS), OFF_LOGIT, dtype=torch.float32, device=obs.device)
        logits[torch.arange(len(acts), device=obs.device), torch.from_numpy(acts).to(obs.device)] = 0.0
        return logits


class BasicRuleBotModule(RuleBotModule):
    """The basic rule-based bot (``rule-basic``) as a frozen module."""

    bot_class = BasicRuleBot


class RandomModule(_FrozenModule):
    """Uniformly random actions: all-zero logits."""

    def _logits(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros((obs.shape[0], NUM_ACTIONS), dtype=torch.float32, device=obs.device)


#: Built-in opponent name -> the frozen module that plays it.
BUILTIN_MODULES: dict[str, type[_FrozenModule]] = {
    RANDOM: RandomModule,
    RULE_BASIC: BasicRuleBotModule,
    RULE: RuleBotModule,
}
