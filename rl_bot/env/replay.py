"""Replays: where the ball and every car were at each step of a real game, read from the arena (pure: no Ray).

A :class:`GameRecorder` is handed to :func:`rl_bot.evaluate.play_games`, which asks each arena playing a game the
recorder wants for its :class:`ArenaPositions` after the kickoff and after every step. Recording only reads the
state, so the recorded games are the same games, with the same results, as without it. A :class:`Replay` is plain
data saved as JSON; :mod:`rl_bot.clip` draws it.

Coordinates are rlgym's (blue view): uu, blue defends ``y = -5120``; yaw is the heading in the x-y plane,
``atan2(forward_y, forward_x)``; boost is 0 to 100.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

REPLAY_FORMAT = "rl-bot replay 1"


@dataclass(frozen=True)
class ArenaPositions:
    """One arena's state as the recorder reads it (cars in agent order)."""

    ball: np.ndarray  # [3]
    car_pos: np.ndarray  # [cars, 3]
    car_yaw: np.ndarray  # [cars]
    boost: np.ndarray  # [cars], 0..100
    demoed: np.ndarray  # [cars] bool


def positions_of_state(state: Any, agents: list[str]) -> ArenaPositions:
    """:class:`ArenaPositions` of an rlgym ``GameState`` (cars in ``agents`` order)."""
    cars = [state.cars[a] for a in agents]
    fwd = np.array([c.physics.forward for c in cars], dtype=np.float64).reshape(len(cars), 3)
    return ArenaPositions(
        ball=np.asarray(state.ball.position, dtype=np.float64),
        car_pos=np.array([c.physics.position for c in cars], dtype=np.float64).reshape(len(cars), 3),
        car_yaw=np.arctan2(fwd[:, 1], fwd[:, 0]),
        boost=np.array([c.boost_amount for c in cars], dtype=np.float64),
        demoed=np.array([c.is_demoed for c in cars], dtype=bool),
    )


def _xyz(v: Any) -> tuple[float, float, float]:
    # A tenth of a uu is far below what a picture or a reader of the file can tell apart, and keeps files short.
    return (round(float(v[0]), 1), round(float(v[1]), 1), round(float(v[2]), 1))


@dataclass(frozen=True)
class CarFrame:
    """One car at one step."""

    agent: str
    team: int  # 0 blue, 1 orange
    pos: tuple[float, float, float]
    yaw: float
    boost: float
    demoed: bool = False


@dataclass(frozen=True)
class Frame:
    """The game at one step: game seconds since kickoff, ball position, cars, score (blue, orange)."""

    t: float
    ball: tuple[float, float, float]
    cars: tuple[CarFrame, ...]
    score: tuple[int, int]


@dataclass
class GameReplay:
    """Every step of one game: who played blue and orange, how it started and ended, the frames."""

    game: int
    blue: str
    orange: str
    start: str = ""
    end: str = ""
    frames: list[Frame] = field(default_factory=list)

    @property
    def score(self) -> tuple[int, int]:
        """The final score (blue, orange)."""
        return self.frames[-1].score if self.frames else (0, 0)


@dataclass
class Replay:
    """Recorded games of one evaluation, with the game settings needed to show them."""

    team_size: int
    step_seconds: float
    game_timeout_s: float
    games: list[GameReplay] = field(default_factory=list)

    def to_json(self) -> str:
        """The replay as JSON (one line per frame, so the file reads and diffs well)."""
        head = {k: v for k, v in asdict(self).items() if k != "games"}
        games = []
        for g in self.games:
            meta = json.dumps({k: v for k, v in asdict(g).items() if k != "frames"})[:-1]
            frames = ",\n".join(json.dumps(asdict(f), separators=(",", ":")) for f in g.frames)
            games.append(f'{meta}, "frames": [\n{frames}\n]}}')
        return json.dumps({"format": REPLAY_FORMAT, **head})[:-1] + ', "games": [\n' + ",\n".join(games) + "\n]}\n"

    @classmethod
    def from_json(cls, text: str) -> Replay:
        """Read :meth:`to_json`'s output; ``ValueError`` if it is not an rl-bot replay."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != REPLAY_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not an rl-bot replay: expected format {REPLAY_FORMAT!r}, got {got!r}")
        games = []
        for g in data["games"]:
            frames = [
                Frame(
                    t=f["t"],
                    ball=tuple(f["ball"]),
                    cars=tuple(CarFrame(**{**c, "pos": tuple(c["pos"])}) for c in f["cars"]),
                    score=tuple(f["score"]),
                )
                for f in g["frames"]
            ]
            games.append(GameReplay(g["game"], g["blue"], g["orange"], g["start"], g["end"], frames))
        return cls(data["team_size"], data["step_seconds"], data["game_timeout_s"], games)


class GameRecorder:
    """Collects the frames of the games numbered ``games`` (0-based, in the order games start) of one
    :func:`~rl_bot.evaluate.play_games` call."""

    def __init__(self, games: Iterable[int] = (0,)):
        self.wanted = frozenset(int(g) for g in games)
        if not self.wanted or min(self.wanted) < 0:
            raise ValueError(f"games to record must be a non-empty set of game numbers >= 0, got {sorted(self.wanted)}")
        self.recorded: dict[int, GameReplay] = {}

    def wants(self, game: int) -> bool:
        """Whether game ``game`` is recorded."""
        return game in self.wanted

    def begin(self, game: int, blue: str, orange: str, start: str = "") -> None:
        """Game ``game`` starts (its first frame follows with :meth:`add`)."""
        self.recorded[game] = GameReplay(game, blue, orange, start)

    def add(self, game: int, t: float, p: ArenaPositions, agents: list[str], score: tuple[int, int]) -> None:
        """One step of game ``game``."""
        cars = tuple(
            CarFrame(
                agent=a,
                team=0 if a.startswith("blue") else 1,
                pos=_xyz(p.car_pos[k]),
                yaw=round(float(p.car_yaw[k]), 3),
                boost=round(float(p.boost[k]), 1),
                demoed=bool(p.demoed[k]),
            )
            for k, a in enumerate(agents)
        )
        self.recorded[game].frames.append(Frame(round(t, 4), _xyz(p.ball), cars, (int(score[0]), int(score[1]))))

    def end(self, game: int, how: str) -> None:
        """Game ``game`` ended (``goal``, ``time`` or ``no_touch``)."""
        self.recorded[game].end = how

    def replay(self, team_size: int, step_seconds: float, game_timeout_s: float) -> Replay:
        """The recorded games, in game order."""
        games = [self.recorded[g] for g in sorted(self.recorded)]
        return Replay(team_size, step_seconds, game_timeout_s, games)
