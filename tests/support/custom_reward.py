"""A user's own rlgym v2 component, plugged in by import path in tests (``custom_reward:ConstantReward``)."""

from typing import Any

from rlgym.api import RewardFunction


class ConstantReward(RewardFunction):
    """Pays ``value`` to every car every step."""

    def __init__(self, value: float = 1.0):
        self.value = value

    def reset(self, agents: list, initial_state: Any, shared_info: dict) -> None:
        pass

    def get_rewards(self, agents, state, is_terminated, is_truncated, shared_info) -> dict:
        return {a: self.value for a in agents}


class NotAReward:
    """Importable, but not an rlgym RewardFunction."""
