"""Two scripted Rocket League bots computed from the observation vector (pure: numpy only).

Both read the same 172-float padded ``DefaultObs`` observation every car gets (see
:class:`~rl_bot.env.components.PaddedDefaultObs`), so they can also run inside RLlib env runners as frozen modules
that only see observations (:class:`~rl_bot.league.modules.RuleBotModule`). The observation is already in the
car's own team's frame (orange sees x and y mirrored, so both teams attack +y). Actions are indices into rlgym's
90-row lookup table; all cars of a batch are computed at once with numpy, and neither bot keeps state.

:class:`BasicRuleBot` (the weaker built-in opponent ``rule-basic``), per car, every step:

- **kickoff** (ball at rest on the centre spot): drive at the ball with boost;
- **defend** when the ball is between the car and its own goal (the car is upfield of the ball): drive to a point
  between the ball and its own goal, to get goal-side of it;
- **collect boost** when below ``low_boost`` and the ball is far: drive to the nearest active big pad;
- otherwise **chase and strike**: drive at a point just behind the ball on the line from the opponent goal through
  the ball, so contact pushes the ball towards the opponent goal; boost when roughly facing the target.

In every case it steers towards its target, and reverses and turns instead when the target is behind it with the
ball close (ball right behind). It uses ground rows only (throttle, steer, boost).

:class:`RuleBot` (the strong one) predicts the ball (gravity, drag, bounces; :mod:`rl_bot.league.rule_physics`),
picks the earliest point where it can meet it, and drives there on a curve that ends on the shot line (behind the
ball, aimed into the goal mouth), dodging into the ball when the predicted contact sends it the right way. It
powerslides sharp turns, takes kickoffs with a dodge, goes back to the far post when beaten, shadows an opponent
that reaches the ball first in its half, collects boost, lands on its wheels, and in teams commits one car to the
ball while the others wait behind it. The dodge is sequenced from the car flags in the observation (jump, release,
jump with the stick towards the ball), so the bot stays stateless.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# ----------------------------------------------------------------------------------------------------------------
# The strong bot

_SLOT = 20  # floats per car in the observation
_TEAM_SLOTS = (52, 72, 92)  # the car itself, then its two ally slots
_OPP_SLOTS = (112, 132, 152)
_FLAGS = slice(43, 52)  # holding_jump, handbrake, has_jumped, is_jumping, has_flipped, is_flipping, …, can_flip, air
_CAR_Z = 17.0  # a car's resting height
_OWN_GOAL = np.array([0.0, -rp.BACK_WALL_Y])
_PADS = np.array(BOOST_LOCATIONS)
_PAD_IS_BIG = _PADS[:, 2] > 72.0

# Reaching the ball.
_REACH = 150.0  # car centre to ball centre at a front-bumper touch (the time-to-ball estimates stop this short)
_CONTACT = 130.0  # where the car aims: this far behind the ball on the shot line
_MAX_HIT_Z = 200.0  # highest ball centre the car reaches from the ground (with a dodge)
_WAIT_SLACK = 0.25  # s: when the car could be at the meeting point this much earlier, it slows to arrive on time
# Shots and clears.
_AIM_X = 200.0  # shots aim between x = ±_AIM_X on the goal line (the posts are at ±893)
_CLEAR_WIDEN = 1.1  # rad the cone of good directions widens by at our own goal line (none at halfway)
_SHOT_COS = 0.96  # a dodge into the ball needs the contact normal this close to the shot direction…
_CLEAR_COS = 0.8  # … or this close, in our half
_FACING_COS = 0.95  # … and the ball this straight ahead
_MEET_GAP = 180.0  # car centre to ball centre (floor plane) that counts as meeting it
# Positioning.
_WRONG_SIDE = 300.0  # the car is upfield of the ball (must go back goal-side) past this margin in y
_ESCORT = 450.0  # the car is at the meeting point already within this distance
_SHADOW_MARGIN = 0.5  # s: an opponent that reaches the ball this much sooner in our half is shadowed
_SHADOW_FRACTION = 0.4  # … from this fraction of the way from our goal to the ball (at most 2500 uu out)
_SUPPORT_DISTANCE = 2500.0  # the second car of a team waits this far behind the ball, towards our goal
# Driving.
_KICKOFF_AIM = 100.0  # the kickoff aims this far below the ball centre: contact from below sends it upfield
_SPEED_FLOOR = 250.0  # the turning-speed limit never asks for less than this (a stopped car cannot turn)
_HANDBRAKE_ANGLE = 2.0  # rad off the nose: powerslide
_STEER_DEADBAND = 0.05  # rad


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _heading(v: np.ndarray) -> np.ndarray:
    return np.arctan2(v[..., 1], v[..., 0])


def _in_field(p: np.ndarray) -> np.ndarray:
    """``[B, 2]`` floor points moved inside the field, clear of the walls and corners."""
    q = np.stack([np.clip(p[:, 0], -3800.0, 3800.0), np.clip(p[:, 1], -4900.0, 4900.0)], axis=1)
    over = np.abs(q[:, 0]) + np.abs(q[:, 1]) - (rp.CORNER_SUM - 400.0)
    return q - np.sign(q) * np.where(over > 0, over / 2.0, 0.0)[:, None]


def _cars(obs: np.ndarray, bases: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Car slots of ``obs`` as ``[B, S, …]`` arrays in uu, uu/s and rad/s; ``present``: a live car in the slot."""
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
        # Absent cars are all zeros (no unit forward vector); a demolished car waits to respawn.
        "present": (np.abs(fwd).sum(axis=-1) > 0.5) & (raw[..., 16] <= 0),
    }


