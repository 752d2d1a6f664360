"""Batched RocketSim game: many arenas per object, observations/rewards/done flags computed with numpy for all
cars at once (pure: no Ray import).

Same semantics as :class:`~rl_bot.env.game.RLGymGame` with the built-in components (padded ``DefaultObs``
layout, the reward terms that have a numpy kernel in :mod:`rl_bot.env.rewards`, goal termination, no-touch and
game-time truncation, RLBot action delay), checked by a test that runs both on the same states.

Resets go through rlgym's own path (one ``RLGymGame`` per arena: team-size and start-state mutators, then
``RocketSimEngine.set_state``), so episode starts are identical to the component path; they are rare. The hot
path skips rlgym's per-step ``GameState`` objects: controls are set from pre-built ``CarControls``, the arenas
are stepped, and the state is read as arrays with ``Arena.get_gym_state()``.
"""

from __future__ import annotations

import math
from itertools import chain

import numpy as np
import RocketSim as rsim
from rlgym.rocket_league.common_values import (
    DOUBLEJUMP_MAX_DELAY,
    FLIP_TORQUE_TIME,
    GOAL_THRESHOLD,
    TICKS_PER_SECOND,
)

from rl_bot.config import EnvConfig
from rl_bot.env.components import MAX_TEAM_SIZE
from rl_bot.env.game import EpisodeStats, RLGymGame
from rl_bot.env.guard import NonFiniteLog
from rl_bot.env.replay import ArenaPositions
from rl_bot.env.rewards import KERNELS, Frame, active_terms, combine

OBS_SIZE = 52 + 20 * MAX_TEAM_SIZE * 2

# Arena.get_gym_state() column layout (rows: 0 = blue view, 1 = orange view, mirrored like rlgym's inverted()).
_B_POS, _B_VEL, _B_ANG = slice(0, 3), slice(7, 10), slice(10, 13)
_C_BOOST, _C_ON_GROUND = 10, 8
_C_POS, _C_VEL, _C_ANG, _C_FWD, _C_UP = slice(11, 14), slice(18, 21), slice(21, 24), slice(24, 27), slice(30, 33)


def car_controls(row: np.ndarray) -> rsim.CarControls:
    """RocketSim controls for one lookup-table row ``[throttle, steer, pitch, yaw, roll, jump, boost, handbrake]``."""
    # By attribute: the positional constructor's order (…, boost, jump, …) differs from the table's.
    c = rsim.CarControls()
    c.throttle, c.steer, c.pitch, c.yaw, c.roll = (float(x) for x in row[:5])
    c.jump, c.boost, c.handbrake = bool(row[5]), bool(row[6]), bool(row[7])
    return c


_MIRROR = np.array([-1.0, -1.0, 1.0], np.float32)


def _demoed_car_rows(rows: np.ndarray, s: rsim.CarState) -> None:
    # get_gym_state() reports a demolished car's rotation from a snapshot; rlgym reads the live CarState.
    # Take everything from the CarState so both paths see the same car.
    rot = s.rot_mat.as_numpy().reshape(3, 3)
    pos, vel, ang = s.pos.as_numpy(), s.vel.as_numpy(), s.ang_vel.as_numpy()
    for view, m in ((0, 1.0), (1, _MIRROR)):
        rows[view, _C_POS], rows[view, _C_VEL], rows[view, _C_ANG] = pos * m, vel * m, ang * m
        rows[view, _C_FWD], rows[view, _C_UP] = rot[0] * m, rot[2] * m


