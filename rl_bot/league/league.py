"""The league core (pure: no Ray import): the pool, Elo from played games, opponent sampling, snapshots, state.

``main`` is the policy being trained. The pool holds the rule-based bot (an anchor with a fixed rating), optionally
a random policy (a second anchor), and frozen snapshots of ``main``. Every game main plays against a pool member
moves ratings by Elo: against an anchor only main's rating moves; against a snapshot the update is zero-sum.
Each pool member is carried in env runners by one RLModule: ``rule``, ``random``, or an opponent slot
``opp_<k>`` holding a snapshot's weights (see :meth:`League.plan`).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rl_bot.config import LeagueConfig
from rl_bot.league.elo import expected_score, outcome_from_goals

MAIN = "main"
RULE = "rule"
RANDOM = "random"
SLOT_PREFIX = "opp_"


def slot_ids(n: int) -> list[str]:
    """Module ids of the snapshot slots."""
    return [f"{SLOT_PREFIX}{k}" for k in range(n)]


@dataclass
class Member:
    """One pool member and main's record against it."""

    id: str
    kind: str  # "anchor" or "snapshot"
    rating: float
    fixed: bool
    module: str  # the RLModule that plays it in env runners
    order: int  # creation order; anchors 0
    iteration: int = 0  # main's iteration when the snapshot was taken
    env_steps: int = 0
    games: int = 0  # games main played against it
    wins: int = 0  # main's wins
    draws: int = 0
    losses: int = 0
    recent: list[float] = field(default_factory=list)  # main's last scores against it (1 / 0.5 / 0)
    removed_iteration: int | None = None
    removed_reason: str = ""

    def score_rate(self) -> float | None:
        """Main's mean score over the recent window (None before any game)."""
        return sum(self.recent) / len(self.recent) if self.recent else None


@dataclass(frozen=True)
class GameRecord:
    """One rated game, as written to the game CSV."""

    time: str  # UTC, ISO 8601
    iteration: int
    main_version: int
    opponent: str
    opponent_kind: str
    goals_main: int
    goals_opponent: int
    outcome: str  # win / draw / loss, from main's side
    elo_main_before: float
    elo_main_after: float
    elo_opponent_before: float
    elo_opponent_after: float

    FIELDS = (
        "time",
        "iteration",
        "main_version",
        "opponent",
        "opponent_kind",
        "goals_main",
        "goals_opponent",
        "outcome",
        "elo_main_before",
        "elo_main_after",
        "elo_opponent_before",
        "elo_opponent_after",
    )

    def row(self) -> list[Any]:
        """CSV row in :attr:`FIELDS` order."""
        d = asdict(self)
        return [round(d[f], 3) if isinstance(d[f], float) else d[f] for f in self.FIELDS]


def strategy_weights(cfg: LeagueConfig, members: list[Member], main_rating: float, p: np.ndarray) -> np.ndarray:
    """Unnormalised sampling weights of ``members``; ``p[i]`` is main's estimated score against member i.

    - uniform: 1
    - elo_weighted: ``exp(-|R_i - R_main| / elo_window)``
    - recent_weighted: ``recency_decay ** (rank from the newest)``; anchors count as the oldest
    - difficulty_adjusted: ``exp(-((p_i - target_win_rate) / difficulty_width)^2 / 2)``
    - pfsp: hard ``(1 - p_i)^2``, variance ``p_i (1 - p_i)``

    then ``w ** (1 / temperature)``. If every weight is 0 (pfsp when main beats everyone), uniform.
    """
    n = len(members)
    if n == 0:
        return np.zeros(0)
    s = cfg.strategy
    if s == "uniform":
        w = np.ones(n)
    elif s == "elo_weighted":
        gap = np.abs(np.array([m.rating for m in members]) - main_rating)
        w = np.exp(-gap / cfg.elo_window)
    elif s == "recent_weighted":
        order = np.array([m.order for m in members])
        rank = np.argsort(np.argsort(-order, kind="stable"), kind="stable")  # 0 = newest
        w = cfg.recency_decay**rank
    elif s == "difficulty_adjusted":
        w = np.exp(-0.5 * ((p - cfg.target_win_rate) / cfg.difficulty_width) ** 2)
    elif s == "pfsp":
        w = (1.0 - p) ** 2 if cfg.pfsp_weighting == "hard" else p * (1.0 - p)
    else:  # the config's Literal makes this unreachable
        raise ValueError(f"unknown league strategy {s!r}")
    w = np.asarray(w, float) ** (1.0 / cfg.temperature)
    if not np.isfinite(w).all() or w.sum() <= 0:
        return np.ones(n)
    return w


