"""Curriculum stages and their transition rules (pure: no Ray import).

:class:`Curriculum` is fed one :class:`IterationResult` per training iteration and decides whether the run stays
in its stage, moves on, or steps back (``TransitionConfig`` / ``StepBackConfig`` in :mod:`rl_bot.config`). The
RLlib side (:mod:`rl_bot.trainer`) switches every env runner when it does. Its state is plain data, saved with
every checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rl_bot.config import CurriculumConfig, StageConfig
from rl_bot.league.elo import wilson_interval

#: Iterations the touches-per-minute threshold averages over.
TOUCH_WINDOW = 5
#: Per-iteration records kept for the current stage (enough for any window).
MAX_RECORDS = 1000


@dataclass(frozen=True)
class IterationResult:
    """What one iteration measured, as the transition rules need it."""

    iteration: int
    env_steps: int  # lifetime env steps after the iteration
    games: int = 0  # finished games against the stage's opponent (not self-play)
    score: float = 0.0  # their score: 1 a win, 0.5 a draw
    touches: float = 0.0  # ball touches in all finished episodes
    game_seconds: float = 0.0  # game time of those episodes
    rating: float | None = None  # league/elo_main, when the league runs


@dataclass(frozen=True)
class Transition:
    """A stage change (one row of the stage history)."""

    iteration: int
    env_steps: int
    from_stage: str
    to_stage: str
    reason: str


class Curriculum:
    """Where the run is in ``cfg.stages`` and the results measured in the current stage."""

    def __init__(self, cfg: CurriculumConfig, state: dict[str, Any] | None = None):
        self.cfg = cfg
        self.index = 0
        self.stage_start_env_steps = 0
        self.stage_start_iteration = 0
        self.records: list[IterationResult] = []
        self.history: list[Transition] = []
        if state:
            self.load_state(state)

    @property
    def stage(self) -> StageConfig:
        """The current stage."""
        return self.cfg.stages[self.index]

    # ------------------------------------------------------------------------------------------- measures

    def win_rate(self, min_games: int) -> tuple[float, float, float, int] | None:
        """Score rate and its 95 % interval over the newest iterations of this stage holding at least
        ``min_games`` games: ``(rate, low, high, games)``; None while fewer were played."""
        games, score = 0, 0.0
        for r in reversed(self.records):
            games += r.games
            score += r.score
            if games >= min_games:
                low, high = wilson_interval(score, games)
                return score / games, low, high, games
        return None

    def touches_per_minute(self) -> float | None:
        """Touches per game minute over the last :data:`TOUCH_WINDOW` iterations of this stage."""
        recent = self.records[-TOUCH_WINDOW:]
        seconds = sum(r.game_seconds for r in recent)
        return 60.0 * sum(r.touches for r in recent) / seconds if seconds > 0 else None

    # ------------------------------------------------------------------------------------------- decisions

    def update(self, result: IterationResult) -> Transition | None:
        """:meth:`record` an iteration, then :meth:`decide`."""
        self.record(result)
        return self.decide(result)

    def record(self, result: IterationResult) -> None:
        """Add an iteration played in the current stage."""
        self.records.append(result)
        del self.records[:-MAX_RECORDS]

    def decide(self, result: IterationResult) -> Transition | None:
        """Move to the next stage (or back) when the rules say so, after ``result``'s iteration. Returns the change."""
        steps = result.env_steps - self.stage_start_env_steps
        reason = self._advance_reason(steps, result)
        if reason is not None and self.index + 1 < len(self.cfg.stages):
            return self._move(self.index + 1, result, reason)
        back = self._step_back_reason(steps)
        if back is not None:
            return self._move(self.index - 1, result, back)
        return None

    def _advance_reason(self, steps: int, result: IterationResult) -> str | None:
        until = self.stage.until
        if until.max_env_steps is not None and steps >= until.max_env_steps:
            return f"max_env_steps={until.max_env_steps} reached"
        if steps < until.min_env_steps:
            return None
        met = []
        if until.win_rate is not None:
            wr = self.win_rate(until.min_games)
            if wr is None or wr[1] <= until.win_rate:
                return None
            met.append(f"win rate {wr[0]:.2f} (95 % low {wr[1]:.2f}) > {until.win_rate} over {wr[3]} games")
        if until.rating is not None:
            if result.rating is None or result.rating < until.rating:
                return None
            met.append(f"rating {result.rating:.0f} >= {until.rating:g}")
        if until.touches_per_minute is not None:
            tpm = self.touches_per_minute()
            if tpm is None or tpm < until.touches_per_minute:
                return None
            met.append(f"touches/min {tpm:.1f} >= {until.touches_per_minute:g}")
        return "; ".join(met) if met else f"min_env_steps={until.min_env_steps} reached"

    def _step_back_reason(self, steps: int) -> str | None:
        back = self.stage.step_back
        if back is None or self.index == 0 or steps < back.min_env_steps:
            return None
        wr = self.win_rate(back.min_games)
        if wr is None or wr[2] >= back.win_rate_below:
            return None
        return f"step back: win rate {wr[0]:.2f} (95 % high {wr[2]:.2f}) < {back.win_rate_below} over {wr[3]} games"

    def _move(self, index: int, result: IterationResult, reason: str) -> Transition:
        t = Transition(result.iteration, result.env_steps, self.stage.name, self.cfg.stages[index].name, reason)
        self.history.append(t)
        self.index = index
        self.stage_start_env_steps = result.env_steps
        self.stage_start_iteration = result.iteration
        self.records = []
        return t

    # ------------------------------------------------------------------------------------------- reporting

    def metrics(self, env_steps: int) -> dict[str, float]:
        """``curriculum/…`` metrics of the current stage (stage is 1-based, as in the docs)."""
        out = {
            "curriculum/stage": float(self.index + 1),
            "curriculum/transitions": float(len(self.history)),
            "curriculum/stage_env_steps": float(env_steps - self.stage_start_env_steps),
        }
        until = self.stage.until
        wr = self.win_rate(until.min_games if until.win_rate is not None else 1)
        if wr is not None:
            out["curriculum/win_rate"], out["curriculum/win_rate_low"], out["curriculum/win_rate_high"] = wr[:3]
            out["curriculum/games"] = float(wr[3])
        tpm = self.touches_per_minute()
        if tpm is not None:
            out["curriculum/touches_per_minute"] = tpm
        return out

    def state(self) -> dict[str, Any]:
        """Plain-data state (JSON-safe)."""
        return {
            "stage": self.stage.name,
            "index": self.index,
            "stage_start_env_steps": self.stage_start_env_steps,
            "stage_start_iteration": self.stage_start_iteration,
            "records": [asdict(r) for r in self.records],
            "history": [asdict(t) for t in self.history],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` output; the stage is found by name, so stages may be added after it."""
        names = [s.name for s in self.cfg.stages]
        if state["stage"] not in names:
            raise ValueError(
                f"the saved curriculum stage {state['stage']!r} is not in curriculum.stages {names}: restore the "
                "stage or start a new run"
            )
        self.index = names.index(state["stage"])
        self.stage_start_env_steps = int(state["stage_start_env_steps"])
        self.stage_start_iteration = int(state["stage_start_iteration"])
        self.records = [IterationResult(**r) for r in state["records"]]
        self.history = [Transition(**t) for t in state["history"]]
