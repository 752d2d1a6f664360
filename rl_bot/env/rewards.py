"""The reward system (pure: no Ray import).

Every term is an rlgym v2 ``RewardFunction`` (rlgym's, rlgym-tools', or the ones below). :class:`RewardSystem`
is the one reward function an env uses: it builds the terms the reward mode asks for, weights each term by its
own weight and its category's weight, mixes team-mates' rewards in (team spirit), subtracts a share of the
opponents' (opponent penalty), clips, and remembers each term's weighted value for the ``env/reward/<term>``
metrics.

The batched backend computes the same terms with the numpy kernels of :data:`KERNELS` on a :class:`Frame` (all
arenas' state as arrays) and combines them with the same :func:`combine`; a test checks each kernel against its
component on the same states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rlgym.api import AgentID, RewardFunction
from rlgym.rocket_league.api import GameState
from rlgym.rocket_league.common_values import (
    BACK_WALL_Y,
    BALL_MAX_SPEED,
    BLUE_GOAL_BACK,
    CAR_MAX_SPEED,
    GOAL_CENTER_TO_POST,
    GOAL_HEIGHT,
    GRAVITY,
    ORANGE_GOAL_BACK,
    TICKS_PER_SECOND,
)

from rl_bot.config import EnvConfig, RewardTerm, import_object
from rl_bot.env.guard import NonFiniteLog
from rl_bot.reward_catalog import BUILTIN_TERMS, MODE_CATEGORIES


@dataclass
class Frame:
    """One step's state of ``n`` arenas with ``c`` cars each, as arrays (blue view, rlgym's coordinates).

    ``prev_*`` hold the previous step's values (at an episode's first step: its initial state).
    """

    ball_pos: np.ndarray  # [n, 3]
    ball_vel: np.ndarray  # [n, 3]
    prev_ball_pos: np.ndarray  # [n, 3]
    prev_ball_vel: np.ndarray  # [n, 3]
    car_pos: np.ndarray  # [n, c, 3]
    car_vel: np.ndarray  # [n, c, 3]
    car_fwd: np.ndarray  # [n, c, 3]
    boost: np.ndarray  # [n, c], 0..100
    prev_boost: np.ndarray  # [n, c]
    touches: np.ndarray  # [n, c], ball touches since the last step
    goal: np.ndarray  # [n] bool
    scoring_team: np.ndarray  # [n], 0 blue / 1 orange (meaningless without a goal)
    teams: np.ndarray  # [c]
    dt: np.ndarray  # [n], game seconds since the previous step


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _heading_into(pos: np.ndarray, vel: np.ndarray, sign: np.ndarray, horizon_s: float) -> np.ndarray:
    """Whether a ball at ``pos`` with ``vel`` crosses the goal line ``y = sign * BACK_WALL_Y`` between the posts
    and under the crossbar within ``horizon_s`` (straight line in x/y, gravity in z; a path below the floor counts
    as rolling in). ``pos``/``vel`` [n, 3], ``sign`` broadcastable to [n, c]; returns [n, c]."""
    y, vy = pos[:, None, 1], vel[:, None, 1]
    toward = vy * sign > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(toward, (sign * BACK_WALL_Y - y) / np.where(vy == 0, 1.0, vy), -1.0)
    x_at = pos[:, None, 0] + vel[:, None, 0] * t
    z_at = pos[:, None, 2] + vel[:, None, 2] * t - 0.5 * GRAVITY * t * t
    return toward & (t >= 0) & (t <= horizon_s) & (np.abs(x_at) < GOAL_CENTER_TO_POST) & (z_at < GOAL_HEIGHT)


def k_goal(f: Frame) -> np.ndarray:
    sign = np.where(f.teams[None, :] == f.scoring_team[:, None], 1.0, -1.0)
    return np.where(f.goal[:, None], sign, 0.0)


def k_concede(f: Frame) -> np.ndarray:
    return np.where(f.goal[:, None] & (f.teams[None, :] != f.scoring_team[:, None]), -1.0, 0.0)


def k_touch(f: Frame) -> np.ndarray:
    return (f.touches > 0).astype(np.float64)


def k_advanced_touch(
    f: Frame, touch_reward: float = 1.0, acceleration_reward: float = 0.0, use_touch_count: bool = True
) -> np.ndarray:
    count = f.touches if use_touch_count else (f.touches > 0)
    accel = np.linalg.norm(f.ball_vel - f.prev_ball_vel, axis=-1) / BALL_MAX_SPEED
    return np.where(f.touches > 0, touch_reward * count + acceleration_reward * accel[:, None], 0.0)


def _attack_sign(f: Frame) -> np.ndarray:
    # Blue attacks the orange goal at +y, orange the blue goal at -y.
    return np.where(f.teams == 0, 1.0, -1.0)[None, :]


def k_shot(f: Frame, horizon_s: float = 2.0) -> np.ndarray:
    sign = _attack_sign(f)
    before = _heading_into(f.prev_ball_pos, f.prev_ball_vel, sign, horizon_s)
    after = _heading_into(f.ball_pos, f.ball_vel, sign, horizon_s)
    return ((f.touches > 0) & after & ~before).astype(np.float64)


def k_save(f: Frame, horizon_s: float = 2.0) -> np.ndarray:
    sign = -_attack_sign(f)
    before = _heading_into(f.prev_ball_pos, f.prev_ball_vel, sign, horizon_s)
    after = _heading_into(f.ball_pos, f.ball_vel, sign, horizon_s)
    return ((f.touches > 0) & before & ~after).astype(np.float64)


def k_velocity_player_to_ball(f: Frame, include_negative_values: bool = True) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = _unit(f.ball_pos[:, None, :] - f.car_pos)
    v = np.einsum("ncd,ncd->nc", direction, f.car_vel) / CAR_MAX_SPEED * f.dt[:, None]
    return v if include_negative_values else np.maximum(0.0, v)


def k_velocity_ball_to_goal(f: Frame) -> np.ndarray:
    goal = np.where((f.teams == 0)[:, None], np.asarray(ORANGE_GOAL_BACK), np.asarray(BLUE_GOAL_BACK))  # [c, 3]
    direction = _unit(goal[None, :, :] - f.ball_pos[:, None, :])
    return np.einsum("ncd,nd->nc", direction, f.ball_vel) / BALL_MAX_SPEED * f.dt[:, None]


def k_face_ball(f: Frame) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = _unit(f.ball_pos[:, None, :] - f.car_pos)
    return np.einsum("ncd,ncd->nc", direction, f.car_fwd) * f.dt[:, None]


def k_boost_change(f: Frame, gain_weight: float = 1.0, lose_weight: float = 1.0) -> np.ndarray:
    delta = np.sqrt(0.01 * f.boost) - np.sqrt(0.01 * f.prev_boost)
    return np.where(delta > 0, delta * gain_weight, delta * lose_weight)


def k_boost_keep(f: Frame, reward_per_second: float = 1.0) -> np.ndarray:
    return np.sqrt(0.01 * f.boost) * reward_per_second * f.dt[:, None]


#: The batched backend's kernel for each built-in term that has one (see ``reward_catalog.TermInfo``).
KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "goal": k_goal,
    "concede": k_concede,
    "touch": k_touch,
    "advanced_touch": k_advanced_touch,
    "shot": k_shot,
    "save": k_save,
    "velocity_player_to_ball": k_velocity_player_to_ball,
    "velocity_ball_to_goal": k_velocity_ball_to_goal,
    "face_ball": k_face_ball,
    "boost_change": k_boost_change,
    "boost_keep": k_boost_keep,
}


# --------------------------------------------------------------------------------------------- combining


def combine(terms: dict[str, np.ndarray], teams: np.ndarray, cfg: EnvConfig) -> np.ndarray:
    """Sum the weighted terms ``[n, c]``, then team spirit, opponent penalty and clipping (``EnvConfig``)::

    r_i = (1 - team_spirit) * own_i + team_spirit * mean(own team) - opponent_penalty * mean(opponents)
    """
    total = sum(terms.values()) if terms else np.zeros((1, len(teams)))
    total = np.asarray(total, np.float64)
    spirit, penalty = cfg.team_spirit, cfg.opponent_penalty
    if spirit or penalty:
        blue = teams == 0
        mean_blue = total[:, blue].mean(axis=1, keepdims=True)
        mean_orange = total[:, ~blue].mean(axis=1, keepdims=True)
        team_mean = np.where(blue[None, :], mean_blue, mean_orange)
        opp_mean = np.where(blue[None, :], mean_orange, mean_blue)
        total = (1.0 - spirit) * total + spirit * team_mean - penalty * opp_mean
    if cfg.reward_clip is not None:
        total = np.clip(total, -cfg.reward_clip, cfg.reward_clip)
    return total


@dataclass(frozen=True)
class ActiveTerm:
    """A term the reward mode computes, with its effective weight (term weight x category weight)."""

    name: str  # the metric name: the built-in name, or the class name of an imported component
    term: RewardTerm
    weight: float


def active_terms(cfg: EnvConfig) -> list[ActiveTerm]:
    """The terms ``cfg.reward_mode`` computes, in config order."""
    categories = MODE_CATEGORIES[cfg.reward_mode]
    out = []
    for term in cfg.rewards:
        category = term.effective_category
        if category is not None and category not in categories:
            continue
        weight = term.weight * cfg.reward_category_weights.get(category, 1.0) if category else term.weight
        out.append(ActiveTerm(term.metric_name, term, weight))
    return out


def build_component(term: RewardTerm) -> RewardFunction:
    """The rlgym v2 component of a built-in term or import path, constructed with its kwargs."""
    info = BUILTIN_TERMS.get(term.name)
    cls = import_object(info.component if info else term.name)
    return cls(**term.kwargs)


# --------------------------------------------------------------------------------------------- rlgym path


def frame_from_state(
    state: GameState, agents: list[AgentID], prev: GameState | None, prev_frame: Frame | None = None
) -> Frame:
    """A one-arena :class:`Frame` of an rlgym ``GameState`` (cars in ``agents`` order)."""
    cars = [state.cars[a] for a in agents]
    ball = state.ball
    boost = np.array([[c.boost_amount for c in cars]], np.float64)
    ticks = state.tick_count - (prev.tick_count if prev is not None else state.tick_count)
    return Frame(
        ball_pos=np.asarray(ball.position, np.float64)[None],
        ball_vel=np.asarray(ball.linear_velocity, np.float64)[None],
        prev_ball_pos=prev_frame.ball_pos if prev_frame is not None else np.asarray(ball.position, np.float64)[None],
        prev_ball_vel=(
            prev_frame.ball_vel if prev_frame is not None else np.asarray(ball.linear_velocity, np.float64)[None]
        ),
        car_pos=np.array([[c.physics.position for c in cars]], np.float64),
        car_vel=np.array([[c.physics.linear_velocity for c in cars]], np.float64),
        car_fwd=np.array([[c.physics.forward for c in cars]], np.float64),
        boost=boost,
        prev_boost=prev_frame.boost if prev_frame is not None else boost,
        touches=np.array([[c.ball_touches for c in cars]], np.int64),
        goal=np.array([bool(state.goal_scored)]),
        scoring_team=np.array([int(state.scoring_team or 0) if state.goal_scored else 0]),
        teams=np.array([c.team_num for c in cars]),
        dt=np.array([ticks / TICKS_PER_SECOND], np.float64),
    )


class KernelReward(RewardFunction[AgentID, GameState, float]):
    """An rlgym v2 component computed by one of rl-bot's kernels on a one-arena :class:`Frame` (the terms rl-bot
    adds: concede, shot, save, velocity ball to goal, face ball)."""

    kernel: Callable[..., np.ndarray]

    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self._prev_state: GameState | None = None
        self._prev_frame: Frame | None = None

    def reset(self, agents: list[AgentID], initial_state: GameState, shared_info: dict[str, Any]) -> None:
        self._prev_state = initial_state
        self._prev_frame = frame_from_state(initial_state, list(initial_state.cars), None)

    def get_rewards(
        self,
        agents: list[AgentID],
        state: GameState,
        is_terminated: dict[AgentID, bool],
        is_truncated: dict[AgentID, bool],
        shared_info: dict[str, Any],
    ) -> dict[AgentID, float]:
        order = list(state.cars)
        frame = frame_from_state(state, order, self._prev_state, self._prev_frame)
        values = type(self).kernel(frame, **self.kwargs)[0]
        self._prev_state, self._prev_frame = state, frame
        by_agent = dict(zip(order, values.tolist(), strict=True))
        return {a: float(by_agent[a]) for a in agents}


class ConcedeReward(KernelReward):
    """-1 to every car of the team that conceded, on the step of the goal."""

    kernel = staticmethod(k_concede)


class ShotReward(KernelReward):
    """1 to a car whose touch puts the ball on a path into the opponent goal (within ``horizon_s``)."""

    kernel = staticmethod(k_shot)


class SaveReward(KernelReward):
    """1 to a car whose touch takes the ball off a path into its own goal (within ``horizon_s``)."""

    kernel = staticmethod(k_save)


class VelocityBallToGoalReward(KernelReward):
    """Ball velocity towards the opponent goal / BALL_MAX_SPEED, per game second."""

    kernel = staticmethod(k_velocity_ball_to_goal)


class FaceBallReward(KernelReward):
    """Cosine between the car's nose and the direction to the ball, per game second."""

    kernel = staticmethod(k_face_ball)


