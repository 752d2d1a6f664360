"""Physics helpers for the scripted :class:`~rl_bot.league.rule_bot.RuleBot` (pure: numpy only).

- :func:`step_ball` / :func:`predict_ball`: a ballistic ball model (gravity, air drag, rolling friction, bounces
  off the floor, the ceiling, the side and back walls and the 45-degree corners, the goal mouths left open), one
  step at a time, and its prediction over the next seconds for a whole batch;
- :func:`turn_time` and :func:`straight_time`: rough times for a car to turn towards a point and drive to it;
- :func:`speed_for_curvature`: the highest speed at which a car still turns as tightly as asked;
- the lookup-table rows the bot uses, as index grids (:data:`GROUND`, :data:`AIR`).

Constants are RocketSim's (soccar, octane), in unreal units (uu) and seconds. Every position here is in the car's
own team frame, as the observation gives it: the car attacks +y and defends the goal at y = -5120.
"""

from __future__ import annotations

import numpy as np
from rlgym.rocket_league.action_parsers import LookupTableAction

GRAVITY = 650.0
BALL_RADIUS = 92.75
BALL_RESTITUTION = 0.6
BALL_DRAG = 0.0305  # fraction of the velocity lost per second in the air
BALL_ROLL_DECEL = 230.0  # uu/s^2 a rolling ball loses beyond the air drag
BALL_BOUNCE_FRICTION = 0.18  # tangential speed lost per unit of normal speed change in a bounce
SIDE_WALL_X = 4096.0
BACK_WALL_Y = 5120.0
CEILING_Z = 2044.0
CORNER_SUM = 8064.0  # the corner planes: |x| + |y| = 8064
GOAL_HALF_WIDTH = 892.755
GOAL_HEIGHT = 642.775
GOAL_LINE_Y = 5215.5  # the ball's centre past this |y| inside the mouth is a goal

CAR_MAX_SPEED = 2300.0
THROTTLE_MAX_SPEED = 1410.0
BOOST_ACCEL = 991.666
BOOST_PER_SECOND = 33.3

# Prediction: slices every PRED_DT seconds up to PRED_STEPS * PRED_DT seconds ahead.
PRED_DT = 1.0 / 30.0
PRED_STEPS = 120

TABLE = LookupTableAction.make_lookup_table()


def _row_index(row: list[float]) -> int:
    hits = np.flatnonzero((TABLE == np.array(row)).all(axis=1))
    if len(hits) != 1:
        raise ValueError(f"lookup-table row {row} found {len(hits)} times")
    return int(hits[0])


def _ground_grid() -> np.ndarray:
    """``[throttle + 1, steer + 1, boost, handbrake]`` → ground row (-1 where the table has none)."""
    grid = np.full((3, 3, 2, 2), -1, dtype=np.int64)
    for t in (-1, 0, 1):
        for s in (-1, 0, 1):
            for b in (0, 1):
                for h in (0, 1):
                    if b and t != 1:
                        continue
                    grid[t + 1, s + 1, b, h] = _row_index([1 if b else t, s, 0, s, 0, 0, b, h])
    return grid


def _air_grid() -> np.ndarray:
    """``[pitch + 1, yaw + 1, roll + 1, jump, boost]`` → row; rows the table lacks fall back to a near one.

    Missing combinations: pitch = roll = jump = 0 (the ground rows with steer = yaw stand in: in the air the
    steer and throttle inputs do nothing, yaw acts), and jump with yaw (the jump row without yaw stands in).
    """
    grid = np.full((3, 3, 3, 2, 2), -1, dtype=np.int64)
    for p in (-1, 0, 1):
        for y in (-1, 0, 1):
            for r in (-1, 0, 1):
                for j in (0, 1):
                    for b in (0, 1):
                        yy = 0 if j else y
                        if p == r == j == 0:
                            row = [b, yy, 0, yy, 0, 0, b, 0]
                        else:
                            hb = int(j == 1 and (p != 0 or yy != 0 or r != 0))
                            row = [b, yy, p, yy, r, j, b, hb]
                        grid[p + 1, y + 1, r + 1, j, b] = _row_index(row)
    return grid


