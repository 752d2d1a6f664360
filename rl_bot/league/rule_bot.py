"""A scripted Rocket League bot computed from the observation vector (pure: numpy only).

It reads the same 172-float padded ``DefaultObs`` observation every car gets (see
:class:`~rl_bot.env.components.PaddedDefaultObs`), so it can also run inside RLlib env runners as a frozen
module that only sees observations (:class:`~rl_bot.league.modules.RuleBotModule`). The observation is already
in the car's own team's frame (orange sees x and y mirrored, so both teams attack +y).

Per car, every step:

- **kickoff** (ball at rest on the centre spot): drive at the ball with boost;
- **defend** when the ball is between the car and its own goal (the car is upfield of the ball): drive to a point
  between the ball and its own goal, to get goal-side of it;
- **collect boost** when below ``low_boost`` and the ball is far: drive to the nearest active big pad;
- otherwise **chase and strike**: drive at a point just behind the ball on the line from the opponent goal through
  the ball, so contact pushes the ball towards the opponent goal; boost when roughly facing the target.

In every case it steers towards its target, and reverses and turns instead when the target is behind it with the
ball close (ball right behind).

Actions are indices into rlgym's 90-entry lookup table (ground rows: throttle, steer, boost). All cars of a batch
are computed at once with numpy.
"""

from __future__ import annotations

import numpy as np
from rlgym.rocket_league.action_parsers import LookupTableAction
from rlgym.rocket_league.common_values import BOOST_LOCATIONS

OBS_SIZE = 172
# DefaultObs normalisation (default coefficients): positions and velocities / 2300, boost amount / 100.
_POS_SCALE = 2300.0
_BOOST_SCALE = 100.0
# Observation columns read here (layout of rlgym's DefaultObs._build_obs / _generate_car_obs).
_BALL_POS, _BALL_VEL = slice(0, 3), slice(3, 6)
_PAD_TIMERS = slice(9, 43)  # index j is BOOST_LOCATIONS[j] in the car's own frame (orange's list is reversed)
_CAR = 52  # the car's own 20 floats: pos, forward, up, lin vel, ang vel, boost, demo, on ground, boosting, ss
_CAR_POS, _CAR_FWD = slice(_CAR, _CAR + 3), slice(_CAR + 3, _CAR + 6)
_CAR_BOOST, _CAR_SUPERSONIC = _CAR + 15, _CAR + 19

_TABLE = LookupTableAction.make_lookup_table()
NUM_ACTIONS = len(_TABLE)
OPP_GOAL = np.array([0.0, 5120.0, 0.0])
OWN_GOAL = np.array([0.0, -5120.0, 0.0])
BIG_PAD_INDICES = np.array([i for i, loc in enumerate(BOOST_LOCATIONS) if loc[2] > 72.0])
BIG_PADS = np.array(BOOST_LOCATIONS)[BIG_PAD_INDICES]


def _ground_action(throttle: int, steer: int, boost: bool) -> int:
    row = [1 if boost else throttle, steer, 0, steer, 0, 0, int(boost), 0]
    return int(np.flatnonzero((_TABLE == row).all(axis=1))[0])


_ACTIONS = {
    (t, s, b): _ground_action(t, s, b)
    for t in (-1, 0, 1)
    for s in (-1, 0, 1)
    for b in (False, True)
    if not (b and t != 1)
}
# The same table as an array indexed [throttle + 1, steer + 1, boost] (boost only exists with throttle 1).
_ACTION_GRID = np.full((3, 3, 2), -1, dtype=np.int64)
for (_t, _s, _b), _i in _ACTIONS.items():
    _ACTION_GRID[_t + 1, _s + 1, int(_b)] = _i


class BasicRuleBot:
    """The simple scripted policy (the built-in opponent ``rule-basic``).

    ``actions(obs)`` maps a ``[B, 172]`` observation batch to ``[B]`` lookup-table actions.
    """

    def __init__(self, low_boost: float = 25.0, boost_ball_distance: float = 3000.0):
        self.low_boost = low_boost
        self.boost_ball_distance = boost_ball_distance

    def reset(self, agents: list[str]) -> None:
        """Stateless: nothing to reset."""

    def act_obs(self, obs: dict[str, np.ndarray]) -> dict[str, int]:
        """One action per car of ``obs`` (its observation, keyed by agent id)."""
        agents = list(obs)
        if not agents:
            return {}
        acts = self.actions(np.stack([obs[a] for a in agents]))
        return {a: int(x) for a, x in zip(agents, acts.tolist(), strict=True)}

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """``[B]`` int64 lookup-table actions for a ``[B, 172]`` batch of observations."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != OBS_SIZE:
            raise ValueError(f"expected observations of shape [B, {OBS_SIZE}], got {obs.shape}")
        ball = obs[:, _BALL_POS] * _POS_SCALE
        ball_vel = obs[:, _BALL_VEL] * _POS_SCALE
        pos = obs[:, _CAR_POS] * _POS_SCALE
        fwd = obs[:, _CAR_FWD]
        boost_amount = obs[:, _CAR_BOOST] * _BOOST_SCALE
        supersonic = obs[:, _CAR_SUPERSONIC] > 0.5

        kickoff = (np.abs(ball[:, 0]) < 1) & (np.abs(ball[:, 1]) < 1) & (np.linalg.norm(ball_vel, axis=1) < 1)
        dist_ball = np.linalg.norm((ball - pos)[:, :2], axis=1)
        # Upfield of the ball: get back goal-side, to a point between the ball and our goal.
        defend = ~kickoff & (ball[:, 1] < pos[:, 1] - 200)
        collect = ~kickoff & ~defend & (boost_amount < self.low_boost) & (dist_ball > self.boost_ball_distance)

        aim = OPP_GOAL - ball
        aim /= np.maximum(np.linalg.norm(aim, axis=1, keepdims=True), 1e-6)
        target = ball - aim * 120.0  # chase and strike
        target = np.where(defend[:, None], ball + 0.6 * (OWN_GOAL - ball), target)
        target = np.where(collect[:, None], self._nearest_big_pad(obs, pos), target)
        target = np.where(kickoff[:, None], ball, target)
        boost_ok = ~collect

        delta = target - pos
        angle = np.arctan2(
            fwd[:, 0] * delta[:, 1] - fwd[:, 1] * delta[:, 0], fwd[:, 0] * delta[:, 0] + fwd[:, 1] * delta[:, 1]
        )
        steer = np.where(np.abs(angle) < 0.1, 0, np.sign(angle)).astype(np.int64)
        boost = boost_ok & (np.abs(angle) < 0.35) & (boost_amount > 0) & ~supersonic
        forward = _ACTION_GRID[2, steer + 1, boost.astype(np.int64)]
        # Ball right behind: reverse and turn.
        reverse = _ACTION_GRID[0, 1 - steer, 0]
        return np.where((np.abs(angle) > 2.6) & (dist_ball < 500), reverse, forward)

    @staticmethod
    def _nearest_big_pad(obs: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """``[B, 3]`` nearest active big pad (nearest of all when none is active)."""
        active = obs[:, _PAD_TIMERS][:, BIG_PAD_INDICES] <= 0
        dist = np.linalg.norm(BIG_PADS[None, :, :2] - pos[:, None, :2], axis=2)
        dist = np.where(active | ~active.any(axis=1, keepdims=True), dist, np.inf)
        return BIG_PADS[np.argmin(dist, axis=1)]


# The stronger bot replaces this alias.
RuleBot = BasicRuleBot
