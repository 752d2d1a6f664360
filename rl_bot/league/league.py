"""The league core (pure: no Ray import): the pool, ratings fitted from played games, opponent sampling,
snapshots, state.

``main`` is the policy being trained. The pool holds built-in opponents (anchors with fixed, calibrated ratings:
``rule``, ``rule-basic``, ``random``, as ``league.opponents`` says) and frozen snapshots of ``main``. Every game
main plays against a pool member is recorded; games that end on a goal or the game clock are rated, games cut by
the no-touch timeout are not (see :mod:`rl_bot.league.elo`). After every iteration all ratings are refitted from
every rated game so far (:func:`rl_bot.league.ratings.fit_league`), with 95 % intervals.

Each pool member is carried in env runners by one RLModule: a built-in (its own module id) or a snapshot slot
``opp_<k>`` holding the snapshot's weights (see :meth:`League.plan`). There is one slot more than the pool holds,
and a new snapshot takes the slot freed longest ago, so games still running against a replaced snapshot can end
with the weights they started with.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rl_bot.config import LeagueConfig
from rl_bot.league.elo import expected_score, is_rated, outcome_from_goals
from rl_bot.league.opponents import RANDOM
from rl_bot.league.ratings import Z95, RatingFit, fit_league, main_player

MAIN = "main"
SLOT_PREFIX = "opp_"
SNAPSHOT_PREFIX = "snap-"


def slot_ids(n: int) -> list[str]:
    """Module ids of the snapshot slots."""
    return [f"{SLOT_PREFIX}{k}" for k in range(n)]


def snapshot_id(number: int) -> str:
    """The member id of the ``number``-th snapshot of a run."""
    return f"{SNAPSHOT_PREFIX}{number:04d}"


def snapshot_number(member_id: str) -> int | None:
    """The number in a snapshot id (None for anything else)."""
    tail = member_id.removeprefix(SNAPSHOT_PREFIX)
    return int(tail) if member_id.startswith(SNAPSHOT_PREFIX) and tail.isdigit() else None


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
    rating_sd: float = 0.0  # posterior sd of the fitted rating (0 for anchors)
    games: int = 0  # rated games main played against it
    wins: int = 0  # main's wins
    draws: int = 0
    losses: int = 0
    unrated: int = 0  # games cut by the no-touch timeout
    recent: list[float] = field(default_factory=list)  # main's last rated scores against it (1 / 0.5 / 0)
    recent_touched: list[int] = field(default_factory=list)  # main's last games against it: 0 = no-touch timeout
    removed_iteration: int | None = None
    removed_reason: str = ""

    def score_rate(self) -> float | None:
        """Main's mean score over the recent window (None before any rated game)."""
        return sum(self.recent) / len(self.recent) if self.recent else None

    def touch_rate(self) -> float:
        """Share of main's recent games against it that did not end in a no-touch timeout (the ball left alone for
        ``env.no_touch_timeout_s``), with one such game as a prior: 1 before any game, 1 / (n + 1) after n
        no-touch timeouts."""
        return (sum(self.recent_touched) + 1) / (len(self.recent_touched) + 1)


