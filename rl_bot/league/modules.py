"""Frozen opponents as RLlib (new API stack) RLModules, for env runners that play ``main`` against them.

A frozen module returns its actions itself (``Columns.ACTIONS``), so RLlib's ``GetActions`` connector builds no
action distribution and computes no log-probability for it: nothing of a frozen agent's is ever trained on (see
:class:`~rl_bot.compat.DropUntrainedAgents`), and that work is paid on every env step a frozen module plays.

- :class:`RuleBotModule` / :class:`BasicRuleBotModule`: the scripted :class:`~rl_bot.league.rule_bot.RuleBot` /
  :class:`~rl_bot.league.rule_bot.BasicRuleBot`'s actions. They have no weights (one empty parameter of size 0,
  for the learner's sake) and an empty state, and do not implement ``ValueFunctionAPI``, so PPO's GAE connector
  computes no values for them.
- :class:`RandomModule`: uniformly random actions.
- :class:`SnapshotModule`: main's architecture (PPO's default module) holding a snapshot's weights; it samples its
  action from its logits (greedy when not exploring) and keeps its LSTM state.

Keep them out of ``policies_to_train``: the learner builds them but never updates them. :data:`BUILTIN_MODULES`
maps each built-in opponent's name (``league.opponents``) to its module class.
"""

from __future__ import annotations

import abc
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch import TorchRLModule

from rl_bot.league.opponents import RANDOM, RULE, RULE_BASIC
from rl_bot.league.rule_bot import NUM_ACTIONS, OBS_SIZE, BasicRuleBot, RuleBot


class _FrozenModule(TorchRLModule):  # RLModule is an abc.ABC
    """Shared checks and shapes: ``obs`` ``[B, 172]`` or ``[B, T, 172]`` → int64 actions ``[B]`` or ``[B, T]``."""

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
        return {Columns.ACTIONS: self._actions(obs.reshape(-1, obs.shape[-1])).reshape(lead)}

    @abc.abstractmethod
    def _actions(self, obs: torch.Tensor) -> torch.Tensor:
        """``[N]`` int64 lookup-table actions for ``[N, 172]`` observations."""


class RuleBotModule(_FrozenModule):
    """The rule-based bot as a frozen module: :meth:`RuleBot.actions`."""

    bot_class: type = RuleBot

    def setup(self) -> None:
        super().setup()
        self.bot = self.bot_class()

    def _actions(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.bot.actions(obs.detach().cpu().numpy())).to(obs.device)


class BasicRuleBotModule(RuleBotModule):
    """The basic rule-based bot (``rule-basic``) as a frozen module."""

    bot_class = BasicRuleBot


class RandomModule(_FrozenModule):
    """Uniformly random actions."""

    def _actions(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.randint(NUM_ACTIONS, (obs.shape[0],), device=obs.device)


class SnapshotModule(DefaultPPOTorchRLModule):
    """A snapshot slot: main's architecture with frozen weights, which picks its own actions.

    Exploring (training's env runners), it samples from the softmax of its logits, as RLlib's categorical
    distribution would; otherwise it takes the most likely action. The LSTM state goes out as usual.
    """

    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = self._forward(batch)
        logits = out.pop(Columns.ACTION_DIST_INPUTS)
        flat = logits.reshape(-1, logits.shape[-1])
        out[Columns.ACTIONS] = torch.multinomial(torch.softmax(flat, -1), 1).reshape(logits.shape[:-1])
        return out

    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out = self._forward(batch)
        out[Columns.ACTIONS] = out.pop(Columns.ACTION_DIST_INPUTS).argmax(-1)
        return out


#: Built-in opponent name -> the frozen module that plays it.
BUILTIN_MODULES: dict[str, type[_FrozenModule]] = {
    RANDOM: RandomModule,
    RULE_BASIC: BasicRuleBotModule,
    RULE: RuleBotModule,
}