GROUND = _ground_grid()
AIR = _air_grid()


def step_ball(p: np.ndarray, v: np.ndarray, dt: float = PRED_DT) -> None:
    """Advance ``[B, 3]`` ball positions ``p`` and velocities ``v`` by one step of ``dt``, in place: the model.

    A ballistic model with the arena's flat surfaces: gravity and air drag in flight, rolling friction on the floor,
    bounces off the floor, ceiling, side and back walls and the 45-degree corners, the goal mouths left open. Good
    for the next second or two of flight and rolling, rougher after wall bounces (the curved ramps between floor and
    walls are ignored) and for spin.
    """
    r = BALL_RADIUS
    wall_x, wall_y, ceiling = SIDE_WALL_X - r, BACK_WALL_Y - r, CEILING_Z - r
    corner_lim = CORNER_SUM - r * np.sqrt(2.0)
    # A ball on the floor with no vertical speed rolls: no gravity, rolling friction instead.
    rolling = (p[:, 2] <= r + 1.0) & (np.abs(v[:, 2]) < 1.0)
    if rolling.any():
        v[rolling, 2] = 0.0
        hs = np.hypot(v[rolling, 0], v[rolling, 1])
        v[rolling, :2] *= (np.maximum(hs - BALL_ROLL_DECEL * dt, 0.0) / np.maximum(hs, 1e-6))[:, None]
    v[~rolling, 2] -= GRAVITY * dt
    v *= 1.0 - BALL_DRAG * dt
    p += v * dt
    ax, ay = np.abs(p[:, 0]), np.abs(p[:, 1])
    contact = (p[:, 2] < r) | (p[:, 2] > ceiling) | (ax > wall_x) | (ay > wall_y) | (ax + ay > corner_lim)
    if contact.any():
        _bounce(p, v, contact, ax, ay, corner_lim)