@dataclass(frozen=True)
class GameRecord:
    """One recorded game, as written to the game CSV."""

    time: str  # UTC, ISO 8601
    iteration: int
    main_version: int
    opponent: str
    opponent_kind: str
    goals_main: int
    goals_opponent: int
    end: str  # goal / no_touch / time
    outcome: str  # win / draw / loss, from main's side
    rated: bool

    FIELDS = (
        "time",
        "iteration",
        "main_version",
        "opponent",
        "opponent_kind",
        "goals_main",
        "goals_opponent",
        "end",
        "outcome",
        "rated",
    )

    def row(self) -> list[Any]:
        """CSV row in :attr:`FIELDS` order."""
        d = asdict(self)
        return [d[f] for f in self.FIELDS]


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
    """Pool, ratings, sampling and snapshot decisions; :meth:`state` / :meth:`from_state` round-trip as JSON data.

    ``anchor_ratings`` are the built-in opponents' fixed ratings (:func:`rl_bot.league.opponents.builtin_ratings`).
    """

    def __init__(self, cfg: LeagueConfig, anchor_ratings: dict[str, float]):
        self.cfg = cfg
        self.anchor_ratings = dict(anchor_ratings)
        self.initial_rating = (
            cfg.initial_rating if cfg.initial_rating is not None else self.anchor_ratings.get(RANDOM, 1000.0)
        )
        self.main_rating = self.initial_rating
        self.main_rating_sd = 0.0
        self.members: list[Member] = [
            Member(name, "anchor", self.anchor_ratings[name], fixed=True, module=name, order=0)
            for name in cfg.opponents
        ]
        self.retired: list[Member] = []
        self.snapshots_taken = 0
        self.games = 0  # rated games
        self.unrated_games = 0
        self.selfplay_games = 0
        self.iteration = 0
        self.main_recent: deque[float] = deque(maxlen=cfg.win_rate_window)  # main's rated scores vs the whole pool
        self.last_snapshot_iteration = 0
        #: rated games grouped by (iteration, opponent): [games, main's score]
        self.results: dict[tuple[int, str], list[float]] = {}
        #: slot -> the iteration it was last freed (a new snapshot takes the slot freed longest ago)
        self.slot_freed: dict[str, int] = {s: -1 for s in slot_ids(cfg.num_slots)}
        #: per finished iteration: main's rating and interval, pool size, rated games, {member: rating}
        self.history: list[dict[str, Any]] = []
        self._fit: RatingFit | None = None

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
        """Main's expected score against ``m``: recent results, with the rating expectation counted as
        ``prior_games`` games so a member with few games is judged by ratings."""
        prior = self.cfg.prior_games
        e = expected_score(self.main_rating, m.rating)
        n = len(m.recent)
        if n + prior == 0:
            return e
        return (sum(m.recent) + prior * e) / (n + prior)

    # ------------------------------------------------------------------------------------------- games

    def record_game(
        self, opponent_id: str, goals_main: int, goals_opponent: int, end: str, main_version: int = 0
    ) -> GameRecord:
        """Record one finished game of main against a pool member (or one retired while the game ran)."""
        m = self.find(opponent_id)
        if m is None:
            raise KeyError(f"no league member {opponent_id!r}")
        rated = is_rated(end)
        score = outcome_from_goals(goals_main, goals_opponent)
        m.recent_touched.append(int(rated))  # only no-touch timeouts are unrated
        del m.recent_touched[: -self.cfg.win_rate_window]
        if rated:
            m.games += 1
            m.wins += score == 1.0
            m.draws += score == 0.5
            m.losses += score == 0.0
            m.recent.append(score)
            del m.recent[: -self.cfg.win_rate_window]
            self.main_recent.append(score)
            group = self.results.setdefault((self.iteration, m.id), [0.0, 0.0])
            group[0] += 1.0
            group[1] += score
            self.games += 1
        else:
            m.unrated += 1
            self.unrated_games += 1
        return GameRecord(
            time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            iteration=self.iteration,
            main_version=main_version,
            opponent=m.id,
            opponent_kind=m.kind,
            goals_main=int(goals_main),
            goals_opponent=int(goals_opponent),
            end=end,
            outcome={1.0: "win", 0.5: "draw", 0.0: "loss"}[score],
            rated=rated,
        )

    def refit(self) -> RatingFit:
        """Refit main's rating trajectory and every snapshot's rating from all rated games so far."""
        snaps = {m.id: m.iteration for m in self.members + self.retired if m.kind == "snapshot"}
        # every fitted member's interval: retired snapshots stay in the table, and their ratings move too
        want = [main_player(max(1, self.iteration))] + [m.id for m in self.members + self.retired if not m.fixed]
        init = self._fit.ratings if self._fit is not None else None
        fit = fit_league(
            [(t, mid, g, s) for (t, mid), (g, s) in self.results.items()],
            snaps,
            {m.id: m.rating for m in self.members + self.retired if m.fixed},
            self.iteration,
            self.initial_rating,
            self.cfg.rating_drift,
            init=init,
            std_for=want,
        )
        self._fit = fit
        cur = main_player(max(1, self.iteration))
        self.main_rating, self.main_rating_sd = fit.ratings[cur], fit.std.get(cur, 0.0)
        for m in self.members + self.retired:
            if not m.fixed:
                m.rating = fit.ratings[m.id]
                m.rating_sd = fit.std.get(m.id, m.rating_sd)
        return fit

    # ------------------------------------------------------------------------------------------- pool

    def snapshot_due(self, iteration: int) -> str | None:
        """Why main should be snapshotted after ``iteration`` (None: not now)."""
        c = self.cfg
        if c.snapshot_every_n_iterations and iteration - self.last_snapshot_iteration >= c.snapshot_every_n_iterations:
            return f"every {c.snapshot_every_n_iterations} iterations"
        if c.snapshot_win_rate is not None and len(self.main_recent) >= c.win_rate_window:
            rate = sum(self.main_recent) / len(self.main_recent)
            if rate >= c.snapshot_win_rate:
                return f"score rate {rate:.2f} >= {c.snapshot_win_rate}"
        return None

    def add_snapshot(self, iteration: int, env_steps: int) -> tuple[Member, list[Member]]:
        """Add a frozen copy of main (rated as main is now) in the slot freed longest ago; a full pool drops its
        oldest snapshot first. Returns the new member and the members it displaced."""
        evicted = []
        if len(self.snapshots) >= self.cfg.max_pool_size:
            evicted.append(self.retire(self.snapshots[0], iteration, "pool full: oldest snapshot replaced"))
        used = {m.module for m in self.snapshots}
        slot = min((s for s in self.slot_freed if s not in used), key=lambda s: (self.slot_freed[s], s))
        self.snapshots_taken += 1
        member = Member(
            id=snapshot_id(self.snapshots_taken),
            kind="snapshot",
            rating=self.main_rating,
            fixed=False,
            module=slot,
            order=self.snapshots_taken,
            iteration=iteration,
            env_steps=env_steps,
            rating_sd=self.main_rating_sd,
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
        return [self.retire(m, iteration, f"rated >= {self.cfg.min_elo_diff:g} below main") for m in weak]

    def retire(self, m: Member | None, iteration: int, reason: str) -> Member:
        """Take a snapshot out of the pool (its slot is freed; it stays in the table and in the rating fit, and
        games still running against it are recorded against it)."""
        if m is None or m.kind != "snapshot" or m not in self.members:
            raise ValueError(f"{getattr(m, 'id', m)!r} is not a snapshot in the pool; only those can be retired")
        self.members.remove(m)
        m.removed_iteration, m.removed_reason = iteration, reason
        self.slot_freed[m.module] = iteration
        self.retired.append(m)
        return m

    # ------------------------------------------------------------------------------------------- sampling

    def probabilities(self) -> dict[str, float]:
        """Sampling probability of each pool member for a league game (sums to 1)."""
        if not self.members:
            return {}
        p = np.array([self.p_estimate(m) for m in self.members])
        w = strategy_weights(self.cfg, self.members, self.main_rating, p)
        if self.cfg.no_touch_discount:
            w = w * np.array([m.touch_rate() for m in self.members])
        w = w / w.sum()
        return {m.id: float(x) for m, x in zip(self.members, w, strict=True)}

    def plan(self) -> dict[str, Any]:
        """What env runners need: per-episode probabilities of the module that plays orange (``main`` with
        ``main_share``, the rest split over the pool by the strategy) and which member each module plays."""
        probs = self.probabilities()
        share = self.cfg.main_share if probs else 1.0
        module_probs = {MAIN: share}
        members = {}
        for mid, prob in probs.items():
            m = self.find(mid)
            module_probs[m.module] = (1.0 - share) * prob
            members[m.module] = mid
        return {"module_probs": module_probs, "module_members": members, "round_steps": self.cfg.round_steps}

    # ------------------------------------------------------------------------------------------- records

    def end_iteration(self, iteration: int) -> None:
        """Refit the ratings and append this iteration's to the history."""
        self.iteration = max(self.iteration, iteration)
        self.refit()
        lo, hi = self.main_interval()
        self.history.append(
            {
                "iteration": iteration,
                "elo_main": self.main_rating,
                "elo_main_low": lo,
                "elo_main_high": hi,
                "pool_size": len(self.members),
                "games": self.games,
                "ratings": {m.id: m.rating for m in self.members},
            }
        )

    def main_interval(self) -> tuple[float, float]:
        """95 % interval of main's current rating."""
        half = Z95 * self.main_rating_sd
        return self.main_rating - half, self.main_rating + half

    def metrics(self) -> dict[str, float]:
        """``league/…`` metrics: main's rating and interval, pool size, games, score rates against each member."""
        lo, hi = self.main_interval()
        out = {
            "league/elo_main": self.main_rating,
            "league/elo_main_low": lo,
            "league/elo_main_high": hi,
            "league/pool_size": float(len(self.members)),
            "league/snapshots": float(len(self.snapshots)),
            "league/games": float(self.games),
            "league/unrated_games": float(self.unrated_games),
            "league/selfplay_games": float(self.selfplay_games),
        }
        for m in self.members:
            if m.recent:
                out[f"league/winrate_vs_{m.id}"] = sum(s == 1.0 for s in m.recent) / len(m.recent)
                out[f"league/score_vs_{m.id}"] = float(m.score_rate())
        return out

    TABLE_FIELDS = (
        "member",
        "kind",
        "in_pool",
        "rating",
        "rating_low",
        "rating_high",
        "module",
        "snapshot_iteration",
        "snapshot_env_steps",
        "games",
        "main_wins",
        "draws",
        "main_losses",
        "no_touch_timeouts",
        "main_score_recent",
        "sample_probability",
        "removed_iteration",
        "removed_reason",
    )

    def table(self) -> list[list[Any]]:
        """League table rows (:attr:`TABLE_FIELDS`): main first, then the pool by rating, then retired members.
        Anchors' intervals are points: their ratings are held fixed in the fit."""
        probs = self.probabilities()
        lo, hi = self.main_interval()
        rows: list[list[Any]] = [
            [MAIN, "learner", True, round(self.main_rating, 1), round(lo, 1), round(hi, 1), MAIN, self.iteration]
            + ["", self.games, "", "", "", self.unrated_games, "", self.cfg.main_share if probs else 1.0, "", ""]
        ]
        for m in sorted(self.members, key=lambda m: -m.rating) + self.retired:
            rate = m.score_rate()
            half = Z95 * m.rating_sd
            rows.append(
                [
                    m.id,
                    m.kind,
                    m.removed_iteration is None,
                    round(m.rating, 1),
                    round(m.rating - half, 1),
                    round(m.rating + half, 1),
                    m.module if m.removed_iteration is None else "",
                    m.iteration if m.kind == "snapshot" else "",
                    m.env_steps if m.kind == "snapshot" else "",
                    m.games,
                    m.wins,
                    m.draws,
                    m.losses,
                    m.unrated,
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
            "main_rating_sd": self.main_rating_sd,
            "members": [asdict(m) for m in self.members],
            "retired": [asdict(m) for m in self.retired],
            "snapshots_taken": self.snapshots_taken,
            "games": self.games,
            "unrated_games": self.unrated_games,
            "selfplay_games": self.selfplay_games,
            "iteration": self.iteration,
            "main_recent": list(self.main_recent),
            "last_snapshot_iteration": self.last_snapshot_iteration,
            "results": [[t, mid, g, s] for (t, mid), (g, s) in self.results.items()],
            "slot_freed": dict(self.slot_freed),
            "history": self.history,
        }

    @classmethod
    def from_state(
        cls, cfg: LeagueConfig, anchor_ratings: dict[str, float], state: dict[str, Any], min_snapshot_number: int = 0
    ) -> League:
        """Rebuild a league saved by :meth:`state` (with the same ``league.opponents`` and ``max_pool_size``: the
        driver refuses a resume that changes them). Anchor ratings follow ``anchor_ratings``; snapshot numbering
        continues after ``min_snapshot_number`` too (snapshot files a later, discarded part of the run wrote)."""
        lg = cls(cfg, anchor_ratings)
        lg.members = [Member(**m) for m in state["members"]]
        lg.retired = [Member(**m) for m in state["retired"]]
        for m in lg.members + lg.retired:
            if m.fixed:  # the anchors' ratings follow the config (league.anchor_ratings may change on resume)
                m.rating = lg.anchor_ratings.get(m.id, m.rating)
        lg.main_rating = float(state["main_rating"])
        lg.main_rating_sd = float(state["main_rating_sd"])
        lg.snapshots_taken = max(int(state["snapshots_taken"]), int(min_snapshot_number))
        lg.games = int(state["games"])
        lg.unrated_games = int(state["unrated_games"])
        lg.selfplay_games = int(state["selfplay_games"])
        lg.iteration = int(state["iteration"])
        lg.main_recent.extend(state["main_recent"])
        lg.last_snapshot_iteration = int(state["last_snapshot_iteration"])
        lg.results = {(int(t), str(mid)): [float(g), float(s)] for t, mid, g, s in state["results"]}
        lg.history = list(state["history"])
        lg.slot_freed = {s: int(state["slot_freed"].get(s, -1)) for s in slot_ids(cfg.num_slots)}
        return lg
