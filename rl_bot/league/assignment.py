"""Which module plays the orange team of each game in an env runner, and when a snapshot slot may take new weights
(pure: no Ray import; :class:`~rl_bot.league.runner.LeagueSide` drives it).

Rules:

- the runner plays in *rounds* of ``round_steps`` env steps (per env). A round draws one pool member from the plan's
  probabilities among the members whose module is ready (a built-in is always ready; a snapshot slot is ready when
  it holds the weights of the member the plan puts there). A game that starts in the round plays ``main`` with
  ``main_share``, else the round's member; over rounds that is the plan's distribution;
- successive games take ``u`` from a golden-ratio sequence, so any run of games holds its share of league games
  within about two (independent draws scatter it: an iteration of a small batch could pass with none);
- a new round starts at the first ``sample()`` call after ``round_steps`` env steps, or as soon as the round's
  member is no longer ready (retired, or its slot waits for new weights);
- why rounds: a frozen opponent costs its forward pass (a rule bot's planning, a snapshot's LSTM) on every env step
  in which it has a game, however few games. Drawing the member per game keeps several pool members busy in every
  step; with rounds about as long as the longest game, about one is (plus the tails of the previous round's games);
- a game keeps its module and the member it was drawn against to its end, whatever the plan says meanwhile;
- a slot takes the weights of a new member only when no running game uses it; until then it is not drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rl_bot.league.league import MAIN, SLOT_PREFIX

#: The golden ratio's fractional part: u, u + g, u + 2g, ... (mod 1) fill [0, 1) evenly (a Weyl sequence); see
#: :meth:`OpponentBook.next_u`.
GOLDEN_STEP = (5**0.5 - 1) / 2


def draw_pool_module(module_probs: dict[str, float], ready: set[str], u: float) -> str | None:
    """A pool module drawn in proportion to the plan's probabilities among the ready ones (None if none is ready
    or the pool has no share). ``u`` is uniform in [0, 1)."""
    pool = [(m, p) for m, p in module_probs.items() if m != MAIN and m in ready and p > 0]
    total = sum(p for _, p in pool)
    if total <= 0:
        return None
    x = u * total
    for module, p in pool:
        x -= p
        if x < 0:
            return module
    return pool[-1][0]


class OpponentBook:
    """Games in flight with their opponents, and the snapshot slots' loaded and pending weights."""

    def __init__(self, first_u: float = 0.0) -> None:
        self.plan: dict[str, Any] | None = None
        self.game_u = first_u  # the next game's u (see next_u)
        self.games: dict[str, tuple[str, str]] = {}  # game id -> (module, member)
        self.loaded: dict[str, str] = {}  # slot -> member whose weights it holds
        self.pending: dict[str, tuple[str, Any]] = {}  # slot -> (member, weights) waiting for the slot to be idle
        self.round_module: str | None = None  # the pool module new league games play this round
        self.round_age = 0.0  # env steps (per env) since the round began
        self.round_started = False

    def set_plan(self, plan: dict[str, Any], fetch: Callable[[str], Any]) -> None:
        """Install a plan; ``fetch(member)`` returns a snapshot's weights (called once per new slot member)."""
        self.plan = plan
        for slot, member in plan["module_members"].items():
            if not slot.startswith(SLOT_PREFIX):
                continue
            if self.loaded.get(slot) == member:
                self.pending.pop(slot, None)
            elif self.pending.get(slot, ("",))[0] != member:
                self.pending[slot] = (member, fetch(member))

    def load_idle(self, load: Callable[[str, Any], None]) -> list[str]:
        """Load the pending weights of every slot no running game uses (``load(slot, weights)``); returns them."""
        busy = {module for module, _ in self.games.values()}
        done = [s for s in self.pending if s not in busy]
        for slot in done:
            member, weights = self.pending.pop(slot)
            load(slot, weights)
            self.loaded[slot] = member
        return done

    def ready(self) -> set[str]:
        """Pool modules new games may draw."""
        members = self.plan["module_members"] if self.plan else {}
        return {
            m
            for m, member in members.items()
            if not m.startswith(SLOT_PREFIX) or (self.loaded.get(m) == member and m not in self.pending)
        }

    def new_round(self, u: float) -> str | None:
        """Start a round: draw its pool member (``u`` uniform in [0, 1)); returns its module (None: none ready)."""
        self.round_age, self.round_started = 0.0, True
        self.round_module = draw_pool_module(self.plan["module_probs"], self.ready(), u) if self.plan else None
        return self.round_module

    def round_over(self) -> bool:
        """Whether the next ``sample()`` call starts a new round: none started yet, the round has lasted the plan's
        ``round_steps`` env steps, or its member is not ready (left the plan, slot waiting for new weights)."""
        if self.plan is None:
            return False
        if not self.round_started or self.round_age >= self.plan.get("round_steps", 1):
            return True
        return self.round_module not in self.ready()

    def advance(self, env_steps_per_env: float) -> None:
        """Count env steps (per env) played in the round."""
        self.round_age += env_steps_per_env

    def next_u(self) -> float:
        """The ``u`` for the next game's :meth:`start`: successive calls walk a golden-ratio sequence from
        ``first_u``, uniform over [0, 1) in the long run and even over any run of games."""
        u = self.game_u
        self.game_u = (u + GOLDEN_STEP) % 1.0
        return u

    def start(self, game_id: str, u: float) -> str | None:
        """The module of a new game (None without a plan): ``main`` when ``u < main_share`` or the round has no
        ready member, else the round's member; noted with the member it plays. ``u`` is uniform in [0, 1)."""
        if self.plan is None:
            return None
        share = self.plan["module_probs"].get(MAIN, 1.0)
        pool = self.round_module if self.round_module in self.ready() else None
        module = MAIN if u < share or pool is None else pool
        self.games[game_id] = (module, self.plan["module_members"].get(module, MAIN))
        return module

    def finish(self, game_id: str) -> tuple[str, str] | None:
        """The (module, member) of a game that ended, forgotten from now on (None if unknown)."""
        return self.games.pop(game_id, None)

    def forget_all_but(self, live: Iterable[str]) -> None:
        """Forget games that will never end (dropped by an env reset), so their slots can change."""
        keep = set(live)
        for gid in [g for g in self.games if g not in keep]:
            del self.games[gid]

    def status(self) -> dict[str, Any]:
        """Loaded and pending slots, games in flight per module, and the current round's module and age."""
        in_flight: dict[str, int] = {}
        for module, _ in self.games.values():
            in_flight[module] = in_flight.get(module, 0) + 1
        return {
            "loaded": dict(self.loaded),
            "pending": sorted(self.pending),
            "in_flight": in_flight,
            "round_module": self.round_module,
            "round_age": self.round_age,
        }