class RewardSystem(RewardFunction[AgentID, GameState, float]):
    """The env's one reward function (see the module docstring); ``last_terms`` holds the weighted value of each
    term at the last step, ``[1, cars]`` in the order of ``agents``."""

    def __init__(self, cfg: EnvConfig, non_finite: NonFiniteLog | None = None):
        self.cfg = cfg
        self.terms = active_terms(cfg)
        self.components = [build_component(t.term) for t in self.terms]
        self.last_terms: dict[str, np.ndarray] = {}
        # NaN/inf terms, replaced by 0 (env/guard.py); the game shares its log
        self.non_finite = non_finite if non_finite is not None else NonFiniteLog()

    def reset(self, agents: list[AgentID], initial_state: GameState, shared_info: dict[str, Any]) -> None:
        for fn in self.components:
            fn.reset(agents, initial_state, shared_info)
        self.last_terms = {}

    def get_rewards(
        self,
        agents: list[AgentID],
        state: GameState,
        is_terminated: dict[AgentID, bool],
        is_truncated: dict[AgentID, bool],
        shared_info: dict[str, Any],
    ) -> dict[AgentID, float]:
        terms: dict[str, np.ndarray] = {}
        for t, fn in zip(self.terms, self.components, strict=True):
            values = fn.get_rewards(agents, state, is_terminated, is_truncated, shared_info)
            row = np.array([[float(values[a]) for a in agents]]) * t.weight
            terms[t.name] = terms[t.name] + row if t.name in terms else row
        terms = {name: self.non_finite.clean(row, f"reward term {name!r}", "the game") for name, row in terms.items()}
        self.last_terms = terms
        teams = np.array([state.cars[a].team_num for a in agents])
        total = combine(terms, teams, self.cfg)[0]
        return {a: float(r) for a, r in zip(agents, total, strict=True)}