class RuleBot:
    """The strong scripted policy (the built-in opponent ``rule``).

    ``actions(obs)`` maps a ``[B, 172]`` observation batch to ``[B]`` lookup-table actions. Stateless: every
    decision, including where a dodge is in its jump / release / flip sequence, comes from the observation, so
    the same observation always gives the same action and any car can be driven from any step on.
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
        return _Plan(obs, self).act()


@dataclass(frozen=True)
class _Decision:
    """A step's plan per car (``[B]`` or ``[B, 2]`` arrays): its rank in its team (0: the car that commits to the
    ball), whether it is a kickoff, where the ball is met and the direction to send it, and the floor point and
    speed to drive at."""

    rank: np.ndarray
    kickoff: np.ndarray
    hit: np.ndarray
    shot: np.ndarray
    target: np.ndarray
    speed: np.ndarray


class _Plan:
    """One step's decisions for a batch of cars: arrays over the batch, the car itself is slot 0 of ``team``."""

    def __init__(self, obs: np.ndarray, bot: RuleBot):
        self.bot = bot
        self.obs = obs
        self.n = len(obs)
        self.rows = np.arange(self.n)
        self.ball = obs[:, _BALL_POS] * _POS_SCALE
        self.ball_vel = obs[:, _BALL_VEL] * _POS_SCALE
        self.pad_timers = obs[:, _PAD_TIMERS]
        self.flags = obs[:, _FLAGS] > 0.5
        self.team = _cars(obs, _TEAM_SLOTS)
        me = {k: v[:, 0] for k, v in self.team.items()}
        self.pos, self.fwd, self.up, self.right = me["pos"], me["fwd"], me["up"], me["right"]
        self.vel, self.ang, self.boost, self.on_ground = me["vel"], me["ang"], me["boost"], me["on_ground"]
        self.speed = (self.vel * self.fwd).sum(axis=1)  # forward speed, negative when reversing
        self.pred = rp.predict_ball(self.ball, self.ball_vel)
        self.times = (np.arange(self.pred.shape[1]) + 1) * rp.PRED_DT

    # ---------------------------------------------------------------------------------------------- the step

    def act(self) -> np.ndarray:
        """``[B]`` actions: drive to the chosen point at the chosen speed, dodge into the ball when it is time; in
        the air, finish the dodge or land on the wheels."""
        d = self.decide()
        act = self.drive(d.target, d.speed)
        # Dodges start on the ground: into the ball on a collision course with the hit aimed (shots precisely,
        # clears in our half roughly), or at a kickoff near the ball.
        min_cos = np.where(d.hit[:, 1] < 0.0, _CLEAR_COS, _SHOT_COS)
        dodge_ball = (d.rank == 0) & ~d.kickoff & self.collision_course(d.shot, min_cos)
        near = np.linalg.norm(self.ball[:, :2] - self.pos[:, :2], axis=1) < self.bot.kickoff_flip_distance
        dodge_kickoff = d.kickoff & (d.rank == 0) & near & (self.speed > 1000.0)
        start = self.on_ground & (self.up[:, 2] > 0.9) & (dodge_ball | dodge_kickoff)
        act = np.where(start, rp.AIR[1, 1, 1, 1, 1], act)  # jump, pitch/yaw/roll neutral, boost on
        return np.where(self.on_ground, act, self.air_action(d.target, d.kickoff & (d.rank == 0)))

    def decide(self) -> _Decision:
        """Who commits, where the ball is met and sent, and the point and speed to drive at."""
        n, ball = self.n, self.ball
        eta, k, penalty, slack = self.intercepts(self.team)
        opp_eta = self.intercepts(_cars(self.obs, _OPP_SLOTS))[0].min(axis=1)
        kickoff = (np.abs(ball[:, 0]) < 1) & (np.abs(ball[:, 1]) < 1) & (np.linalg.norm(self.ball_vel, axis=1) < 1)
        # Who commits: at a kickoff the car nearest the ball, else the one that meets it first (a car upfield of
        # the ball counts as later). Every teammate computes the same ranking, so exactly one car commits.
        dist_ball = np.linalg.norm(ball[:, None, :2] - self.team["pos"][..., :2], axis=-1)
        rank = np.where(kickoff, self.rank(dist_ball), self.rank(eta + penalty))
        hit = self.pred[self.rows, k[:, 0], :3]  # where the car meets the ball
        t_hit = eta[:, 0]
        shot = self.shot_direction(hit)
        target, v_des = self.approach(hit, t_hit, slack[:, 0], shot)

        # Upfield of the ball with the ball in our half or heading for our goal: back to the far post first
        # (then, goal-side again, challenge).
        threat = self.own_goal_threat()
        wrong_side = (self.pos[:, 1] > hit[:, 1] + _WRONG_SIDE) & (self.pos[:, 1] > -4500.0)
        retreat = wrong_side & ((hit[:, 1] < 0.0) | threat)
        target = np.where(retreat[:, None], self.far_post(hit), target)
        v_des = np.where(retreat, rp.CAR_MAX_SPEED, v_des)

        # An opponent gets to the ball clearly first in our half: wait goal-side on the line from our goal to the
        # ball (facing the ball once there) rather than arrive late into its shot.
        shadow = (opp_eta + _SHADOW_MARGIN < t_hit) & (hit[:, 1] < 0.0) & ~wrong_side
        to_ball = hit[:, :2] - _OWN_GOAL
        guard = (
            _OWN_GOAL
            + _unit(to_ball)
            * np.minimum(_SHADOW_FRACTION * np.linalg.norm(to_ball, axis=1), _SUPPORT_DISTANCE)[:, None]
        )
        target, v_des = self.hold(shadow, guard, hit[:, :2], target, v_des)

        # Low on boost, goal-side, the ball far away and no threat: fetch a big pad that is near the car and
        # goal-side of the ball first.
        pad, pad_ok = self.nearest_big_pad(max_y=hit[:, 1] - 500.0)
        fetch = (self.boost < 30.0) & (np.linalg.norm(hit[:, :2] - self.pos[:, :2], axis=1) > 2500.0) & (t_hit > 1.0)
        fetch &= ~threat & ~wrong_side & pad_ok & (np.linalg.norm(pad - self.pos[:, :2], axis=1) < 1500.0)
        target = np.where(fetch[:, None], pad, target)
        v_des = np.where(fetch, rp.CAR_MAX_SPEED, v_des)

        # Teammates that do not commit: the second waits behind the ball towards our goal, the third at the far
        # post; both face the ball once there.
        support = ball[:, :2] + _unit(_OWN_GOAL - ball[:, :2]) * _SUPPORT_DISTANCE
        support = np.stack([np.clip(support[:, 0], -3000.0, 3000.0), np.maximum(support[:, 1], -4600.0)], axis=1)
        back_post = np.stack([-np.sign(ball[:, 0] + 1e-6) * 600.0, np.full(n, -4700.0)], axis=1)
        spot = np.where((rank >= 2)[:, None], back_post, support)
        target, v_des = self.hold(rank > 0, spot, ball[:, :2], target, v_des, settle=400.0, gain=1.5)

        # Kickoff: straight at the ball at full speed, aiming just below its centre.
        take_kickoff = kickoff & (rank == 0)
        target = np.where(take_kickoff[:, None], ball[:, :2] - np.array([0.0, _KICKOFF_AIM]), target)
        v_des = np.where(take_kickoff, rp.CAR_MAX_SPEED, v_des)

        # Never drive through the ball on the way somewhere else; pick up boost pads that lie on the way.
        avoid = ~take_kickoff & ((rank > 0) | retreat)
        target = np.where(avoid[:, None], self.around_ball(target), target)
        target = np.where((~take_kickoff & (self.boost < 90.0))[:, None], self.pad_on_the_way(target), target)
        target = np.where(avoid[:, None], self.around_ball(target), target)
        return _Decision(rank=rank, kickoff=kickoff, hit=hit, shot=shot, target=target, speed=v_des)

    # ---------------------------------------------------------------------------------------------- estimates

    def intercepts(self, cars: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per car slot ``[B, S]``: the earliest time it can meet the ball (infinite for absent cars), that
        prediction slice, a time penalty for being upfield of the ball (used to choose who commits), and the
        slack: how much sooner the car could be at that point than the ball (waiting for a bouncing ball)."""
        # Only the slots with a car somewhere in the batch (a 1v1 batch leaves four of the six empty).
        n_slots = cars["present"].shape[1]
        used = np.flatnonzero(cars["present"].any(axis=0))
        cars = {key: value[:, used] for key, value in cars.items()}
        p = self.pred[:, None, :, :3]  # [B, 1, N, 3]
        d = p[..., :2] - cars["pos"][:, :, None, :2]  # [B, S, N, 2]
        dist = np.linalg.norm(d, axis=-1)
        f2 = _unit(cars["fwd"][..., :2])[:, :, None, :]
        angle = np.arctan2(f2[..., 0] * d[..., 1] - f2[..., 1] * d[..., 0], (f2 * d).sum(axis=-1))
        speed = (cars["vel"] * cars["fwd"]).sum(axis=-1)[..., None]  # [B, S, 1]
        v_eff = speed * np.clip(np.cos(angle), 0.0, 1.0)
        t_car = rp.turn_time(angle, speed) + rp.straight_time(
            np.maximum(dist - _REACH, 0.0), v_eff, cars["boost"][..., None]
        )
        reachable = (p[..., 2] < _MAX_HIT_Z) & (np.abs(p[..., 1]) < rp.BACK_WALL_Y)
        meet = np.where(reachable, np.maximum(t_car, self.times), np.inf)
        k = np.argmin(meet, axis=-1)  # [B, S]
        eta = np.take_along_axis(meet, k[..., None], axis=-1)[..., 0]
        eta = np.where(np.isfinite(eta), eta, self.times[-1] + 1.0)  # never reachable: a late guess
        ball_y = np.take_along_axis(self.pred[:, None, :, 1], k[..., None], axis=2)[..., 0]
        penalty = np.clip(cars["pos"][..., 1] - ball_y + 200.0, 0.0, None) / 1000.0
        slack = eta - np.take_along_axis(t_car, k[..., None], axis=-1)[..., 0]
        out = (np.full((self.n, n_slots), np.inf), np.zeros((self.n, n_slots), np.int64))
        out += (np.zeros((self.n, n_slots)), np.zeros((self.n, n_slots)))
        for full, part in zip(out, (np.where(cars["present"], eta, np.inf), k, penalty, slack), strict=True):
            full[:, used] = part
        return out

    def rank(self, key: np.ndarray) -> np.ndarray:
        """``[B]`` rank of the car among its present teammates by ``key`` (lower first). Keys within 0.05 of each
        other are ties, broken by x position, so every teammate ranks the team the same way from its own
        observation (they all hold the same numbers)."""
        present = self.team["present"]
        key = np.where(present, key, 1e9)
        x = self.team["pos"][..., 0]
        mine, mine_x = key[:, :1], x[:, :1]
        better = (key < mine - 0.05) | ((np.abs(key - mine) <= 0.05) & (x < mine_x))
        better[:, 0] = False
        return (better & present).sum(axis=1)

    def own_goal_threat(self) -> np.ndarray:
        """``[B]``: the predicted ball enters our goal within the prediction horizon."""
        p = self.pred
        return ((p[..., 1] < -rp.GOAL_LINE_Y) & (np.abs(p[..., 0]) < rp.GOAL_HALF_WIDTH)).any(axis=1)

    # ---------------------------------------------------------------------------------------------- targets

    def shot_direction(self, hit: np.ndarray) -> np.ndarray:
        """``[B, 2]`` unit direction to send the ball from ``hit``: the car's own approach direction when it lies in
        the cone of good directions, else the nearest edge of the cone. The cone spans the middle of the opponent
        goal mouth, widened in our half (a clear anywhere upfield will do) but never past sideways."""
        h = hit[:, :2].copy()
        h[:, 1] = np.minimum(h[:, 1], rp.BACK_WALL_Y - 200.0)
        a_left = _heading(np.stack([-_AIM_X - h[:, 0], rp.BACK_WALL_Y - h[:, 1]], axis=1))
        a_right = _heading(np.stack([_AIM_X - h[:, 0], rp.BACK_WALL_Y - h[:, 1]], axis=1))
        widen = np.clip(-h[:, 1] / rp.BACK_WALL_Y, 0.0, 1.0) * _CLEAR_WIDEN
        lo = np.minimum(a_right, np.maximum(a_right - widen, 0.15))  # headings in (0, pi), lo < hi
        hi = np.maximum(a_left, np.minimum(a_left + widen, np.pi - 0.15))
        centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        a = centre + np.clip(_wrap(_heading(h - self.pos[:, :2]) - centre), -half, half)
        shot = np.stack([np.cos(a), np.sin(a)], axis=1)
        # Against a side wall the car cannot get between the ball and the wall: hit it along the wall instead.
        near_wall = np.abs(h[:, 0]) > rp.SIDE_WALL_X - 500.0
        into_field = shot[:, 0] * np.sign(h[:, 0]) < 0.0
        return np.where((near_wall & into_field)[:, None], np.array([0.0, 1.0]), shot)

    def approach(
        self, hit: np.ndarray, t_hit: np.ndarray, slack: np.ndarray, shot: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Target point and speed to meet the ball at ``hit`` and send it along ``shot``.

        The car aims at a point behind the contact point on the shot line, half its distance back, so the path
        curves onto the line. When that would take it round the ball (the shot points back at the car), the offset
        is clamped sideways: it aims at the ball's edge rather than circling it. Full speed, unless the ball only
        comes within reach later (a bounce): then it slows to arrive on time.
        """
        car = self.pos[:, :2]
        to_ball = hit[:, :2] - car
        dist = np.linalg.norm(to_ball, axis=1)
        u = to_ball / np.maximum(dist, 1e-6)[:, None]
        side = np.stack([-u[:, 1], u[:, 0]], axis=1)
        side = np.where(((side * -shot).sum(axis=1) >= 0.0)[:, None], side, -side)
        offset_dir = np.where(((shot * u).sum(axis=1) >= 0.0)[:, None], -shot, side)
        contact = hit[:, :2] - shot * _CONTACT
        target = _in_field(contact + offset_dir * (0.5 * np.linalg.norm(contact - car, axis=1))[:, None])
        # At the meeting point already but facing away from the shot (the ball comes from behind): the point above
        # is where the car stands, so it would escort the ball; turn (or back up) into the ball itself instead,
        # unless that knocks it towards our end.
        facing_shot = (_unit(self.fwd[:, :2]) * shot).sum(axis=1)
        escort = (dist < _ESCORT) & (facing_shot < 0.3) & (u[:, 1] > -0.2)
        target = np.where(escort[:, None], hit[:, :2], target)
        path = np.linalg.norm(target - car, axis=1) + 0.5 * dist
        early = (slack > _WAIT_SLACK) & (t_hit <= self.times[-1])
        v_des = np.where(early, np.minimum(path / np.maximum(t_hit - 0.05, 0.05), rp.CAR_MAX_SPEED), rp.CAR_MAX_SPEED)
        return target, v_des

    def far_post(self, hit: np.ndarray) -> np.ndarray:
        """``[B, 2]`` our goal's post away from the ball (the car's side of it when the ball is central)."""
        side = np.where(np.abs(hit[:, 0]) < 500.0, np.sign(self.pos[:, 0] - hit[:, 0]), -np.sign(hit[:, 0]))
        side = np.where(side == 0, 1.0, side)
        return np.stack([side * (rp.GOAL_HALF_WIDTH - 250.0), np.full(self.n, -rp.BACK_WALL_Y + 350.0)], axis=1)

    def hold(
        self,
        mask: np.ndarray,
        spot: np.ndarray,
        face: np.ndarray,
        target: np.ndarray,
        v_des: np.ndarray,
        settle: float = 300.0,
        gain: float = 2.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where ``mask``: drive to ``spot``, slowing as it nears, and once within ``settle`` stop and turn to
        ``face``; elsewhere keep ``target`` and ``v_des``."""
        d = np.linalg.norm(spot - self.pos[:, :2], axis=1)
        there = d < settle
        hold_target = np.where(there[:, None], face, spot)
        hold_speed = np.where(there, 0.0, np.clip(gain * d, 300.0, rp.CAR_MAX_SPEED))
        return np.where(mask[:, None], hold_target, target), np.where(mask, hold_speed, v_des)

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

    def around_ball(self, target: np.ndarray) -> np.ndarray:
        """``target``, or a waypoint beside the ball when the straight way there passes through it."""
        car, ball = self.pos[:, :2], self.ball[:, :2]
        seg = target - car
        length = np.maximum(np.linalg.norm(seg, axis=1), 1e-6)
        along = ((ball - car) * seg).sum(axis=1) / length
        closest = car + seg * (np.clip(along, 0.0, length) / length)[:, None]
        gap = np.linalg.norm(closest - ball, axis=1)
        normal = np.stack([-seg[:, 1], seg[:, 0]], axis=1) / length[:, None]
        away = np.where((gap > 1.0)[:, None], _unit(closest - ball), normal)
        blocked = (gap < 250.0) & (along > 0.0) & (along < length)
        return np.where(blocked[:, None], ball + away * 400.0, target)

    # ---------------------------------------------------------------------------------------------- controls

    def collision_course(self, shot: np.ndarray, min_cos: np.ndarray) -> np.ndarray:
        """``[B]``: within ``flip_lead_s`` the car, keeping its velocity, meets the low ball nearly straight ahead,
        and the contact normal then (car centre to ball centre: where the hit sends the ball) is within
        ``acos(min_cos)`` of ``shot``."""
        # Checked every 1/30 s (half an action step), the prediction interpolated between its slices.
        t = np.arange(1, int(round(self.bot.flip_lead_s * 30.0)) + 1) / 30.0
        car = self.pos[:, None, :2] + self.vel[:, None, :2] * t[None, :, None]
        m = int(np.ceil(t[-1] / rp.PRED_DT)) + 1
        known_t = np.concatenate([[0.0], self.times[: m - 1]])
        known = np.concatenate([self.ball[:, None, :], self.pred[:, : m - 1, :3]], axis=1)  # [B, m, 3]
        j = np.clip(np.searchsorted(known_t, t) - 1, 0, m - 2)
        w = ((t - known_t[j]) / (known_t[j + 1] - known_t[j]))[None, :, None]
        ball = known[:, j] * (1.0 - w) + known[:, j + 1] * w
        rel = ball[..., :2] - car
        meet = (np.linalg.norm(rel, axis=-1) < _MEET_GAP) & (ball[..., 2] < 190.0)
        normal = _unit(rel[self.rows, np.argmax(meet, axis=1)])
        facing = (normal * _unit(self.fwd[:, :2])).sum(axis=1) > _FACING_COS
        aimed = (normal * shot).sum(axis=1) > min_cos
        return meet.any(axis=1) & facing & aimed & (self.speed > 600.0)

    def local_angle(self, target: np.ndarray) -> np.ndarray:
        """``[B]`` angle from the car's nose to ``[B, 2]`` floor points, in the car's own plane (positive: to the
        right, where +steer turns; on a wall this points the car down towards floor targets)."""
        d = np.concatenate([target, np.full((self.n, 1), _CAR_Z)], axis=1) - self.pos
        return np.arctan2((d * self.right).sum(axis=1), (d * self.fwd).sum(axis=1))

    def drive(self, target: np.ndarray, v_des: np.ndarray) -> np.ndarray:
        """``[B]`` ground actions towards ``[B, 2]`` floor points at about ``v_des`` uu/s."""
        angle = self.local_angle(target)
        dist = np.linalg.norm(target - self.pos[:, :2], axis=1)
        aim = angle - 0.1 * (self.ang * self.up).sum(axis=1)  # lead the turn by the yaw rate, against overshoot
        steer = np.where(np.abs(aim) < _STEER_DEADBAND, 0, np.sign(aim)).astype(np.int64)
        flat = self.up[:, 2] > 0.9
        handbrake = flat & (np.abs(angle) > _HANDBRAKE_ANGLE) & (self.speed > 300.0)
        # Not faster than lets a full-steer turn reach the target: the circle through it, tangent to the nose, has
        # curvature 2 sin(angle) / distance (a half turn for targets behind).
        curvature = 2.0 * np.sin(np.minimum(np.abs(angle), np.pi / 2)) / np.maximum(dist, 1.0)
        v_des = np.minimum(v_des, np.maximum(rp.speed_for_curvature(curvature), _SPEED_FLOOR))
        gap = v_des - self.speed
        throttle = np.where(gap > 0.0, 1, np.where(gap < -300.0, -1, 0))
        # Boost where throttle alone accelerates slowly (above about 1400 uu/s) or a lot of speed is missing.
        boost = ((gap > 400.0) | ((gap > 50.0) & (self.speed > 1300.0))) & (np.abs(angle) < 0.3)
        boost &= (self.boost > 0.0) & (self.speed < 2250.0) & ~handbrake & (self.up[:, 2] > 0.5)
        # Too tight to turn into even from a standstill, off to the side or behind: back up instead of orbiting
        # it, into it when it is behind, else swinging the nose towards it (in reverse, steer turns the nose the
        # other way).
        too_tight = (curvature > 0.9 * rp.MAX_CURVATURE) & (np.abs(self.speed) < 500.0) & (np.abs(angle) > 1.2)
        behind = np.abs(angle) > np.pi / 2
        throttle = np.where(too_tight, -1, throttle)
        steer = np.where(too_tight, np.where(behind, 1, -1) * np.sign(angle).astype(np.int64), steer)
        boost &= ~too_tight
        throttle = np.where(boost, 1, throttle)
        return rp.GROUND[throttle + 1, steer + 1, boost.astype(np.int64), handbrake.astype(np.int64)]

    def air_action(self, target: np.ndarray, boost_on: np.ndarray) -> np.ndarray:
        """``[B]`` actions in the air. A dodge runs from the car flags: jumped and still holding jump -> release
        (a neutral row); jump released with the flip still available -> jump again with the stick towards the
        ball (the flip); while flipping -> neutral, so no stick input cancels it. Otherwise pitch and roll the
        wheels down and yaw towards ``target``."""
        holding, has_jumped, has_flipped, is_flipping, can_flip = (self.flags[:, i] for i in (0, 2, 4, 5, 7))
        neutral = rp.GROUND[2, 1, boost_on.astype(np.int64), 0]
        release = has_jumped & holding & ~has_flipped
        flip = has_jumped & can_flip & ~has_flipped
        # Flip direction: forward (pitch -1), backward, sideways (roll) or diagonal, towards the ball.
        to_ball = self.ball - self.pos
        ahead, right = (to_ball * self.fwd).sum(axis=1), (to_ball * self.right).sum(axis=1)
        pitch = np.where(ahead >= -0.5 * np.abs(right), -1, 1)
        pitch = np.where(np.abs(ahead) < 0.3 * np.abs(right), 0, pitch)
        roll = np.where(np.abs(right) > 0.5 * np.abs(ahead), np.sign(right), 0).astype(np.int64)
        flip_row = rp.AIR[pitch + 1, 1, roll + 1, 1, 0]
        # Recovery, a PD on the world's up axis seen from the car: +pitch lifts the nose, +roll dips the right.
        nose_up_rate = -(self.ang * self.right).sum(axis=1)
        roll_right_rate = -(self.ang * self.fwd).sum(axis=1)
        p_err = -self.fwd[:, 2] - 0.25 * nose_up_rate
        r_err = self.right[:, 2] - 0.25 * roll_right_rate
        r_err = np.where((self.up[:, 2] < 0) & (np.abs(self.right[:, 2]) < 0.3), 1.0, r_err)  # upside down: roll
        rec_pitch = np.where(np.abs(p_err) < 0.1, 0, np.sign(p_err)).astype(np.int64)
        rec_roll = np.where(np.abs(r_err) < 0.1, 0, np.sign(r_err)).astype(np.int64)
        yaw_angle = _wrap(_heading(target - self.pos[:, :2]) - _heading(self.fwd[:, :2]))
        rec_yaw = np.where((np.abs(yaw_angle) < 0.2) | (self.up[:, 2] < 0.5), 0, np.sign(yaw_angle)).astype(np.int64)
        recover = rp.AIR[rec_pitch + 1, rec_yaw + 1, rec_roll + 1, 0, 0]
        out = np.where(release, neutral, np.where(flip, flip_row, np.where(is_flipping, neutral, recover)))
        return out.astype(np.int64)