class League:
    """Pool, ratings, sampling and snapshot decisions; :meth:`state` / :meth:`from_state` round-trip as JSON data."""

    def __init__(self, cfg: LeagueConfig):
        self.cfg = cfg
        self.main_rating = cfg.initial_rating
        self.members: list[Member] = [
            Member(RULE, "anchor", cfg.rule_rating, fixed=True, module=RULE, order=0),
        ]
        if cfg.include_random:
            self.members.append(Member(RANDOM, "anchor", cfg.random_rating, fixed=True, module=RANDOM, order=0))
        self.retired: list[Member] = []
        self.snapshots_taken = 0
        self.games = 0
        self.selfplay_games = 0
        self.iteration = 0
        self.main_recent: deque[float] = deque(maxlen=cfg.win_rate_window)  # main's scores vs the whole pool
        self.last_snapshot_iteration = 0
        #: per finished iteration: (iteration, main rating, pool size, rated games so far, {member: rating})
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------------------------------- lookup

    def find(self, member_id: str) -> Member | None:
        """A member of the pool, or a retired one."""
        for m in self.members + self.retired:
            if m.id == member_id:
                return m
        return None

    @property
    def snapshots(self) -> list[Member]:
        """Snapshots in the pool, oldest first."""
        return sorted((m for m in self.members if m.kind == "snapshot"), key=lambda m: m.order)

    def p_estimate(self, m: Member) -> float:
        """Main's expected score against ``m``: recent results, with the Elo expectation counted as
        ``prior_games`` games so a member with few games is judged by ratings."""
        prior = self.cfg.prior_games
        e = expected_score(self.main_rating, m.rating)
        n = len(m.recent)
        if n + prior == 0:
            return e
        return (sum(m.recent) + prior * e) / (n + prior)

    # ------------------------------------------------------------------------------------------- games

    def record_game(self, opponent_id: str, goals_main: int, goals_opponent: int, main_version: int = 0) -> GameRecord:
        """Rate one finished game of main against a pool member (or a member retired while the game ran)."""
        m = self.find(opponent_id)
        if m is None:
            raise KeyError(f"no league member {opponent_id!r}")
        score = outcome_from_goals(goals_main, goals_opponent)
        k = self.cfg.k_factor
        before_main, before_opp = self.main_rating, m.rating
        delta = k * (score - expected_score(before_main, before_opp))
        self.main_rating = before_main + delta
        if not m.fixed:
            m.rating = before_opp - delta
        m.games += 1
        m.wins += score == 1.0
        m.draws += score == 0.5
        m.losses += score == 0.0
        m.recent.append(score)
        del m.recent[: -self.cfg.win_rate_window]
        self.main_recent.append(score)
        self.games += 1
        return GameRecord(
            time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            iteration=self.iteration,
            main_version=main_version,
            opponent=m.id,
            opponent_kind=m.kind,
            goals_main=int(goals_main),
            goals_opponent=int(goals_opponent),
            outcome={1.0: "win", 0.5: "draw", 0.0: "loss"}[score],
            elo_main_before=before_main,
            elo_main_after=self.main_rating,
            elo_opponent_before=before_opp,
            elo_opponent_after=m.rating,
        )

    # ------------------------------------------------------------------------------------------- pool

    def snapshot_due(self, iteration: int) -> str | None:
        """Why main should be snapshotted after ``iteration`` (None: not now)."""
        c = self.cfg
        if c.snapshot_every_n_iterations and iteration - self.last_snapshot_iteration >= c.snapshot_every_n_iterations:
            return f"every {c.snapshot_every_n_iterations} iterations"
        if c.snapshot_win_rate is not None and len(self.main_recent) >= c.win_rate_window:
            rate = sum(self.main_recent) / len(self.main_recent)
            if rate >= c.snapshot_win_rate:
                return f"win rate {rate:.2f} >= {c.snapshot_win_rate}"
        return None

    def add_snapshot(self, iteration: int, env_steps: int) -> tuple[Member, list[Member]]:
        """Add a frozen copy of main (rated as main is now) in a free slot; a full pool drops its oldest
        snapshot first. Returns the new member and the members it displaced."""
        evicted = []
        used = {m.module for m in self.snapshots}
        free = [s for s in slot_ids(self.cfg.max_pool_size) if s not in used]
        if not free:
            oldest = self.snapshots[0]
            evicted.append(self._retire(oldest, iteration, "pool full: oldest snapshot replaced"))
            free = [oldest.module]
        self.snapshots_taken += 1
        member = Member(
            id=f"snap-{self.snapshots_taken:04d}",
            kind="snapshot",
            rating=self.main_rating,
            fixed=False,
            module=free[0],
            order=self.snapshots_taken,
            iteration=iteration,
            env_steps=env_steps,
        )
        self.members.append(member)
        self.last_snapshot_iteration = iteration
        self.main_recent.clear()
        return member, evicted

    def prune(self, iteration: int) -> list[Member]:
        """Retire snapshots rated ``min_elo_diff`` or more below main (anchors stay)."""
        if self.cfg.min_elo_diff is None:
            return []
        weak = [m for m in self.snapshots if self.main_rating - m.rating >= self.cfg.min_elo_diff]
        return [self._retire(m, iteration, f"rated >= {self.cfg.min_elo_diff:g} below main") for m in weak]

    def _retire(self, m: Member, iteration: int, reason: str) -> Member:
        self.members.remove(m)
        m.removed_iteration, m.removed_reason = iteration, reason
        self.retired.append(m)
        return m

    # ------------------------------------------------------------------------------------------- sampling

    def probabilities(self) -> dict[str, float]:
        """Sampling probability of each pool member for a league game (sums to 1)."""
        p = np.array([self.p_estimate(m) for m in self.members])
        w = strategy_weights(self.cfg, self.members, self.main_rating, p)
        w = w / w.sum()
        return {m.id: float(x) for m, x in zip(self.members, w, strict=True)}

    def plan(self) -> dict[str, Any]:
        """What env runners need: per-episode probabilities of the module that plays orange (``main`` with
        ``main_share``, the rest split over the pool by the strategy) and which member each module plays."""
        share = self.cfg.main_share
        probs = {MAIN: share}
        members = {}
        for mid, prob in self.probabilities().items():
            m = self.find(mid)
            probs[m.module] = probs.get(m.module, 0.0) + (1.0 - share) * prob
            members[m.module] = mid
        return {"module_probs": probs, "module_members": members}

    def sample(self, rng: np.random.Generator) -> str:
        """Draw one opponent: ``main`` or a pool member id (the same distribution as :meth:`plan`)."""
        plan = self.plan()
        mods = list(plan["module_probs"])
        mod = mods[rng.choice(len(mods), p=np.array([plan["module_probs"][k] for k in mods]))]
        return MAIN if mod == MAIN else plan["module_members"][mod]

    # ------------------------------------------------------------------------------------------- records

    def end_iteration(self, iteration: int) -> None:
        """Append this iteration's ratings to the history."""
        self.history.append(
            {
                "iteration": iteration,
                "elo_main": self.main_rating,
                "pool_size": len(self.members),
                "games": self.games,
                "ratings": {m.id: m.rating for m in self.members},
            }
        )

    def metrics(self) -> dict[str, float]:
        """``league/…`` metrics: main's rating, pool size, games, win rate against each member."""
        out = {
            "league/elo_main": self.main_rating,
            "league/pool_size": float(len(self.members)),
            "league/snapshots": float(len(self.snapshots)),
            "league/games": float(self.games),
            "league/selfplay_games": float(self.selfplay_games),
        }
        for m in self.members:
            rate = m.score_rate()
            if m.recent:
                out[f"league/winrate_vs_{m.id}"] = sum(s == 1.0 for s in m.recent) / len(m.recent)
                out[f"league/score_vs_{m.id}"] = float(rate)
        return out

    TABLE_FIELDS = (
        "member",
        "kind",
        "in_pool",
        "rating",
        "module",
        "snapshot_iteration",
        "snapshot_env_steps",
        "games",
        "main_wins",
        "draws",
        "main_losses",
        "main_score_recent",
        "sample_probability",
        "removed_iteration",
        "removed_reason",
    )

    def table(self) -> list[list[Any]]:
        """League table rows (:attr:`TABLE_FIELDS`): main first, then the pool by rating, then retired members."""
        probs = self.probabilities()
        rows: list[list[Any]] = [
            [
                MAIN,
                "learner",
                True,
                round(self.main_rating, 1),
                MAIN,
                self.iteration,
                "",
                self.games,
                "",
                "",
                "",
                "",
                self.cfg.main_share,
                "",
                "",
            ]
        ]
        for m in sorted(self.members, key=lambda m: -m.rating) + self.retired:
            rate = m.score_rate()
            rows.append(
                [
                    m.id,
                    m.kind,
                    m.removed_iteration is None,
                    round(m.rating, 1),
                    m.module if m.removed_iteration is None else "",
                    m.iteration if m.kind == "snapshot" else "",
                    m.env_steps if m.kind == "snapshot" else "",
                    m.games,
                    m.wins,
                    m.draws,
                    m.losses,
                    "" if rate is None else round(rate, 3),
                    round((1 - self.cfg.main_share) * probs.get(m.id, 0.0), 4),
                    "" if m.removed_iteration is None else m.removed_iteration,
                    m.removed_reason,
                ]
            )
        return rows

    # ------------------------------------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        """Everything needed to continue: plain JSON data."""
        return {
            "main_rating": self.main_rating,
            "members": [asdict(m) for m in self.members],
            "retired": [asdict(m) for m in self.retired],
            "snapshots_taken": self.snapshots_taken,
            "games": self.games,
            "selfplay_games": self.selfplay_games,
            "iteration": self.iteration,
            "main_recent": list(self.main_recent),
            "last_snapshot_iteration": self.last_snapshot_iteration,
            "history": self.history,
        }

    @classmethod
    def from_state(cls, cfg: LeagueConfig, state: dict[str, Any]) -> League:
        """Rebuild a league saved by :meth:`state` (anchor ratings follow ``cfg``; a pool larger than
        ``cfg.max_pool_size`` keeps its newest snapshots)."""
        lg = cls(cfg)
        lg.main_rating = float(state["main_rating"])
        lg.members = [Member(**m) for m in state["members"]]
        lg.retired = [Member(**m) for m in state["retired"]]
        for m in lg.members:
            if m.id == RULE:
                m.rating = cfg.rule_rating
            elif m.id == RANDOM:
                m.rating = cfg.random_rating
        if cfg.include_random and lg.find(RANDOM) is None:
            lg.members.append(Member(RANDOM, "anchor", cfg.random_rating, fixed=True, module=RANDOM, order=0))
        if not cfg.include_random:
            lg.members = [m for m in lg.members if m.id != RANDOM]
        slots = slot_ids(cfg.max_pool_size)
        for m in lg.snapshots[: max(0, len(lg.snapshots) - cfg.max_pool_size)]:
            lg._retire(m, int(state["iteration"]), "pool shrunk on resume")
        taken = {m.module for m in lg.snapshots if m.module in slots}
        free = [s for s in slots if s not in taken]
        for m in lg.snapshots:
            if m.module not in slots:
                m.module = free.pop(0)
        lg.snapshots_taken = int(state["snapshots_taken"])
        lg.games = int(state["games"])
        lg.selfplay_games = int(state["selfplay_games"])
        lg.iteration = int(state["iteration"])
        lg.main_recent.extend(state["main_recent"])
        lg.last_snapshot_iteration = int(state["last_snapshot_iteration"])
        lg.history = list(state["history"])
        return lg
