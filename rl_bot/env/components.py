"""rlgym v2 components rl-bot adds (pure: no Ray import).

Each follows the rlgym v2 interface: ``reset(...)`` plus one verb, dicts keyed by agent id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rlgym.api import AgentID, ObsBuilder, RewardFunction, StateMutator
from rlgym.rocket_league.api import GameState
from rlgym.rocket_league.common_values import BALL_RESTING_HEIGHT, BLUE_TEAM, CAR_MAX_SPEED
from rlgym.rocket_league.obs_builders import DefaultObs
from rlgym.rocket_league.state_mutators import KickoffMutator

MAX_TEAM_SIZE = 3


class VelocityPlayerToBallReward(RewardFunction[AgentID, GameState, float]):
    """Dense shaping: the car's speed towards the ball, ``(v · unit(ball - car)) / CAR_MAX_SPEED`` in [-1, 1]."""

    def reset(self, agents: list[AgentID], initial_state: GameState, shared_info: dict[str, Any]) -> None:
        pass

    def get_rewards(
        self,
        agents: list[AgentID],
        state: GameState,
        is_terminated: dict[AgentID, bool],
        is_truncated: dict[AgentID, bool],
        shared_info: dict[str, Any],
    ) -> dict[AgentID, float]:
        ball = state.ball.position
        out = {}
        for agent in agents:
            phys = state.cars[agent].physics
            delta = ball - phys.position
            dist = float(np.linalg.norm(delta))
            if dist < 1e-6:
                out[agent] = 0.0
                continue
            out[agent] = float(np.dot(phys.linear_velocity, delta) / (dist * CAR_MAX_SPEED))
        return out


class SeededKickoffMutator(StateMutator[GameState]):
    """rlgym's kickoff layout, but the spawn shuffle draws from a seedable numpy Generator.

    rlgym's ``KickoffMutator`` shuffles with the global ``random`` module, which many envs in one process share;
    owning the generator makes "same seed, same rollout" hold per env.
    """

    def __init__(self, rng: np.random.Generator | None = None):
        self.rng = rng if rng is not None else np.random.default_rng()

    def apply(self, state: GameState, shared_info: dict[str, Any]) -> None:
        state.ball.position = np.array([0, 0, BALL_RESTING_HEIGHT], dtype=np.float32)
        state.ball.linear_velocity = np.zeros(3, dtype=np.float32)
        state.ball.angular_velocity = np.zeros(3, dtype=np.float32)
        spawn_idx = self.rng.permutation(5)
        counts = {0: 0, 1: 0}
        for car in state.cars.values():
            i = spawn_idx[counts[car.team_num]]
            counts[car.team_num] += 1
            if car.team_num == BLUE_TEAM:
                pos, yaw = KickoffMutator.SPAWN_BLUE_POS[i], KickoffMutator.SPAWN_BLUE_YAW[i]
            else:
                pos, yaw = KickoffMutator.SPAWN_ORANGE_POS[i], KickoffMutator.SPAWN_ORANGE_YAW[i]
            car.physics.position = pos.copy()
            car.physics.linear_velocity = np.zeros(3, dtype=np.float32)
            car.physics.angular_velocity = np.zeros(3, dtype=np.float32)
            car.physics.euler_angles = np.array([0, yaw, 0], dtype=np.float32)
            car.boost_amount = 33.3


class PaddedDefaultObs(DefaultObs):
    """rlgym's ``DefaultObs`` zero-padded to 3v3 and cast to float32: 172 floats for every team size.

    Layout (from the car's own perspective, orange mirrored): ball (9), 34 boost pad timers, 9 car flags,
    own car (20), 2 ally slots (20 each), 3 opponent slots (20 each); absent cars are zeros.
    """

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("zero_padding", MAX_TEAM_SIZE)
        super().__init__(**kwargs)

    @property
    def size(self) -> int:
        """Observation length."""
        return 52 + 20 * self.zero_padding * 2

    def build_obs(
        self, agents: list[AgentID], state: GameState, shared_info: dict[str, Any]
    ) -> dict[AgentID, np.ndarray]:
        obs = super().build_obs(agents, state, shared_info)
        return {a: o.astype(np.float32) for a, o in obs.items()}


def obs_size(builder: ObsBuilder) -> int:
    """Length of a flat observation from ``builder`` (rlgym spaces are ``('real', n)``)."""
    space = builder.get_obs_space("blue-0")
    if isinstance(space, tuple) and len(space) == 2 and isinstance(space[1], int) and space[1] > 0:
        return space[1]
    raise ValueError(
        f"obs builder {type(builder).__name__}.get_obs_space() returned {space!r}; expected ('real', n) with a "
        "fixed n > 0 (pad to 3v3 so one policy fits every team size)"
    )
