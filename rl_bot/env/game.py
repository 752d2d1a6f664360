"""Build an rlgym v2 game from :class:`~rl_bot.config.EnvConfig` (pure: no Ray import).

:class:`RLGymGame` is the seam between the RLlib adapter and the physics: it owns one RocketSim arena through
rlgym's component API and returns plain dicts keyed by agent id. A batched implementation (many arenas per
object) can replace it behind the same ``reset``/``step`` methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rlgym.api import RLGym
from rlgym.rocket_league.action_parsers import LookupTableAction, RepeatAction
from rlgym.rocket_league.done_conditions import (
    AnyCondition,
    GoalCondition,
    NoTouchTimeoutCondition,
    TimeoutCondition,
)
from rlgym.rocket_league.sim import RocketSimEngine
from rlgym.rocket_league.state_mutators import FixedTeamSizeMutator, MutatorSequence

from rl_bot.config import EnvConfig, import_object
from rl_bot.env.components import PaddedDefaultObs, StartStateMutator, obs_size
from rl_bot.env.guard import NonFiniteLog
from rl_bot.env.rewards import RewardSystem

NUM_ACTIONS = len(LookupTableAction.make_lookup_table())


def agent_ids(team_size: int) -> list[str]:
    """rlgym's car ids for a team size: blue-0.., then orange-0.."""
    return [f"blue-{i}" for i in range(team_size)] + [f"orange-{i}" for i in range(team_size)]


def end_cause(goal: bool, game_seconds: float, game_timeout_s: float) -> str:
    """How a finished episode ended: ``goal``; ``time`` when the game clock ran out (it wins over a no-touch
    timeout reached on the same step); else ``no_touch``."""
    if goal:
        return "goal"
    # A tolerance for the float sum of step lengths; the clock check itself counts whole ticks.
    return "time" if game_seconds >= game_timeout_s - 1e-6 else "no_touch"


@dataclass
class EpisodeStats:
    """What happened in one episode; reported to RLlib metrics when it ends."""

    length: int = 0
    touches: int = 0
    goals_blue: int = 0
    goals_orange: int = 0
    return_blue: float = 0.0
    return_orange: float = 0.0
    touches_by_agent: dict[str, int] = field(default_factory=dict)
    #: each reward term's weighted value summed over the episode, per car (mean over the cars)
    reward_terms: dict[str, float] = field(default_factory=dict)
    start: str = ""  # the start state the episode began from
    end: str = ""  # how the episode ended: goal, no_touch or time (rl_bot.league.elo.ENDS); "" while it runs

    def add_terms(self, terms: dict[str, Any]) -> None:
        """Add one step's weighted term values (arrays over cars) to the per-car sums."""
        for name, values in terms.items():
            self.reward_terms[name] = self.reward_terms.get(name, 0.0) + float(values.mean())

    def as_info(self, step_seconds: float) -> dict[str, Any]:
        game_s = self.length * step_seconds
        return {
            "reward_terms": dict(self.reward_terms),
            "start": self.start,
            "end": self.end,
            "end_no_touch": float(self.end == "no_touch"),
            "end_time": float(self.end == "time"),
            "length": self.length,
            "game_seconds": game_s,
            "touches": self.touches,
            "goals_blue": self.goals_blue,
            "goals_orange": self.goals_orange,
            "goals": self.goals_blue + self.goals_orange,
            "return_blue": self.return_blue,
            "return_orange": self.return_orange,
        }


class RLGymGame:
    """One RocketSim game through rlgym v2 components, seeded by a numpy Generator."""

    def __init__(self, cfg: EnvConfig):
        self.cfg = cfg
        self.agents = agent_ids(cfg.team_size)
        self.rng = np.random.default_rng()
        self.start_states = StartStateMutator(cfg.start_states, self.rng)
        if cfg.obs_builder:
            obs_builder = import_object(cfg.obs_builder)(**cfg.obs_builder_kwargs)
        else:
            obs_builder = PaddedDefaultObs(**cfg.obs_builder_kwargs)
        self.obs_size = obs_size(obs_builder)
        self.non_finite = NonFiniteLog()  # NaN/inf in observations or reward terms, replaced by 0 (env/guard.py)
        self.reward = RewardSystem(cfg, self.non_finite)
        self.gym = RLGym(
            state_mutator=MutatorSequence(FixedTeamSizeMutator(cfg.team_size, cfg.team_size), self.start_states),
            obs_builder=obs_builder,
            action_parser=RepeatAction(LookupTableAction(), repeats=cfg.tick_skip),
            reward_fn=self.reward,
            transition_engine=RocketSimEngine(rlbot_delay=cfg.rlbot_delay),
            termination_cond=GoalCondition(),
            truncation_cond=AnyCondition(
                NoTouchTimeoutCondition(cfg.no_touch_timeout_s), TimeoutCondition(cfg.game_timeout_s)
            ),
        )
        self.stats = EpisodeStats()

    def seed(self, seed: int | np.random.SeedSequence) -> None:
        """Reseed every random choice the game makes (start state and its layout)."""
        self.rng = np.random.default_rng(seed)
        self.start_states.rng = self.rng

    def reset(self) -> dict[str, np.ndarray]:
        """Start an episode from a drawn start state; returns one observation per car."""
        obs = self.gym.reset()
        self.stats = EpisodeStats(touches_by_agent={a: 0 for a in self.agents}, start=self.start_states.last)
        return self._cast(obs)

    def step(self, actions: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, float], bool, bool]:
        """Advance ``tick_skip`` ticks; returns obs, rewards, terminated (goal), truncated (timeouts)."""
        obs, rewards, terminated, truncated = self.gym.step(actions)
        state = self.gym.state
        s = self.stats
        s.length += 1
        s.add_terms(self.reward.last_terms)
        for agent in self.agents:
            car = state.cars[agent]
            if car.ball_touches > 0:
                s.touches += 1
                s.touches_by_agent[agent] += 1
            r = float(rewards[agent])
            if car.team_num == 0:
                s.return_blue += r
            else:
                s.return_orange += r
        if state.goal_scored:
            if state.scoring_team == 0:
                s.goals_blue += 1
            else:
                s.goals_orange += 1
        term = any(terminated.values())
        trunc = (not term) and any(truncated.values())
        if term or trunc:
            s.end = end_cause(term, s.length * self.cfg.step_seconds, self.cfg.game_timeout_s)
        return self._cast(obs), {a: float(r) for a, r in rewards.items()}, term, trunc

    @property
    def state(self) -> Any:
        """The current rlgym ``GameState``."""
        return self.gym.state

    def _cast(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # DefaultObs builds float64; RLlib and torch want float32.
        clean = self.non_finite.clean
        return {a: clean(np.asarray(o, dtype=np.float32), "observation", f"car {a}") for a, o in obs.items()}

    def close(self) -> None:
        """Release the arena."""
        self.gym.close()
