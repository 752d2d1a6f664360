"""Scripted actions for physics tests."""

import numpy as np
from rlgym.rocket_league.action_parsers import LookupTableAction

TABLE = LookupTableAction.make_lookup_table()
IDLE = int(np.flatnonzero((TABLE == [0, 0, 0, 0, 0, 0, 0, 0]).all(axis=1))[0])
STEER_BOOST = {s: int(np.flatnonzero((TABLE == [1, s, 0, s, 0, 0, 1, 0]).all(axis=1))[0]) for s in (-1, 0, 1)}


def steer_at_ball(state, agents) -> dict[str, int]:
    """Full throttle and boost towards the ball (RocketSim's frame: positive steer turns left of +x)."""
    actions = {}
    for agent in agents:
        phys = state.cars[agent].physics
        f, d = phys.forward, state.ball.position - phys.position
        angle = np.arctan2(f[0] * d[1] - f[1] * d[0], f[0] * d[0] + f[1] * d[1])
        steer = 0 if abs(angle) < 0.05 else int(np.sign(angle))
        actions[agent] = STEER_BOOST[steer]
    return actions
