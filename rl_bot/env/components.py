"""rlgym v2 components rl-bot adds (pure: no Ray import).

Each follows the rlgym v2 interface: ``reset(...)`` plus one verb, dicts keyed by agent id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rlgym.api import AgentID, ObsBuilder, StateMutator
from rlgym.rocket_league.api import GameState
from rlgym.rocket_league.common_values import BALL_RADIUS, BALL_RESTING_HEIGHT, BLUE_TEAM
from rlgym.rocket_league.obs_builders import DefaultObs
from rlgym.rocket_league.state_mutators import KickoffMutator

MAX_TEAM_SIZE = 3


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


#: Height of a car's centre resting on its wheels.
CAR_REST_Z = 17.0
_FIELD_X, _FIELD_Y = 3800.0, 4800.0  # inside the side and back walls, clear of the corners' curves


class StartStateMutator(StateMutator[GameState]):
    """Each episode starts from one of these, drawn by weight from a seedable Generator (after the team size is set):

    - ``kickoff``: rlgym's kickoff layout (:class:`SeededKickoffMutator`);
    - ``random``: ball anywhere on the field up to 1,800 uu high with a random velocity up to 2,000 uu/s; cars on
      their wheels anywhere, random heading and speed up to 1,500 uu/s, random boost;
    - ``ground_ball``: ball resting on the floor anywhere, rolling up to 1,000 uu/s; cars at rest on the floor,
      random heading, a third of a tank;
    - ``aerial``: ball 600-1,600 uu high drifting slowly; cars at rest on the floor, full boost.

    ``last`` names the start drawn last (for tests and metrics).
    """

    NAMES = ("kickoff", "random", "ground_ball", "aerial")

    def __init__(self, weights: dict[str, float], rng: np.random.Generator | None = None):
        unknown = sorted(set(weights) - set(self.NAMES))
        if unknown:
            raise ValueError(f"unknown start state(s) {unknown}; use {list(self.NAMES)}")
        self.names = [n for n in self.NAMES if weights.get(n, 0) > 0]
        w = np.array([weights[n] for n in self.names], np.float64)
        self.probs = w / w.sum()
        self.kickoff = SeededKickoffMutator(rng)
        self.last = ""

    @property
    def rng(self) -> np.random.Generator:
        """The Generator every draw uses (shared with the kickoff mutator)."""
        return self.kickoff.rng

    @rng.setter
    def rng(self, rng: np.random.Generator) -> None:
        self.kickoff.rng = rng

    def apply(self, state: GameState, shared_info: dict[str, Any]) -> None:
        name = (
            self.names[0] if len(self.names) == 1 else self.names[int(self.rng.choice(len(self.names), p=self.probs))]
        )
        self.last = name
        if name == "kickoff":
            self.kickoff.apply(state, shared_info)
            return
        rng = self.rng
        ball = state.ball
        if name == "random":
            ball.position = np.array(
                [
                    rng.uniform(-_FIELD_X, _FIELD_X),
                    rng.uniform(-_FIELD_Y, _FIELD_Y),
                    rng.uniform(BALL_RADIUS + 10, 1800),
                ],
                dtype=np.float32,
            )
            ball.linear_velocity = self._random_vector(rng, 2000.0)
        elif name == "ground_ball":
            ball.position = np.array(
                [rng.uniform(-_FIELD_X, _FIELD_X), rng.uniform(-_FIELD_Y, _FIELD_Y), BALL_RESTING_HEIGHT],
                dtype=np.float32,
            )
            v = self._random_vector(rng, 1000.0)
            v[2] = 0.0
            ball.linear_velocity = v
        else:  # aerial
            ball.position = np.array(
                [rng.uniform(-3000, 3000), rng.uniform(-4000, 4000), rng.uniform(600, 1600)], dtype=np.float32
            )
            # A ball set with exactly zero velocity in the air stays frozen (the kickoff rule): give it a drift.
            ball.linear_velocity = self._random_vector(rng, 300.0) + np.array([0, 0, 1.0], np.float32)
        ball.angular_velocity = np.zeros(3, dtype=np.float32)
        for car in state.cars.values():
            yaw = rng.uniform(-np.pi, np.pi)
            car.physics.position = np.array(
                [rng.uniform(-_FIELD_X, _FIELD_X), rng.uniform(-_FIELD_Y, _FIELD_Y), CAR_REST_Z], dtype=np.float32
            )
            car.physics.euler_angles = np.array([0, yaw, 0], dtype=np.float32)
            speed = rng.uniform(0, 1500) if name == "random" else 0.0
            car.physics.linear_velocity = np.array([np.cos(yaw) * speed, np.sin(yaw) * speed, 0], dtype=np.float32)
            car.physics.angular_velocity = np.zeros(3, dtype=np.float32)
            car.boost_amount = {"random": rng.uniform(0, 100), "ground_ball": 33.3, "aerial": 100.0}[name]

    @staticmethod
    def _random_vector(rng: np.random.Generator, max_norm: float) -> np.ndarray:
        d = rng.normal(size=3)
        return (d / np.linalg.norm(d) * rng.uniform(0, max_norm)).astype(np.float32)


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