def predict_ball(pos: np.ndarray, vel: np.ndarray, steps: int = PRED_STEPS, dt: float = PRED_DT) -> np.ndarray:
    """``[B, steps, 6]`` predicted ball position and velocity at ``dt, 2 dt, …`` for ``[B, 3]`` pos and vel: the
    states :func:`step_ball` reaches step after step, computed faster.

    Between events (a contact that changes the ball, or a flying ball coming to roll) the recurrence of
    :func:`step_ball` has a closed form (geometric sums of the drag factor), so a whole stretch of flight or rolling is
    a few array operations; the event's own step is taken with :func:`step_ball`. The result equals the
    step-by-step one up to rounding (a test checks it).
    """
    r = BALL_RADIUS
    d = 1.0 - BALL_DRAG * dt
    g_dt, a = GRAVITY * dt, BALL_ROLL_DECEL * dt
    wall_x, wall_y, ceiling = SIDE_WALL_X - r, BACK_WALL_Y - r, CEILING_Z - r
    corner_lim = CORNER_SUM - r * np.sqrt(2.0)
    p = np.array(pos, dtype=np.float64)
    v = np.array(vel, dtype=np.float64)
    out = np.empty((p.shape[0], steps, 6))
    j = np.arange(1, steps + 1, dtype=np.float64)
    dj = d**j
    s1 = d * (1.0 - dj) / (1.0 - d)  # sum of d^i for i = 1..j
    s2 = d / (1.0 - d) * (j - s1)  # sum of s1 over 1..j
    c = a * d / (1.0 - d)  # rolling: speed + c shrinks geometrically while the ball still rolls
    cols = np.arange(steps)
    filled = np.zeros(p.shape[0], dtype=np.int64)
    while True:
        rows = np.flatnonzero(filled < steps)
        if len(rows) == 0:
            return out
        width = int(steps - filled[rows].min())
        P, V = p[rows], v[rows]
        dw, s1w, s2w = dj[:width], s1[:width], s2[:width]
        vel_t = np.empty((len(rows), width, 3))
        pos_t = np.empty((len(rows), width, 3))
        vel_t[..., :2] = V[:, None, :2] * dw[None, :, None]
        vel_t[..., 2] = V[:, 2:3] * dw - g_dt * s1w
        pos_t[..., :2] = P[:, None, :2] + dt * V[:, None, :2] * s1w[None, :, None]
        pos_t[..., 2] = P[:, 2:3] + dt * (V[:, 2:3] * s1w - g_dt * s2w)
        rolling = (P[:, 2] <= r + 1.0) & (np.abs(V[:, 2]) < 1.0)
        if rolling.any():
            rr = np.flatnonzero(rolling)
            h0 = np.hypot(V[rr, 0], V[rr, 1])
            u = V[rr, :2] / np.maximum(h0, 1e-6)[:, None]
            h = np.maximum(dw * (h0[:, None] + c) - c, 0.0)
            h[:, 0] = np.maximum(h0 - a, 0.0) * d
            vel_t[rr, :, :2] = u[:, None, :] * h[..., None]
            vel_t[rr, :, 2] = 0.0
            pos_t[rr, :, :2] = P[rr, None, :2] + dt * u[:, None, :] * np.cumsum(h, axis=1)[..., None]
            pos_t[rr, :, 2] = P[rr, 2:3]
        ax, ay, z = np.abs(pos_t[..., 0]), np.abs(pos_t[..., 1]), pos_t[..., 2]
        # Contacts that change the ball (one inside a goal mouth flies on), and flight coming to roll.
        mouth = (ax < GOAL_HALF_WIDTH - r) & (z < GOAL_HEIGHT - r)
        event = (z < r) | (z > ceiling) | (ax > wall_x) | (((ay > wall_y) | (ax + ay > corner_lim)) & ~mouth)
        event[:, 1:] |= ~rolling[:, None] & (z[:, :-1] <= r + 1.0) & (np.abs(vel_t[:, :-1, 2]) < 1.0)
        event |= cols[None, :width] >= (steps - filled[rows])[:, None]
        free = np.where(event.any(axis=1), np.argmax(event, axis=1), width)  # event-free steps per row
        kk, cc = np.nonzero(cols[None, :width] < free[:, None])
        out[rows[kk], filled[rows][kk] + cc, :3] = pos_t[kk, cc]
        out[rows[kk], filled[rows][kk] + cc, 3:] = vel_t[kk, cc]
        moved = free > 0
        p[rows[moved]] = pos_t[moved, free[moved] - 1]
        v[rows[moved]] = vel_t[moved, free[moved] - 1]
        filled[rows] += free
        at = rows[filled[rows] < steps]
        if len(at):
            ps, vs = p[at], v[at]
            step_ball(ps, vs, dt)
            p[at], v[at] = ps, vs
            out[at, filled[at], :3] = ps
            out[at, filled[at], 3:] = vs
            filled[at] += 1


