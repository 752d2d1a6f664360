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

from rl_bot.league import rule_physics as rp

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


# ----------------------------------------------------------------------------------------------- the strong bot

_SLOT = 20
_TEAM_SLOTS = (52, 72, 92)  # own car, then the two ally slots
_FLAGS = 43  # holding_jump, handbrake, has_jumped, is_jumping, has_flipped, is_flipping, double_jumped, can_flip, air
_HOLDING_JUMP, _HAS_JUMPED, _HAS_FLIPPED, _IS_FLIPPING, _CAN_FLIP = 43, 45, 47, 48, 50
_CAR_Z = 17.0  # a car's resting height
_CONTACT = 150.0  # car centre to ball centre at a front-bumper touch
_MAX_HIT_Z = 200.0  # highest ball centre the car can hit from the ground (with a dodge)
_GOAL_AIM_X = 200.0  # shots aim between x = ±_GOAL_AIM_X on the goal line (the posts are at ±893)


_PADS = np.array(BOOST_LOCATIONS)
_PAD_IS_BIG = _PADS[:, 2] > 72.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _heading(v: np.ndarray) -> np.ndarray:
    return np.arctan2(v[..., 1], v[..., 0])


def _cars(obs: np.ndarray, bases: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Car slots of ``obs`` as ``[B, S, …]`` arrays in uu, uu/s, rad/s; ``present``: a live car in the slot."""
    raw = obs[:, np.array(bases)[:, None] + np.arange(_SLOT)]
    fwd, up = raw[..., 3:6], raw[..., 6:9]
    return {
        "pos": raw[..., 0:3] * _POS_SCALE,
        "fwd": fwd,
        "up": up,
        "right": np.cross(up, fwd),  # RocketSim's right axis: +steer, +yaw and +roll turn towards it
        "vel": raw[..., 9:12] * _POS_SCALE,
        "ang": raw[..., 12:15] * np.pi,
        "boost": raw[..., 15] * _BOOST_SCALE,
        "on_ground": raw[..., 17] > 0.5,
        "present": (np.abs(fwd).sum(axis=-1) > 0.5) & (raw[..., 16] <= 0),
    }


import os  # noqa: E402

_TUNING = {k[3:].lower(): float(v) for k, v in os.environ.items() if k.startswith("RB_")}


def _T(name: str, default: float) -> float:
    return _TUNING.get(name, default)


def _in_field(p: np.ndarray) -> np.ndarray:
    """``[B, 2]`` floor points moved inside the field, clear of the walls."""
    q = np.stack([np.clip(p[:, 0], -3800.0, 3800.0), np.clip(p[:, 1], -4900.0, 4900.0)], axis=1)
    over = np.abs(q[:, 0]) + np.abs(q[:, 1]) - (rp.CORNER_SUM - 400.0)
    shrink = np.where(over > 0, over / 2.0, 0.0)
    return q - np.sign(q) * shrink[:, None]


class RuleBot:
    """The strong scripted policy (the built-in opponent ``rule``).

    ``actions(obs)`` maps a ``[B, 172]`` observation batch to ``[B]`` lookup-table actions. Stateless: every
    decision, including where a dodge is in its jump / release / flip sequence, comes from the observation.
    """

    def __init__(self, flip_lead_s: float = 0.25, kickoff_flip_distance: float = 750.0):
        self.flip_lead_s = flip_lead_s
        self.kickoff_flip_distance = kickoff_flip_distance

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
        if len(obs) == 0:
            return np.zeros(0, dtype=np.int64)
        plan = _Plan(obs, self)
        return plan.act()


class _Plan:
    """One step's decisions for a batch of cars (arrays over the batch; ``me`` is slot 0 of ``team``)."""

    def __init__(self, obs: np.ndarray, bot: RuleBot):
        self.bot = bot
        self.n = len(obs)
        self.ball = obs[:, _BALL_POS] * _POS_SCALE
        self.ball_vel = obs[:, _BALL_VEL] * _POS_SCALE
        self.team = _cars(obs, _TEAM_SLOTS)
        self.pos = self.team["pos"][:, 0]
        self.fwd = self.team["fwd"][:, 0]
        self.up = self.team["up"][:, 0]
        self.right = self.team["right"][:, 0]
        self.vel = self.team["vel"][:, 0]
        self.ang = self.team["ang"][:, 0]
        self.boost = self.team["boost"][:, 0]
        self.on_ground = self.team["on_ground"][:, 0]
        self.speed = (self.vel * self.fwd).sum(axis=1)  # forward speed (negative when reversing)
        self.flags = obs[:, _FLAGS : _FLAGS + 9] > 0.5
        self.pad_timers = obs[:, _PAD_TIMERS]
        self.pred = rp.predict_ball(self.ball, self.ball_vel)
        self.times = (np.arange(self.pred.shape[1]) + 1) * rp.PRED_DT
        self.rows = np.arange(self.n)

    # ------------------------------------------------------------------------------------------ estimates

    def intercepts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per team slot ``[B, 3]``: the earliest time it can meet the ball, that slice's index, a time penalty for
        being on the wrong side of the ball (upfield of it), used to choose who commits, and the slack: how much
        earlier than the ball the car could be there (it waits for a ball that comes down later)."""
        team = self.team
        p = self.pred[:, None, :, :3]  # [B, 1, N, 3]
        d = p[..., :2] - team["pos"][:, :, None, :2]  # [B, S, N, 2]
        dist = np.linalg.norm(d, axis=-1)
        f2 = _unit(team["fwd"][..., :2])[:, :, None, :]
        angle = np.arctan2(f2[..., 0] * d[..., 1] - f2[..., 1] * d[..., 0], (f2 * d).sum(axis=-1))
        speed = (team["vel"] * team["fwd"]).sum(axis=-1)[..., None]  # [B, S, 1]
        boost = team["boost"][..., None]
        v_eff = speed * np.clip(np.cos(angle), 0.0, 1.0)
        t_car = rp.turn_time(angle, speed) + rp.straight_time(np.maximum(dist - _CONTACT, 0.0), v_eff, boost)
        reachable = (p[..., 2] < _MAX_HIT_Z) & (np.abs(p[..., 1]) < rp.BACK_WALL_Y)
        meet = np.where(reachable, np.maximum(t_car, self.times), np.inf)
        k = np.argmin(meet, axis=-1)  # [B, S]
        eta = np.take_along_axis(meet, k[..., None], axis=-1)[..., 0]
        eta = np.where(np.isfinite(eta), eta, self.times[-1] + 1.0)
        # Wrong side: how far the car is upfield of the ball, towards the opponent goal.
        ball_k = np.take_along_axis(self.pred[:, None, :, :2], k[..., None, None], axis=2)[:, :, 0]  # [B, S, 2]
        ahead = team["pos"][..., 1] - ball_k[..., 1]
        penalty = np.clip(ahead + 200.0, 0.0, None) / 1000.0
        eta = np.where(team["present"], eta, np.inf)
        slack = eta - np.take_along_axis(t_car, k[..., None], axis=-1)[..., 0]
        return eta, k, penalty, slack

    def role(self, key: np.ndarray) -> np.ndarray:
        """``[B]`` rank of the own car among its present teammates by ``key`` (lower first), with ties broken by
        x position, so that every teammate computes the same ranking from the same observation."""
        x = self.team["pos"][..., 0]
        key = np.where(self.team["present"], key, 1e9)
        mine, mine_x = key[:, :1], x[:, :1]
        close = np.abs(key - mine) <= 0.05
        better = (key < mine - 0.05) | (close & (x < mine_x))
        better[:, 0] = False
        return (better & self.team["present"]).sum(axis=1)

    # ------------------------------------------------------------------------------------------ act

    def act(self) -> np.ndarray:
        n, rows = self.n, self.rows
        ball = self.ball
        eta, k, penalty, slack = self.intercepts()
        kickoff = (np.abs(ball[:, 0]) < 1) & (np.abs(ball[:, 1]) < 1) & (np.linalg.norm(self.ball_vel, axis=1) < 1)
        dist_ball = np.linalg.norm(ball[:, None, :2] - self.team["pos"][..., :2], axis=-1)
        dist_ball = np.where(self.team["present"], dist_ball, np.inf)
        rank = np.where(kickoff, self.role(dist_ball), self.role(eta + penalty))

        k0 = k[:, 0]
        hit = self.pred[rows, k0, :3]
        t_hit = eta[:, 0]
        shot = self.shot_direction(hit)
        to_ball = hit[:, :2] - self.pos[:, :2]
        dist_hit = np.linalg.norm(to_ball, axis=1)
        u = to_ball / np.maximum(dist_hit, 1e-6)[:, None]
        # Aim at a point behind the ball on the shot line, half the distance back; when that would take the car
        # around the ball (the shot points back at it), clamp the offset sideways: it then aims at the ball's
        # edge rather than circling it.
        back = -shot
        facing_car = (back * -u).sum(axis=1) >= 0.0
        perp = np.stack([-u[:, 1], u[:, 0]], axis=1)
        perp = np.where(((perp * back).sum(axis=1) >= 0.0)[:, None], perp, -perp)
        offset_dir = np.where(facing_car[:, None], back, perp)
        contact = hit[:, :2] - shot * _T("contact", 130.0)
        dist_c = np.linalg.norm(contact - self.pos[:, :2], axis=1)
        target = _in_field(contact + offset_dir * (_T("offset", 0.5) * dist_c)[:, None])
        # At the meeting point already but facing the wrong way (the ball comes from behind): the point above is
        # where the car is, so it would escort the ball; turn (or back up) towards the ball itself instead.
        facing_shot = (_unit(self.fwd[:, :2]) * shot).sum(axis=1)
        turn_to_ball = (dist_hit < _T("escort", 450.0)) & (facing_shot < _T("escos", 0.3)) & (u[:, 1] > -0.2)
        target = np.where(turn_to_ball[:, None], hit[:, :2], target)
        v_des = np.full(n, rp.CAR_MAX_SPEED)
        # Unless the ball only comes within reach later (a bounce): then arrive just in time.
        path = np.linalg.norm(target - self.pos[:, :2], axis=1) + 0.5 * dist_hit
        early = (slack[:, 0] > _T("early", 0.25)) & (t_hit <= self.times[-1])
        v_des = np.where(early, np.minimum(path / np.maximum(t_hit - 0.05, 0.05), v_des), v_des)

        # Wrong side (upfield of the ball) with the ball in our half or heading for our goal: back to the far
        # post first, then challenge from goal-side.
        own_goal_threat = self.own_goal_threat()
        # Level with the ball (beside it) is not the wrong side: the clamped offset above then aims at the ball's
        # goal-side edge, which knocks it sideways, away from our goal.
        wrong_side = (self.pos[:, 1] > hit[:, 1] + _T("wrong", 300.0)) & (self.pos[:, 1] > -4500.0)
        retreat = wrong_side & ((hit[:, 1] < 0.0) | own_goal_threat)
        side = np.where(np.abs(hit[:, 0]) < 500.0, np.sign(self.pos[:, 0] - hit[:, 0]), -np.sign(hit[:, 0]))
        side = np.where(side == 0, 1.0, side)
        far_post = np.stack([side * (rp.GOAL_HALF_WIDTH - 250.0), np.full(n, -rp.BACK_WALL_Y + 350.0)], axis=1)
        target = np.where(retreat[:, None], far_post, target)
        v_des = np.where(retreat, rp.CAR_MAX_SPEED, v_des)

        # Low on boost, goal-side, the ball far away and no threat: fetch the nearest big pad that is also
        # goal-side of the ball first.
        pad, pad_ok = self.nearest_big_pad(max_y=hit[:, 1] - 500.0)
        near_pad = np.linalg.norm(pad - self.pos[:, :2], axis=1) < _T("paddist", 1500.0)
        fetch = (self.boost < 30.0) & (dist_hit > 2500.0) & ~own_goal_threat & (t_hit > 1.0) & ~wrong_side & pad_ok
        fetch &= near_pad
        target = np.where(fetch[:, None], pad, target)
        v_des = np.where(fetch, rp.CAR_MAX_SPEED, v_des)

        # Teammates that do not commit: support behind the ball, or the back post.
        to_goal = _unit(np.array([0.0, -rp.BACK_WALL_Y]) - ball[:, :2])
        support = ball[:, :2] + to_goal * 2500.0
        support[:, 0] = np.clip(support[:, 0], -3000.0, 3000.0)
        support[:, 1] = np.maximum(support[:, 1], -4600.0)
        back = np.stack([-np.sign(ball[:, 0] + 1e-6) * 600.0, np.full(n, -4700.0)], axis=1)
        spot = np.where((rank >= 2)[:, None], back, support)
        d_spot = np.linalg.norm(spot - self.pos[:, :2], axis=1)
        settled = d_spot < 400.0
        spot_target = np.where(settled[:, None], ball[:, :2], spot)
        spot_speed = np.where(settled, 0.0, np.clip(d_spot * 1.5, 300.0, rp.CAR_MAX_SPEED))
        target = np.where((rank > 0)[:, None], spot_target, target)
        v_des = np.where(rank > 0, spot_speed, v_des)

        # Kickoff: the nearest car goes straight at the ball at full speed.
        take_kickoff = kickoff & (rank == 0)
        target = np.where(take_kickoff[:, None], ball[:, :2] - np.array([0.0, _T("kaim", 100.0)]), target)
        v_des = np.where(take_kickoff, rp.CAR_MAX_SPEED, v_des)

        # Never drive through the ball on the way to a point behind it.
        avoid = ~take_kickoff & ((rank > 0) | retreat)
        target = np.where(avoid[:, None], self.around_ball(target), target)

        # Pick up boost pads that lie on the way.
        on_way = ~take_kickoff & (self.boost < 90.0)
        target = np.where(on_way[:, None], self.pad_on_the_way(target), target)
        target = np.where(avoid[:, None], self.around_ball(target), target)

        act = self.drive(target, v_des)

        # Dodges: start one into the ball when on a collision course, or at a kickoff near the ball.
        # Shots must be aimed; clears in our half only need to go roughly upfield.
        min_cos = np.where(hit[:, 1] < 0.0, 0.8, _T("aim", 0.96))
        dodge_ball = (rank == 0) & ~kickoff & self.collision_course(shot, min_cos)
        dodge_kickoff = take_kickoff & (dist_ball[:, 0] < self.bot.kickoff_flip_distance) & (self.speed > 1000.0)
        start = self.on_ground & (self.up[:, 2] > 0.9) & (dodge_ball | dodge_kickoff)
        act = np.where(start, rp.AIR[1, 1, 1, 1, 1], act)  # jump (boost on: harmless, keeps speed)
        return np.where(self.on_ground, act, self.air_action(target, take_kickoff))

    # ------------------------------------------------------------------------------------------ pieces

    def shot_direction(self, hit: np.ndarray) -> np.ndarray:
        """``[B, 2]`` unit direction to hit the ball at ``hit``: the car's own approach when it lies in the cone of
        good directions, else the nearest edge of the cone. The cone spans the opponent goal mouth, widened in
        our half (a clear anywhere upfield will do), but never to send the ball backwards."""
        h = hit[:, :2].copy()
        h[:, 1] = np.minimum(h[:, 1], rp.BACK_WALL_Y - 200.0)
        # Aim inside the posts with a margin that grows with the distance (aim errors grow with it).
        aim_x = np.clip(
            _T("aimw", 800.0) - _T("aimk", 100.0) * (rp.BACK_WALL_Y - h[:, 1]), _T("aimx", _GOAL_AIM_X), 750.0
        )
        a_left = _heading(np.stack([-aim_x - h[:, 0], rp.BACK_WALL_Y - h[:, 1]], axis=1))
        a_right = _heading(np.stack([aim_x - h[:, 0], rp.BACK_WALL_Y - h[:, 1]], axis=1))
        widen = np.clip(-h[:, 1] / rp.BACK_WALL_Y, 0.0, 1.0) * 1.1
        # Headings within (0, pi), lo < hi; the widening stops 0.15 rad short of sideways.
        lo = np.minimum(a_right, np.maximum(a_right - widen, 0.15))
        hi = np.maximum(a_left, np.minimum(a_left + widen, np.pi - 0.15))
        a_u = _heading(h - self.pos[:, :2])
        centre = 0.5 * (lo + hi)
        rel = _wrap(a_u - centre)
        half = 0.5 * (hi - lo)
        a = centre + np.clip(rel, -half, half)
        shot = np.stack([np.cos(a), np.sin(a)], axis=1)
        # Against a side wall the car cannot get between the ball and the wall: hit it along the wall instead.
        near_wall = np.abs(h[:, 0]) > rp.SIDE_WALL_X - 500.0
        along = np.stack([np.zeros(len(h)), np.ones(len(h))], axis=1)
        into_field = shot[:, 0] * np.sign(h[:, 0]) < 0.0
        return np.where((near_wall & into_field)[:, None], along, shot)

    def nearest_big_pad(self, max_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[B, 2]`` the nearest active big boost pad below ``max_y``, and ``[B]`` whether there is one."""
        ok = (self.pad_timers[:, BIG_PAD_INDICES] <= 0) & (BIG_PADS[None, :, 1] < max_y[:, None])
        dist = np.linalg.norm(BIG_PADS[None, :, :2] - self.pos[:, None, :2], axis=2)
        best = np.argmin(np.where(ok, dist, np.inf), axis=1)
        return BIG_PADS[best, :2], ok.any(axis=1)

    def pad_on_the_way(self, target: np.ndarray) -> np.ndarray:
        """``target``, or the nearest active boost pad close to the straight way there (a small detour)."""
        seg = target - self.pos[:, :2]
        length = np.maximum(np.linalg.norm(seg, axis=1), 1e-6)
        direction = seg / length[:, None]
        rel = _PADS[None, :, :2] - self.pos[:, None, :2]  # [B, 34, 2]
        along = (rel * direction[:, None, :]).sum(axis=-1)
        lateral = np.abs(rel[..., 0] * direction[:, None, 1] - rel[..., 1] * direction[:, None, 0])
        width = np.where(_PAD_IS_BIG, 350.0, 200.0)[None, :]
        ok = (self.pad_timers <= 0) & (along > 150.0) & (along < length[:, None] - 300.0) & (lateral < width)
        best = np.argmin(np.where(ok, along, np.inf), axis=1)
        return np.where(ok.any(axis=1)[:, None], _PADS[best, :2], target)

    def own_goal_threat(self) -> np.ndarray:
        """``[B]``: the predicted ball enters our goal within the prediction horizon."""
        p = self.pred[..., :3]
        return ((p[..., 1] < -rp.GOAL_LINE_Y) & (np.abs(p[..., 0]) < rp.GOAL_HALF_WIDTH)).any(axis=1)

    def around_ball(self, target: np.ndarray) -> np.ndarray:
        """``target``, or a waypoint beside the ball when the straight way there passes through it."""
        car = self.pos[:, :2]
        ball = self.ball[:, :2]
        seg = target - car
        length = np.maximum(np.linalg.norm(seg, axis=1), 1e-6)
        along = ((ball - car) * seg).sum(axis=1) / length
        closest = car + seg * (np.clip(along, 0.0, length) / length)[:, None]
        gap = np.linalg.norm(closest - ball, axis=1)
        normal = np.stack([-seg[:, 1], seg[:, 0]], axis=1) / length[:, None]
        away = np.where((gap > 1.0)[:, None], _unit(closest - ball), normal)
        blocked = (gap < 250.0) & (along > 0.0) & (along < length)
        return np.where(blocked[:, None], ball + away * 400.0, target)

    def collision_course(self, shot: np.ndarray, min_cos: np.ndarray) -> np.ndarray:
        """``[B]``: within ``flip_lead_s`` the car, keeping its velocity, meets the low ball nose first, and the
        contact normal then (car centre to ball centre, which is where the hit sends the ball) is within
        ``acos(min_cos)`` of ``shot``."""
        # Check every 1/30 s (half a step), the prediction interpolated between its slices.
        t = np.arange(1, int(round(self.bot.flip_lead_s * 30.0)) + 1) / 30.0
        car = self.pos[:, None, :2] + self.vel[:, None, :2] * t[None, :, None]
        m = int(np.ceil(t[-1] / rp.PRED_DT)) + 1
        known_t = np.concatenate([[0.0], self.times[: m - 1]])
        known = np.concatenate([self.ball[:, None, :], self.pred[:, : m - 1, :3]], axis=1)  # [B, m, 3]
        j = np.clip(np.searchsorted(known_t, t) - 1, 0, m - 2)
        w = ((t - known_t[j]) / (known_t[j + 1] - known_t[j]))[None, :, None]
        ball3 = known[:, j] * (1.0 - w) + known[:, j + 1] * w
        rel = ball3[..., :2] - car
        gap = np.linalg.norm(rel, axis=-1)
        meet = (gap < _T("meet", 180.0)) & (ball3[..., 2] < 190.0)
        first = np.argmax(meet, axis=1)
        normal = _unit(rel[self.rows, first])
        meets = meet.any(axis=1)
        facing = (normal * _unit(self.fwd[:, :2])).sum(axis=1) > _T("facing", 0.95)
        aimed = (normal * shot).sum(axis=1) > min_cos
        return meets & facing & aimed & (self.speed > 600.0)

    def local_angle(self, target: np.ndarray) -> np.ndarray:
        """``[B]`` angle from the car's nose to ``[B, 2]`` floor points, in the car's own plane (positive: to the
        right, where +steer turns)."""
        d = np.concatenate([target, np.full((self.n, 1), _CAR_Z)], axis=1) - self.pos
        return np.arctan2((d * self.right).sum(axis=1), (d * self.fwd).sum(axis=1))

    def drive(self, target: np.ndarray, v_des: np.ndarray) -> np.ndarray:
        """``[B]`` ground actions towards ``[B, 2]`` floor points at about ``v_des`` uu/s."""
        d = np.concatenate([target, np.full((self.n, 1), _CAR_Z)], axis=1) - self.pos
        angle = self.local_angle(target)
        yaw_rate = (self.ang * self.up).sum(axis=1)
        aim = angle - 0.1 * yaw_rate  # lead the turn by the current yaw rate, against overshoot
        steer = np.where(np.abs(aim) < 0.05, 0, np.sign(aim)).astype(np.int64)
        flat = self.up[:, 2] > 0.9
        handbrake = flat & (np.abs(angle) > _T("hb", 2.0)) & (self.speed > 300.0)
        dist = np.linalg.norm(d[:, :2], axis=1)
        # Not faster than lets the turn reach the target: the circle through it, tangent to the nose, has
        # curvature 2 sin(angle) / distance (a half turn for targets behind). A near target only gives the
        # direction, so the speed limit counts it as at least 600 uu away.
        curvature = 2.0 * np.sin(np.minimum(np.abs(angle), np.pi / 2)) / np.maximum(dist, 1.0)
        # Never below a crawl, though: a stopped car cannot turn at all.
        v_des = np.minimum(v_des, np.maximum(rp.speed_for_curvature(curvature), _T("floor", 250.0)))
        gap = v_des - self.speed
        throttle = np.where(gap > 0.0, 1, np.where(gap < -300.0, -1, 0))
        # Boost where throttle alone accelerates slowly (above about 1400 uu/s) or a lot of speed is missing.
        boost = (
            ((gap > 400.0) | ((gap > 50.0) & (self.speed > 1300.0)))
            & (np.abs(angle) < 0.3)
            & (self.boost > 0.0)
            & (self.speed < 2250.0)
            & ~handbrake
            & (self.up[:, 2] > 0.5)
        )
        # Too tight to turn into even from a standstill: back up (into it when it is behind, else swinging the
        # nose towards it) instead of orbiting it. In reverse, steer turns the nose the other way.
        too_tight = (
            (curvature > 0.9 * rp.MAX_CURVATURE)
            & (np.abs(self.speed) < 500.0)
            & (np.abs(angle) > 1.2)
            & (dist > _T("ttd", 0.0))
        )
        behind = np.abs(angle) > np.pi / 2
        throttle = np.where(too_tight, -1, throttle)
        steer = np.where(too_tight, np.where(behind, 1, -1) * np.sign(angle).astype(np.int64), steer)
        boost &= ~too_tight
        throttle = np.where(boost, 1, throttle)
        return rp.GROUND[throttle + 1, steer + 1, boost.astype(np.int64), handbrake.astype(np.int64)]

    def air_action(self, target: np.ndarray, boost_on: np.ndarray) -> np.ndarray:
        """``[B]`` actions in the air: finish a dodge from the car flags, else land on the wheels facing
        ``target``."""
        f = self.flags
        holding, has_jumped, has_flipped = f[:, 0], f[:, 2], f[:, 4]
        is_flipping, can_flip = f[:, 5], f[:, 7]
        b = boost_on.astype(np.int64)
        # Flip phase 2: jumped and still holding jump -> release it (a neutral air row).
        release = has_jumped & holding & ~has_flipped
        # Flip phase 3: jump released, flip available -> jump again with the stick towards the ball.
        ball_local = self.ball - self.pos
        fwd_c = (ball_local * self.fwd).sum(axis=1)
        right_c = (ball_local * self.right).sum(axis=1)
        pitch = np.where(fwd_c >= -0.5 * np.abs(right_c), -1, 1)
        roll = np.where(np.abs(right_c) > 0.5 * np.abs(fwd_c), np.sign(right_c), 0).astype(np.int64)
        pitch = np.where(np.abs(fwd_c) < 0.3 * np.abs(right_c), 0, pitch)
        flip = has_jumped & can_flip & ~has_flipped
        flip_row = rp.AIR[pitch + 1, 1, roll + 1, 1, 0]
        # Recovery: pitch and roll the wheels down, yaw towards the target.
        w = self.ang
        fz, rz, uz = self.fwd[:, 2], self.right[:, 2], self.up[:, 2]
        nose_up_rate = -(w * self.right).sum(axis=1)
        roll_right_rate = -(w * self.fwd).sum(axis=1)
        p_err = -fz - 0.25 * nose_up_rate
        r_err = rz - 0.25 * roll_right_rate
        r_err = np.where((uz < 0) & (np.abs(rz) < 0.3), 1.0, r_err)
        rec_pitch = np.where(np.abs(p_err) < 0.1, 0, np.sign(p_err)).astype(np.int64)
        rec_roll = np.where(np.abs(r_err) < 0.1, 0, np.sign(r_err)).astype(np.int64)
        d = np.concatenate([target, np.full((self.n, 1), _CAR_Z)], axis=1) - self.pos
        yaw_angle = _wrap(_heading(d[:, :2]) - _heading(self.fwd[:, :2]))
        rec_yaw = np.where((np.abs(yaw_angle) < 0.2) | (uz < 0.5), 0, np.sign(yaw_angle)).astype(np.int64)
        recover = rp.AIR[rec_pitch + 1, rec_yaw + 1, rec_roll + 1, 0, 0]
        neutral = rp.GROUND[2, 1, b, 0]
        return np.where(release, neutral, np.where(flip, flip_row, np.where(is_flipping, neutral, recover))).astype(
            np.int64
        )
