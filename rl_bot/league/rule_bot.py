"""A scripted Rocket League bot computed from the game state (pure).

Per car, every step, in its own team's frame (orange mirrors x and y, so both attack +y):

- **kickoff** (ball at rest on the centre spot): drive at the ball with boost;
- **defend** when the ball is between the car and its own goal (the car is upfield of the ball): drive to a point
  between the ball and its own goal, to get goal-side of it;
- **collect boost** when below ``low_boost`` and the ball is far: drive to the nearest active big pad;
- otherwise **chase and strike**: drive at a point just behind the ball on the line from the opponent goal through
  the ball, so contact pushes the ball towards the opponent goal; boost when roughly facing the target.

Actions are indices into rlgym's 90-entry lookup table (ground rows: throttle, steer, boost).
"""

from __future__ import annotations

import math

import numpy as np
from rlgym.rocket_league.action_parsers import LookupTableAction
from rlgym.rocket_league.common_values import BOOST_LOCATIONS, ORANGE_TEAM

_TABLE = LookupTableAction.make_lookup_table()
_MIRROR = np.array([-1.0, -1.0, 1.0])
OPP_GOAL = np.array([0.0, 5120.0, 0.0])
OWN_GOAL = np.array([0.0, -5120.0, 0.0])
BIG_PADS = np.array([loc for loc in BOOST_LOCATIONS if loc[2] > 72.0])
BIG_PAD_INDICES = [i for i, loc in enumerate(BOOST_LOCATIONS) if loc[2] > 72.0]


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


class RuleBot:
    """Scripted policy: ``act(state, agents)`` gives one lookup-table action per listed car."""

    def __init__(self, low_boost: float = 25.0, boost_ball_distance: float = 3000.0):
        self.low_boost = low_boost
        self.boost_ball_distance = boost_ball_distance

    def reset(self, agents: list[str]) -> None:
        """Stateless: nothing to reset."""

    def act(self, state, agents) -> dict[str, int]:
        """One action per car in ``agents``."""
        return {a: self._act_one(state, a) for a in agents}

    def _act_one(self, state, agent: str) -> int:
        car = state.cars[agent]
        flip = _MIRROR if car.team_num == ORANGE_TEAM else np.ones(3)
        pos = car.physics.position * flip
        fwd = car.physics.forward * flip
        ball = state.ball.position * flip
        ball_vel = state.ball.linear_velocity * flip
        kickoff = abs(ball[0]) < 1 and abs(ball[1]) < 1 and np.linalg.norm(ball_vel) < 1
        to_ball = ball - pos
        dist_ball = float(np.linalg.norm(to_ball[:2]))
        if kickoff:
            target, boost_ok = ball, True
        elif ball[1] < pos[1] - 200:
            # Upfield of the ball: get back goal-side, to a point between the ball and our goal.
            target, boost_ok = ball + 0.6 * (OWN_GOAL - ball), True
        elif car.boost_amount < self.low_boost and dist_ball > self.boost_ball_distance:
            target, boost_ok = self._nearest_big_pad(state, pos, car.team_num), False
        else:
            aim = OPP_GOAL - ball
            aim /= max(np.linalg.norm(aim), 1e-6)
            target, boost_ok = ball - aim * 120.0, True
        delta = target - pos
        # The orange mirror is a half turn about z, so the angle (and the steer sign) is the same in both frames.
        angle = math.atan2(fwd[0] * delta[1] - fwd[1] * delta[0], fwd[0] * delta[0] + fwd[1] * delta[1])
        steer = 0 if abs(angle) < 0.1 else (1 if angle > 0 else -1)
        boost = bool(boost_ok and abs(angle) < 0.35 and car.boost_amount > 0 and not car.is_supersonic)
        if abs(angle) > 2.6 and dist_ball < 500:
            return _ACTIONS[(-1, -steer, False)]  # ball right behind: reverse and turn
        return _ACTIONS[(1, steer, boost)]

    @staticmethod
    def _nearest_big_pad(state, pos: np.ndarray, team: int) -> np.ndarray:
        timers = state.boost_pad_timers
        pads = BIG_PADS * (_MIRROR if team == ORANGE_TEAM else 1.0)
        active = [k for k, i in enumerate(BIG_PAD_INDICES) if timers[i] <= 0]
        choices = active or list(range(len(BIG_PAD_INDICES)))
        k = min(choices, key=lambda j: float(np.linalg.norm(pads[j][:2] - pos[:2])))
        return pads[k]