def _bounce(p: np.ndarray, v: np.ndarray, rows: np.ndarray, ax: np.ndarray, ay: np.ndarray, corner_lim: float) -> None:
    """Resolve the contacts of the ``rows`` of ``p``/``v`` (in place) with the floor, ceiling and walls."""
    r, e = BALL_RADIUS, BALL_RESTITUTION
    wall_x, wall_y, ceiling = SIDE_WALL_X - r, BACK_WALL_Y - r, CEILING_Z - r
    # Floor: reflect and damp (friction takes some tangential speed); a bounce slower than 150 uu/s rolls.
    floor = rows & (p[:, 2] < r) & (v[:, 2] < 0)
    if floor.any():
        vz = v[floor, 2]
        hs = np.hypot(v[floor, 0], v[floor, 1])
        scale = np.maximum(hs + BALL_BOUNCE_FRICTION * (1 + e) * vz, 0.0) / np.maximum(hs, 1e-6)
        v[floor, :2] *= scale[:, None]
        up = -e * vz
        v[floor, 2] = np.where(up < 150.0, 0.0, up)
    p[rows, 2] = np.clip(p[rows, 2], r, ceiling)
    ceil = rows & (p[:, 2] >= ceiling) & (v[:, 2] > 0)
    v[ceil, 2] *= -e
    side = rows & (ax > wall_x) & (p[:, 0] * v[:, 0] > 0)
    v[side, 0] *= -e
    p[rows, 0] = np.clip(p[rows, 0], -wall_x, wall_x)
    # Back walls, except through the goal mouths.
    in_mouth = (ax < GOAL_HALF_WIDTH - r) & (p[:, 2] < GOAL_HEIGHT - r)
    back = rows & (ay > wall_y) & (p[:, 1] * v[:, 1] > 0) & ~in_mouth
    v[back, 1] *= -e
    p[back, 1] = np.sign(p[back, 1]) * wall_y
    # Corners: the planes |x| + |y| = CORNER_SUM, normal (sign x, sign y) / sqrt 2.
    over = np.abs(p[:, 0]) + np.abs(p[:, 1]) - corner_lim
    corner = rows & (over > 0) & ~in_mouth
    if corner.any():
        n = np.stack([np.sign(p[corner, 0]), np.sign(p[corner, 1])], axis=1) / np.sqrt(2.0)
        vn = (v[corner, :2] * n).sum(axis=1)
        v[corner, :2] -= ((1 + e) * np.maximum(vn, 0.0))[:, None] * n
        p[corner, :2] -= (over[corner] / np.sqrt(2.0))[:, None] * n


def straight_time(dist: np.ndarray, speed: np.ndarray, boost: np.ndarray) -> np.ndarray:
    """Seconds to drive ``dist`` straight ahead from forward ``speed`` with ``boost`` (0-100) in the tank.

    Piecewise: throttle (about 1600 uu/s^2 falling to 0 at 1410 uu/s) plus boost (991 uu/s^2 while it lasts),
    approximated by a constant acceleration up to a top speed, then cruising.
    """
    has_boost = boost > 1.0
    accel = np.where(has_boost, 1700.0, 1000.0)
    vmax = np.where(has_boost, CAR_MAX_SPEED, THROTTLE_MAX_SPEED)
    # The tank empties after boost / 33.3 s: cap the top speed by what that time of boosting reaches.
    vmax = np.where(
        has_boost,
        np.minimum(vmax, np.maximum(speed, THROTTLE_MAX_SPEED) + boost / BOOST_PER_SECOND * BOOST_ACCEL),
        vmax,
    )
    v0 = np.maximum(speed, 0.0)
    top = np.maximum(vmax, v0)  # already faster than that: it keeps its speed
    t_acc = (top - v0) / accel
    d_acc = (v0 + top) * 0.5 * t_acc
    # Within the acceleration phase: d = v0 t + a t^2 / 2.
    t_short = (-v0 + np.sqrt(v0 * v0 + 2 * accel * np.maximum(dist, 0.0))) / accel
    t_long = t_acc + (dist - d_acc) / np.maximum(top, 1.0)
    return np.where(dist < d_acc, t_short, t_long)


# Turning: the curvature (1 / radius) a car reaches at full steer, by forward speed.
_CURV_SPEED = np.array([0.0, 500.0, 1000.0, 1500.0, 1750.0, 2300.0])
_CURV = np.array([0.0069, 0.00398, 0.00235, 0.001375, 0.0011, 0.00088])
MAX_CURVATURE = float(_CURV[0])


def speed_for_curvature(curvature: np.ndarray) -> np.ndarray:
    """The highest forward speed at which full steer still turns with ``curvature`` (1/uu)."""
    return np.interp(curvature, _CURV[::-1], _CURV_SPEED[::-1])


def turn_time(angle: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Rough seconds to turn the nose by ``angle`` radians at ``speed`` (a powerslide for sharp turns)."""
    # Yaw rate peaks around 3 rad/s at moderate speed and falls to about 1.9 rad/s near supersonic.
    rate = np.interp(np.abs(speed), [0.0, 500.0, 1000.0, 1500.0, 2300.0], [1.8, 3.0, 2.9, 2.4, 1.9])
    return np.abs(angle) / rate