class BatchedGame:
    """``num_arenas`` RocketSim games stepped together; arrays are shaped ``[arena, car, ...]``.

    Cars are ordered like rlgym's agent ids: blue-0.., orange-0.. (``agents``).
    """

    def __init__(self, cfg: EnvConfig, num_arenas: int, multi_step: bool = False, games: list[RLGymGame] | None = None):
        problems = cfg.batched_problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.cfg = cfg
        self.n = num_arenas
        self.multi_step = multi_step
        # ``games``: existing rlgym games to read (the agreement test compares both readings of one arena).
        self.games = list(games) if games is not None else [RLGymGame(cfg) for _ in range(num_arenas)]
        if len(self.games) != num_arenas:
            raise ValueError(f"got {len(self.games)} games for num_arenas={num_arenas}")
        self.agents = list(self.games[0].agents)
        self.num_cars = c = len(self.agents)
        self.teams = np.array([0 if a.startswith("blue") else 1 for a in self.agents])
        self._blue, self._orange = np.flatnonzero(self.teams == 0), np.flatnonzero(self.teams == 1)
        # RocketSimEngine keeps its arena, cars (agent id -> RocketSim car, in agent order) and per-car touch
        # counts (filled by its ball-touch callback) in private attributes; rlgym-rocket-league is pinned to
        # 2.0.1 and the lock-step agreement test fails if that layout changes.
        self._engines = [g.gym.transition_engine for g in self.games]
        self._arenas = [e._arena for e in self._engines]
        self._pads = [a.get_boost_pads() for a in self._arenas]
        from rlgym.rocket_league.action_parsers import LookupTableAction

        table = LookupTableAction.make_lookup_table()
        self._controls = [car_controls(row) for row in table]
        self.reward_terms = active_terms(cfg)
        self.non_finite = NonFiniteLog()  # NaN/inf in observations or reward terms, replaced by 0 (env/guard.py)
        self.last_terms: dict[str, np.ndarray] = {}  # each term's weighted values [n, cars] at the last step
        # each term's per-car mean summed over the running episode [n]; copied into the stats when it ends
        self.term_sums = {t.name: np.zeros(num_arenas) for t in self.reward_terms}
        # Observation index plan: allies/opponents per car, padded to 2/3 slots with a zero "car" at index c.
        ally = np.full((c, MAX_TEAM_SIZE - 1), c)
        enemy = np.full((c, MAX_TEAM_SIZE), c)
        for k in range(c):
            mates = [j for j in range(c) if j != k and self.teams[j] == self.teams[k]]
            opps = [j for j in range(c) if self.teams[j] != self.teams[k]]
            ally[k, : len(mates)] = mates
            enemy[k, : len(opps)] = opps
        self._ally, self._enemy = ally, enemy
        # Per-arena state arrays.
        self.ball = np.zeros((self.n, 2, 25), np.float32)
        self.car = np.zeros((self.n, c, 2, 36), np.float32)
        self.flags = np.zeros((self.n, c, 12), np.float32)
        self.pad_timers = np.zeros((self.n, 34), np.float32)
        self._car_feat = np.zeros((self.n, c + 1, 2, 20), np.float32)  # observations' car features (+ a zero car)
        self.touches = np.zeros((self.n, c), np.int64)
        self.ticks = np.zeros(self.n, np.int64)
        self.last_touch_tick = np.zeros(self.n, np.int64)
        self.prev_ball = np.zeros((self.n, 2, 3), np.float32)  # last step's ball position and velocity
        self.prev_boost = np.zeros((self.n, c), np.float32)
        self.prev_ticks = np.zeros(self.n, np.int64)
        self._stats = [EpisodeStats() for _ in range(self.n)]
        # the running episodes' counters, as arrays (copied into ``_stats`` when read: :meth:`episode_stats`)
        self._length = np.zeros(self.n, np.int64)
        self._returns = np.zeros((self.n, 2), np.float64)  # blue, orange
        self._goals = np.zeros((self.n, 2), np.int64)  # blue, orange
        self._car_touches = np.zeros((self.n, c), np.int64)

    # ----------------------------------------------------------------------------------------- lifecycle

    def seed(self, i: int, seed: int | np.random.SeedSequence) -> None:
        """Seed arena ``i``'s kickoff draws (same stream as ``RLGymGame.seed``)."""
        self.games[i].seed(seed)

    def reset(self, i: int) -> None:
        """Kickoff in arena ``i`` through rlgym's mutators and engine."""
        self.games[i].gym.reset()
        self.start_episode(i)

    def start_episode(self, i: int) -> None:
        """Zero arena ``i``'s episode counters and read its state (after a reset done elsewhere)."""
        self.ticks[i] = 0
        self.last_touch_tick[i] = 0
        self.touches[i] = 0
        for sums in self.term_sums.values():
            sums[i] = 0.0
        self._stats[i] = EpisodeStats(
            touches_by_agent={a: 0 for a in self.agents}, start=self.games[i].start_states.last
        )
        self._length[i] = 0
        self._returns[i] = 0.0
        self._goals[i] = 0
        self._car_touches[i] = 0
        self._read(i)
        self._remember(np.arange(self.n) == i)

    def close(self) -> None:
        """Release the arenas."""
        for g in self.games:
            g.close()

    # ----------------------------------------------------------------------------------------- stepping

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step the arenas in ``active`` (default: all) with lookup-table ``actions[arena, car]``.

        Returns rewards ``[n, cars]``, terminated ``[n]`` and truncated ``[n]`` (False for inactive arenas);
        observations are read with :meth:`observations`.
        """
        idx = list(range(self.n)) if active is None else np.flatnonzero(active).tolist()
        arenas = [self._arenas[i] for i in idx]
        ts = self.cfg.tick_skip
        controls = self._controls
        rows = np.asarray(actions)[idx].tolist()  # Python ints: list indexing without numpy scalars

        def set_controls() -> None:
            for i, row in zip(idx, rows, strict=True):
                for car, a in zip(self._engines[i]._cars.values(), row, strict=True):
                    car.set_controls(controls[a])

        if self.cfg.rlbot_delay:
            # rlgym: each tick steps first, then sets the controls -> the step's first tick uses the old ones.
            self._physics(arenas, 1)
            set_controls()
            if ts > 1:
                self._physics(arenas, ts - 1)
        else:
            set_controls()
            self._physics(arenas, ts)
        mask = np.zeros(self.n, bool)
        mask[idx] = True
        self.ticks[mask] += ts
        self._read_arenas(idx)
        return self._outcomes(mask)

    def _physics(self, arenas: list, ticks: int) -> None:
        if self.multi_step:
            rsim.Arena.multi_step(arenas, ticks)
        else:
            for a in arenas:
                a.step(ticks)

    def _read(self, i: int) -> None:
        self._read_arenas([i])

    def _read_arenas(self, idx: list[int]) -> None:
        """Read arenas ``idx``'s ball, cars, car flags, touches and pad timers into the state arrays (one numpy
        assignment per array for all of them; the per-car Python is only what RocketSim has no array for)."""
        if not idx:
            return
        gs = [self._arenas[i].get_gym_state() for i in idx]
        self.ball[idx] = [g[2] for g in gs]
        self.car[idx] = [g[3:] for g in gs]
        flags, touches, demoed = [], [], []
        for i in idx:
            engine = self._engines[i]
            engine_touches = engine._touches
            for k, car in enumerate(engine._cars.values()):
                s = car.get_state()
                flags.append(
                    (
                        s.last_controls.jump,
                        s.handbrake_val,
                        s.has_jumped,
                        s.is_jumping,
                        s.has_flipped,
                        s.flip_time,
                        s.has_double_jumped,
                        s.air_time_since_jump,
                        s.demo_respawn_timer,
                        s.time_spent_boosting,
                        s.supersonic_time,
                        0.0,
                    )
                )
                if s.is_demoed:
                    demoed.append((i, k, s))
                touches.append(engine_touches[car.id])
                engine_touches[car.id] = 0
        m, c = len(idx), self.num_cars
        self.flags[idx] = np.fromiter(chain.from_iterable(flags), np.float32, count=m * c * 12).reshape(m, c, 12)
        self.touches[idx] = np.array(touches, np.int64).reshape(m, c)
        for i, k, s in demoed:
            _demoed_car_rows(self.car[i, k], s)
        active = np.array([g[1][0] for g in gs])  # [m, 34] pad active flags (blue view)
        self.pad_timers[idx] = 0.0
        for a, p in zip(*np.nonzero(active == 0), strict=True):
            i = idx[a]
            self.pad_timers[i, p] = self._pads[i][p].get_state().cooldown

    def _outcomes(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ball_y = self.ball[:, 0, 1]
        goal = (np.abs(ball_y) > GOAL_THRESHOLD) & mask
        scoring_team = np.where(ball_y > 0, 0, 1)
        touched = (self.touches > 0) & mask[:, None]
        frame = self.frame(goal, scoring_team)
        terms = {}
        for t in self.reward_terms:
            values = KERNELS[t.term.name](frame, **t.term.kwargs) * t.weight
            terms[t.name] = terms[t.name] + values if t.name in terms else values
        for name, values in terms.items():
            values[~mask] = 0.0
            terms[name] = self.non_finite.clean(values, f"reward term {name!r}")
        self.last_terms = terms
        rewards = combine(terms, self.teams, self.cfg)
        rewards[~mask] = 0.0
        any_touch = touched.any(axis=1)
        self.last_touch_tick[any_touch] = self.ticks[any_touch]
        no_touch = (~any_touch) & (
            (self.ticks - self.last_touch_tick) / TICKS_PER_SECOND >= self.cfg.no_touch_timeout_s
        )
        game_over = self.ticks / TICKS_PER_SECOND >= self.cfg.game_timeout_s
        terminated = goal
        truncated = (~goal) & (no_touch | game_over) & mask
        self._update_stats(mask, touched, rewards, goal, scoring_team, terms)
        self._remember(mask)
        for i in np.flatnonzero(terminated | truncated):
            self._stats[i].end = "goal" if goal[i] else ("time" if game_over[i] else "no_touch")
            self._stats[i].reward_terms = {name: float(sums[i]) for name, sums in self.term_sums.items()}
        return rewards, terminated, truncated

    def frame(self, goal: np.ndarray, scoring_team: np.ndarray) -> Frame:
        """The reward kernels' view of all arenas at this step (blue view, rlgym coordinates)."""
        ball, car = self.ball[:, 0], self.car[:, :, 0]
        return Frame(
            ball_pos=ball[:, _B_POS].astype(np.float64),
            ball_vel=ball[:, _B_VEL].astype(np.float64),
            prev_ball_pos=self.prev_ball[:, 0].astype(np.float64),
            prev_ball_vel=self.prev_ball[:, 1].astype(np.float64),
            car_pos=car[..., _C_POS].astype(np.float64),
            car_vel=car[..., _C_VEL].astype(np.float64),
            car_fwd=car[..., _C_FWD].astype(np.float64),
            boost=car[..., _C_BOOST].astype(np.float64),
            prev_boost=self.prev_boost.astype(np.float64),
            touches=self.touches,
            goal=goal,
            scoring_team=scoring_team,
            teams=self.teams,
            dt=(self.ticks - self.prev_ticks) / TICKS_PER_SECOND,
        )

    def _remember(self, mask: np.ndarray) -> None:
        # What the next step's kernels compare against (ball velocity change, boost change, elapsed time).
        self.prev_ball[mask, 0] = self.ball[mask, 0, _B_POS]
        self.prev_ball[mask, 1] = self.ball[mask, 0, _B_VEL]
        self.prev_boost[mask] = self.car[mask, :, 0, _C_BOOST]
        self.prev_ticks[mask] = self.ticks[mask]

    def _update_stats(self, mask, touched, rewards, goal, scoring_team, terms) -> None:
        # ``rewards``, ``terms``, ``touched`` and ``goal`` are 0/False for inactive arenas: no masking needed
        for name, v in terms.items():
            self.term_sums[name] += np.add.reduce(v, axis=1) / v.shape[1]  # = v.mean(axis=1), without its overhead
        self._length += mask
        self._returns[:, 0] += rewards[:, self._blue].sum(1)
        self._returns[:, 1] += rewards[:, self._orange].sum(1)
        self._car_touches += touched
        self._goals[:, 0] += goal & (scoring_team == 0)
        self._goals[:, 1] += goal & (scoring_team == 1)

    def episode_stats(self, i: int) -> EpisodeStats:
        """Arena ``i``'s running (or just ended) episode: its counters as of the last step."""
        s = self._stats[i]
        s.length = int(self._length[i])
        s.return_blue, s.return_orange = (float(x) for x in self._returns[i])
        s.goals_blue, s.goals_orange = (int(x) for x in self._goals[i])
        per_car = self._car_touches[i].tolist()
        s.touches = sum(per_car)
        s.touches_by_agent = dict(zip(self.agents, per_car, strict=True))
        return s

    @property
    def stats(self) -> list[EpisodeStats]:
        """Every arena's :meth:`episode_stats`."""
        return [self.episode_stats(i) for i in range(self.n)]

    def positions(self, i: int) -> ArenaPositions:
        """Arena ``i``'s ball and cars as of the last step, for replays (blue view)."""
        car = self.car[i, :, 0].astype(np.float64)
        fwd = car[:, _C_FWD]
        return ArenaPositions(
            ball=self.ball[i, 0, _B_POS].astype(np.float64),
            car_pos=car[:, _C_POS],
            car_yaw=np.arctan2(fwd[:, 1], fwd[:, 0]),
            boost=car[:, _C_BOOST],
            demoed=self.flags[i, :, 8] > 0,  # the demo respawn timer runs
        )

    # ----------------------------------------------------------------------------------------- observations

    def observations(self) -> np.ndarray:
        """``[arena, car, 172]`` float32, the padded ``DefaultObs`` layout from each car's side."""
        n, c = self.n, self.num_cars
        pos_c, lin_c, ang_c = 1 / 2300, 1 / 2300, 1 / math.pi
        view = self.teams  # each car sees everything from its own team's side
        obs = np.empty((n, c, OBS_SIZE), np.float32)
        ball = self.ball[:, view]  # [n, c, 25]
        obs[..., 0:3] = ball[..., _B_POS] * pos_c
        obs[..., 3:6] = ball[..., _B_VEL] * lin_c
        obs[..., 6:9] = ball[..., _B_ANG] * ang_c
        pads = np.stack([self.pad_timers, self.pad_timers[:, ::-1]], axis=1) * 0.1  # [n, view, 34]
        obs[..., 9:43] = pads[:, view]
        f = self.flags
        on_ground = self.car[:, :, 0, _C_ON_GROUND]
        holding_jump, has_flipped, flip_time = f[..., 0], f[..., 4], f[..., 5]
        has_double, air_since_jump = f[..., 6], f[..., 7]
        obs[..., 43:47] = f[..., 0:4]  # holding jump, handbrake, has jumped, is jumping
        obs[..., 47] = has_flipped
        obs[..., 48] = (has_flipped > 0) & (flip_time < FLIP_TORQUE_TIME)  # is flipping
        obs[..., 49] = has_double
        has_flip = (has_double == 0) & (has_flipped == 0) & (air_since_jump < DOUBLEJUMP_MAX_DELAY)
        obs[..., 50] = (on_ground == 0) & (holding_jump == 0) & has_flip  # can flip
        obs[..., 51] = air_since_jump
        # every car's 20 features from both views, with a zero "car" at index c (the padding slot)
        car, feat = self.car, self._car_feat
        feat[:, :c, :, 0:3] = car[..., _C_POS] * pos_c
        feat[:, :c, :, 3:6] = car[..., _C_FWD]
        feat[:, :c, :, 6:9] = car[..., _C_UP]
        feat[:, :c, :, 9:12] = car[..., _C_VEL] * lin_c
        feat[:, :c, :, 12:15] = car[..., _C_ANG] * ang_c
        extra = feat[:, :c, :, 15:20]  # view independent
        extra[..., 0] = car[:, :, 0, None, _C_BOOST] * 0.01
        extra[..., 1] = f[..., 8, None]
        extra[..., 2] = on_ground[..., None]
        extra[..., 3] = f[..., 9, None] > 0
        extra[..., 4] = f[..., 10, None] > 0
        obs[..., 52:72] = feat[:, np.arange(c), view]
        obs[..., 72:112] = feat[:, self._ally, view[:, None]].reshape(n, c, -1)
        obs[..., 112:172] = feat[:, self._enemy, view[:, None]].reshape(n, c, -1)
        return self.non_finite.clean(obs, "observation")
