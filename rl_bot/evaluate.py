"""Play real RocketSim games with trained modules and built-in bots (no Ray needed) and measure what they do.

Games run side by side in many arenas (:func:`make_arenas`: the batched backend when the env allows it, else one
rlgym game per arena) and every policy acts for all the cars it drives in one call, so a few hundred games take
seconds to minutes. Every game that starts is played to its end: an arena that finishes early starts the next game,
so short and long games count alike.

The learner's copy of ``main`` is loaded from a checkpoint (env runner copies have an unsynced value head). With an
LSTM, the state is carried per car and zeroed at each game start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rl_bot.checkpoints import latest_checkpoint, list_checkpoints, run_dir_of
from rl_bot.config import ConfigError, EnvConfig
from rl_bot.env.game import NUM_ACTIONS, EpisodeStats, RLGymGame
from rl_bot.env.replay import ArenaPositions, GameRecorder, positions_of_state
from rl_bot.league.elo import (
    END_NO_TOUCH,
    END_TIME,
    format_rating,
    outcome_from_goals,
    performance_rating,
    wilson_interval,
)

MODULE_SUBPATH = Path("learner_group") / "learner" / "rl_module" / "main"


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run directory (→ its newest checkpoint); :class:`ConfigError` otherwise."""
    p = Path(path).expanduser().resolve()
    if (p / MODULE_SUBPATH).is_dir():
        return p
    if list_checkpoints(p):
        return latest_checkpoint(p)[0]
    raise ConfigError(
        [f"{str(p)!r} is neither a checkpoint folder (with {MODULE_SUBPATH}) nor a run directory with checkpoints"],
        "--checkpoint",
    )


def load_main_module(ckpt: Path) -> Any:
    """The learner's ``main`` RLModule of a checkpoint folder (policies built on it share its weights)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    return RLModule.from_checkpoint(str(ckpt / MODULE_SUBPATH))


# ------------------------------------------------------------------------------------------------ policies
#
# A policy acts for rows of a batch: ``start(rows)`` when the cars of those rows begin a game, ``act(obs, rows)``
# with ``obs[k]`` the observation of row ``rows[k]``; rows are stable ids (arena x car) so recurrent state follows
# each car.


class ModulePolicy:
    """Acts with an RLlib RLModule (sampled actions when ``explore``, else argmax), carrying LSTM state per row."""

    def __init__(self, module: Any, explore: bool = True, seed: int = 0):
        import torch

        self.torch = torch
        self.module = module
        self.explore = explore
        self.gen = torch.Generator().manual_seed(seed)
        self.stateful = bool(module.is_stateful())
        self.state: dict[str, Any] = {}

    @classmethod
    def from_checkpoint(cls, ckpt: Path, explore: bool = True, seed: int = 0) -> ModulePolicy:
        """Load ``main`` from a checkpoint folder."""
        return cls(load_main_module(ckpt), explore, seed)

    def reseed(self, seed: int) -> None:
        """Restart the action sampling stream."""
        self.gen.manual_seed(seed)

    def start(self, rows: np.ndarray) -> None:
        """Zero the recurrent state of these rows."""
        if not self.stateful or len(rows) == 0:
            return
        self._grow(int(rows.max()) + 1)
        for v in self.state.values():
            v[self.torch.from_numpy(rows)] = 0.0

    def _grow(self, size: int) -> None:
        if self.state and next(iter(self.state.values())).shape[0] >= size:
            return
        init = self.module.get_initial_state()
        old = self.state
        self.state = {k: v.unsqueeze(0).repeat(size, *([1] * v.dim())).clone() for k, v in init.items()}
        for k, v in old.items():
            self.state[k][: v.shape[0]] = v

    def act(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One action per row."""
        torch = self.torch
        batch: dict[str, Any] = {"obs": torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))}
        if self.stateful:
            self._grow(int(rows.max()) + 1)
            idx = torch.from_numpy(rows)
            batch["obs"] = batch["obs"].unsqueeze(1)  # [B, T=1, obs]
            batch["state_in"] = {k: v[idx] for k, v in self.state.items()}
        with torch.no_grad():
            out = self.module.forward_inference(batch)
        logits = out["action_dist_inputs"].reshape(len(rows), -1)
        if self.stateful:
            for k, v in out["state_out"].items():
                self.state[k][idx] = v
        if self.explore:
            acts = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=self.gen).squeeze(1)
        else:
            acts = logits.argmax(dim=-1)
        return acts.numpy().astype(np.int64)


class RandomPolicy:
    """Uniformly random lookup-table actions."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def start(self, rows: np.ndarray) -> None:
        """Stateless."""

    def act(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One random action per row."""
        return self.rng.integers(NUM_ACTIONS, size=len(rows)).astype(np.int64)


class RulePolicy:
    """A scripted bot acting from the observations (default: the ``rule`` bot)."""

    def __init__(self, bot: Any = None) -> None:
        from rl_bot.league.rule_bot import RuleBot

        self.bot = bot if bot is not None else RuleBot()

    def start(self, rows: np.ndarray) -> None:
        """Stateless."""

    def act(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One action per row, computed from its observation."""
        return self.bot.actions(obs)


class FeedForwardPolicy:
    """A feed-forward actor given as its weight matrices: linear layers with ReLU between them, the last giving one
    logit per lookup-table action (sampled actions when ``explore``, else argmax). The layout of rlgym-learn-algos'
    ``DiscreteFF``, whose softmax output layer changes neither the argmax nor the sampled distribution."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], explore: bool = True, seed: int = 0):
        self.layers = layers
        self.explore = explore
        self.rng = np.random.default_rng(seed)

    def start(self, rows: np.ndarray) -> None:
        """Stateless."""

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """``[rows, actions]`` logits (float32)."""
        x = np.asarray(obs, np.float32)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w.T + b
            if i < len(self.layers) - 1:
                np.maximum(x, 0.0, out=x)
        return x

    def act(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """One action per row."""
        logits = self.logits(obs)
        if self.explore:  # Gumbel-max: a draw from softmax(logits)
            logits = logits + self.rng.gumbel(size=logits.shape).astype(np.float32)
        return logits.argmax(axis=-1).astype(np.int64)


#: Where a feed-forward actor's linear layers are found in a state dict, tried in order: an rlgym-learn-algos
#: ``actor_critic.pt`` (``SeparateActorCritic``), a saved ``DiscreteFF``, a bare ``nn.Sequential``.
FF_PREFIXES = ("actor.model.", "model.", "")
#: The file an rlgym-learn-algos checkpoint folder keeps its actor and critic in.
FF_CHECKPOINT_FILE = "actor_critic.pt"


def feed_forward_policy(path: str | Path, explore: bool = True, seed: int = 0) -> FeedForwardPolicy:
    """Load a feed-forward actor for our observation and action table from a torch state dict file (or a folder
    with ``actor_critic.pt``, an rlgym-learn-algos PPO checkpoint); :class:`ConfigError` if it is not one."""
    import torch

    from rl_bot.env.batched import OBS_SIZE

    p = Path(path).expanduser().resolve()
    file = p / FF_CHECKPOINT_FILE if p.is_dir() else p
    where = f"ff:{path}"
    if not file.is_file():
        raise ConfigError(
            [f"{str(file)!r} does not exist: give a .pt state dict or a folder with {FF_CHECKPOINT_FILE}"], where
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a state dict
        raise ConfigError([f"{str(file)!r} is not a torch state dict ({type(e).__name__}: {e})"], where) from e
    if not isinstance(state, dict):
        raise ConfigError([f"{str(file)!r} holds a {type(state).__name__}, not a state dict"], where)
    for prefix in FF_PREFIXES:
        idx = sorted(
            int(k[len(prefix) : -len(".weight")])
            for k in state
            if k.startswith(prefix) and k.endswith(".weight") and k[len(prefix) : -len(".weight")].isdigit()
        )
        if idx:
            break
    else:
        raise ConfigError([f"{str(file)!r} has no numbered linear layers (keys like actor.model.0.weight)"], where)
    layers = []
    for i in idx:
        w, b = state[f"{prefix}{i}.weight"], state.get(f"{prefix}{i}.bias")
        w = w.detach().float().numpy()
        layers.append((w, np.zeros(w.shape[0], np.float32) if b is None else b.detach().float().numpy()))
    dims = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
    problems = []
    if dims[0] != OBS_SIZE:
        problems.append(f"its first layer takes {dims[0]} inputs; our observation has {OBS_SIZE}")
    if dims[-1] != NUM_ACTIONS:
        problems.append(f"its last layer gives {dims[-1]} outputs; our action table has {NUM_ACTIONS} actions")
    if any(w.shape[1] != d for (w, _), d in zip(layers, dims[:-1], strict=True)):
        problems.append(f"its layers do not chain ({[tuple(w.shape) for w, _ in layers]})")
    if problems:
        raise ConfigError([f"{str(file)!r}: " + "; ".join(problems)], where)
    return FeedForwardPolicy(layers, explore, seed)


def builtin_policy(name: str, seed: int = 0) -> Any:
    """The policy of a built-in opponent (``random``, ``rule-basic``, ``rule``)."""
    from rl_bot.league.opponents import RANDOM, RULE, RULE_BASIC
    from rl_bot.league.rule_bot import BasicRuleBot, RuleBot

    if name == RANDOM:
        return RandomPolicy(seed)
    if name == RULE_BASIC:
        return RulePolicy(BasicRuleBot())
    if name == RULE:
        return RulePolicy(RuleBot())
    raise ValueError(f"unknown built-in opponent {name!r}")


def snapshot_policy(ckpt: Path, member: str, explore: bool = True, seed: int = 0) -> tuple[ModulePolicy, float]:
    """A league snapshot of the checkpoint's run as a policy, and its rating in that checkpoint's league state
    (NaN, printed as unrated, if the checkpoint does not know it); :class:`ConfigError` if there is no such
    snapshot or the league state is unreadable."""
    from rl_bot.algo import inference_module
    from rl_bot.checkpoints import LEAGUE_STATE_FILE
    from rl_bot.config import CONFIG_FILE, read_yaml, validate_config
    from rl_bot.league.files import load_snapshot, snapshot_file

    run_dir = run_dir_of(ckpt)
    path = snapshot_file(run_dir, member)
    if not path.is_file():
        have = sorted(p.stem for p in path.parent.glob("*.pkl")) if path.parent.is_dir() else []
        raise ConfigError(
            [
                f"snapshot {member!r} not found in {str(path.parent)!r}; "
                + (f"this run has {', '.join(have)}" if have else "this run has no league snapshots")
            ],
            "--opponent",
        )
    cfg = validate_config(read_yaml(run_dir / CONFIG_FILE), str(run_dir / CONFIG_FILE))
    module = inference_module(cfg)
    module.set_state(load_snapshot(path))
    rating = math.nan
    state_file = ckpt / LEAGUE_STATE_FILE
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text())
            rating = next((m["rating"] for m in state["members"] + state["retired"] if m["id"] == member), rating)
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(
                [f"{str(state_file)!r} is unreadable ({e}); evaluate another checkpoint"], "--opponent"
            ) from None
    return ModulePolicy(module, explore, seed), float(rating)


# ------------------------------------------------------------------------------------------------ arenas


class RLGymArenas:
    """Several :class:`RLGymGame` behind :class:`~rl_bot.env.batched.BatchedGame`'s arena interface (for envs
    with custom rlgym components, which the batched backend cannot compute)."""

    def __init__(self, cfg: EnvConfig, n: int):
        self.n = n
        self.games = [RLGymGame(cfg) for _ in range(n)]
        self.agents = list(self.games[0].agents)
        self.num_cars = len(self.agents)
        self._obs = np.zeros((n, self.num_cars, self.games[0].obs_size), np.float32)

    @property
    def stats(self) -> list[EpisodeStats]:
        """Each arena's current episode stats."""
        return [g.stats for g in self.games]

    def episode_stats(self, i: int) -> EpisodeStats:
        """Arena ``i``'s current episode stats."""
        return self.games[i].stats

    def seed(self, i: int, seed: Any) -> None:
        """Seed arena ``i``'s kickoff draws."""
        self.games[i].seed(seed)

    def reset(self, i: int) -> None:
        """Kickoff in arena ``i``."""
        obs = self.games[i].reset()
        self._obs[i] = np.stack([obs[a] for a in self.agents])

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[None, np.ndarray, np.ndarray]:
        """Step the active arenas; returns (None, terminated, truncated)."""
        term, trunc = np.zeros(self.n, bool), np.zeros(self.n, bool)
        for i in np.flatnonzero(active):
            obs, _, te, tr = self.games[i].step(
                {a: np.atleast_1d(np.int64(x)) for a, x in zip(self.agents, actions[i], strict=True)}
            )
            self._obs[i] = np.stack([obs[a] for a in self.agents])
            term[i], trunc[i] = te, tr
        return None, term, trunc

    def observations(self) -> np.ndarray:
        """``[arena, car, obs]``."""
        return self._obs

    def positions(self, i: int) -> ArenaPositions:
        """Arena ``i``'s ball and cars as of the last step, for replays."""
        return positions_of_state(self.games[i].state, self.agents)

    def close(self) -> None:
        """Release the arenas."""
        for g in self.games:
            g.close()


def make_arenas(cfg: EnvConfig, n: int) -> Any:
    """``n`` arenas of the configured game: batched when the env allows it, else rlgym games."""
    if cfg.batched_problems():
        return RLGymArenas(cfg, n)
    from rl_bot.env.batched import BatchedGame

    return BatchedGame(cfg, n)


def play_games(
    env_cfg: EnvConfig,
    games: int,
    teams: Any,
    seed: int = 0,
    arenas: int = 64,
    record: GameRecorder | None = None,
    names: Callable[[int], tuple[str, str]] | None = None,
) -> list[EpisodeStats]:
    """Play ``games`` full games, at most ``arenas`` at once; ``teams(g)`` gives game ``g``'s (blue policy,
    orange policy). Game ``g``'s kickoff is seeded from ``(seed, g)``, whatever arena plays it. Returns each
    game's stats, in game order.

    ``record``: the games it wants get every step's positions recorded into it (``names(g)``: the (blue, orange)
    labels of game ``g`` in the replay); recording reads the arenas and changes nothing in the games."""
    if games < 1:
        return []
    n = min(games, arenas)
    env = make_arenas(env_cfg, n)
    cars = env.num_cars
    team_of_car = np.array([0 if a.startswith("blue") else 1 for a in env.agents])
    game_of = np.full(n, -1)
    recording = np.zeros(n, bool)  # arenas playing a game the recorder wants
    step_s = env_cfg.step_seconds

    def snap(i: int) -> None:
        s = env.episode_stats(i)
        record.add(game_of[i], s.length * step_s, env.positions(i), env.agents, (s.goals_blue, s.goals_orange))

    policies: list[Any] = []  # distinct policies, by identity
    policy_of = np.full((n, cars), -1)  # index into ``policies`` of the policy driving each car
    results: list[EpisodeStats | None] = [None] * games
    active = np.zeros(n, bool)
    started = 0

    def start(i: int) -> None:
        nonlocal started
        g = started
        started += 1
        env.seed(i, np.random.SeedSequence([seed, g]))
        env.reset(i)
        game_of[i], active[i] = g, True
        recording[i] = record is not None and record.wants(g)
        if recording[i]:
            record.begin(g, *(names(g) if names is not None else ("blue", "orange")), start=env.episode_stats(i).start)
            snap(i)
        for team, policy in enumerate(teams(g)):
            p = next((j for j, q in enumerate(policies) if q is policy), None)
            if p is None:
                policies.append(policy)
                p = len(policies) - 1
            cols = np.flatnonzero(team_of_car == team)
            policy_of[i, cols] = p
            policy.start(i * cars + cols)

    try:
        for i in range(n):
            start(i)
        while active.any():
            obs = env.observations()
            actions = np.zeros((n, cars), np.int64)
            for p, policy in enumerate(policies):
                ai, ci = np.nonzero((policy_of == p) & active[:, None])
                if len(ai):
                    actions[ai, ci] = policy.act(obs[ai, ci], ai * cars + ci)
            _, term, trunc = env.step(actions, active)
            for i in np.flatnonzero(recording & active):
                snap(i)
            for i in np.flatnonzero((term | trunc) & active):
                results[game_of[i]] = replace(env.episode_stats(i))
                if recording[i]:
                    record.end(game_of[i], env.episode_stats(i).end)
                    recording[i] = False
                active[i] = False
                if started < games:
                    start(i)
    finally:
        env.close()
    return results  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ reports


def bootstrap_ratio_ci(num: np.ndarray, den: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of ``sum(num)/sum(den)`` resampling episodes."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n, len(num)))
    ratios = num[idx].sum(1) / np.maximum(den[idx].sum(1), 1e-9)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


@dataclass(frozen=True)
class SelfPlayReport:
    """Ball-touch and goal rates over a set of games in which one policy drives every car."""

    episodes: int
    game_minutes: float
    touches: int
    goals: int
    touches_per_minute: float
    touches_per_minute_ci: tuple[float, float]
    goals_per_episode: float

    def line(self, label: str) -> str:
        """Human summary."""
        lo, hi = self.touches_per_minute_ci
        return (
            f"{label}: {self.episodes} episodes, {self.game_minutes:.1f} game minutes | touches/min "
            f"{self.touches_per_minute:.2f} (95% CI {lo:.2f}-{hi:.2f}) | goals/episode "
            f"{self.goals_per_episode:.3f}"
        )


def play_selfplay(
    policy: Any,
    env_cfg: EnvConfig,
    episodes: int,
    seed: int = 0,
    arenas: int = 64,
    record: GameRecorder | None = None,
    name: str = "policy",
) -> SelfPlayReport:
    """Play ``episodes`` full games with ``policy`` driving every car; count touches and goals from physics.
    ``record``: see :func:`play_games` (``name`` labels both teams)."""
    stats = play_games(env_cfg, episodes, lambda g: (policy, policy), seed, arenas, record, lambda g: (name, name))
    t = np.array([s.touches for s in stats], float)
    m = np.array([s.length * env_cfg.step_seconds / 60.0 for s in stats], float)
    goals = [s.goals_blue + s.goals_orange for s in stats]
    total_min = float(m.sum())
    return SelfPlayReport(
        episodes=episodes,
        game_minutes=total_min,
        touches=int(t.sum()),
        goals=int(sum(goals)),
        touches_per_minute=float(t.sum() / total_min) if total_min > 0 else math.nan,
        touches_per_minute_ci=bootstrap_ratio_ci(t, m, seed),
        goals_per_episode=float(np.mean(goals)),
    )


@dataclass(frozen=True)
class MatchReport:
    """Results of ``games`` games of a player against an opponent (sides alternate; blue first).

    Draws are split by cause: the game clock ran out (``draws_time``, rated as ½) or nobody touched the ball for
    the no-touch timeout (``draws_no_touch``, not rated). Score rates and the Elo estimate use rated games only;
    the win rate uses every game.
    """

    games: int
    wins: int
    draws_time: int
    draws_no_touch: int
    losses: int
    goals_for: int
    goals_against: int
    opponent: str
    opponent_rating: float

    @property
    def draws(self) -> int:
        """Draws of both kinds."""
        return self.draws_time + self.draws_no_touch

    @property
    def rated_games(self) -> int:
        """Games that count for the score rate (all but no-touch timeouts)."""
        return self.games - self.draws_no_touch

    @property
    def win_rate(self) -> float:
        """Wins / games."""
        return self.wins / self.games

    @property
    def win_rate_ci(self) -> tuple[float, float]:
        """95 % Wilson interval of the win rate."""
        return wilson_interval(self.wins, self.games)

    @property
    def score_rate(self) -> float:
        """(wins + time draws / 2) / rated games, the Elo score (nan without rated games)."""
        return (self.wins + 0.5 * self.draws_time) / self.rated_games if self.rated_games else math.nan

    @property
    def score_rate_ci(self) -> tuple[float, float]:
        """95 % Wilson interval of the score rate (draws as half a success)."""
        return wilson_interval(self.wins + 0.5 * self.draws_time, self.rated_games)

    @property
    def elo(self) -> float:
        """Performance rating against the opponent's rating (nan without rated games)."""
        if not self.rated_games:
            return math.nan
        return performance_rating(self.score_rate, self.rated_games, self.opponent_rating)

    @property
    def elo_ci(self) -> tuple[float, float]:
        """The score-rate interval mapped onto ratings (an end at a score of 0 or 1 is open: ∓inf)."""
        if not self.rated_games:
            return -math.inf, math.inf
        lo, hi = self.score_rate_ci
        n, r = self.rated_games, self.opponent_rating
        return performance_rating(lo, n, r, clamp=False), performance_rating(hi, n, r, clamp=False)

    def metrics(self, prefix: str) -> dict[str, float]:
        """The report as metrics ``{prefix}_{stat}_vs_{opponent}`` (stat: games, winrate, score, elo, no_touch;
        rates and Elo with ``_low``/``_high`` interval ends); open interval ends are left out."""
        wl, wh = self.win_rate_ci
        sl, sh = self.score_rate_ci
        el, eh = self.elo_ci
        stats = {
            ("games", ""): float(self.games),
            ("no_touch", ""): float(self.draws_no_touch),
            ("winrate", ""): self.win_rate,
            ("winrate", "_low"): wl,
            ("winrate", "_high"): wh,
            ("score", ""): self.score_rate,
            ("score", "_low"): sl,
            ("score", "_high"): sh,
            ("elo", ""): self.elo,
            ("elo", "_low"): el,
            ("elo", "_high"): eh,
        }
        return {f"{prefix}_{stat}_vs_{self.opponent}{end}": v for (stat, end), v in stats.items() if math.isfinite(v)}

    def line(self, label: str) -> str:
        """Human summary."""
        wl, wh = self.win_rate_ci
        sl, sh = self.score_rate_ci
        el, eh = self.elo_ci
        rating = "unrated" if math.isnan(self.opponent_rating) else f"rated {self.opponent_rating:.0f}"
        if math.isnan(self.opponent_rating):
            elo = "n/a"
        elif not self.rated_games:
            elo = "n/a (no rated games)"
        else:
            elo = f"{format_rating(self.elo)} (95% CI {format_rating(el)} to {format_rating(eh)})"
        return (
            f"{label} vs {self.opponent}: {self.games} games | W-D-L {self.wins}-{self.draws}-{self.losses} "
            f"(draws: {self.draws_time} at full time, {self.draws_no_touch} no-touch timeouts, not rated) | "
            f"goals {self.goals_for}-{self.goals_against} | win rate {self.win_rate:.2f} (95% CI {wl:.2f}-{wh:.2f}) | "
            f"score rate {self.score_rate:.2f} (95% CI {sl:.2f}-{sh:.2f}, {self.rated_games} rated games) | "
            f"Elo estimate {elo} (opponent {rating})"
        )


def match_report(
    stats: list[EpisodeStats], player_team: list[int], opponent: str, opponent_rating: float
) -> MatchReport:
    """Tally games from the player's side (``player_team[g]``: 0 blue, 1 orange)."""
    wins = draws_time = draws_no_touch = losses = gf = ga = 0
    for s, team in zip(stats, player_team, strict=True):
        f, a = (s.goals_blue, s.goals_orange) if team == 0 else (s.goals_orange, s.goals_blue)
        gf, ga = gf + f, ga + a
        score = outcome_from_goals(f, a)
        wins += score == 1.0
        losses += score == 0.0
        if score == 0.5:
            if s.end == END_NO_TOUCH:
                draws_no_touch += 1
            elif s.end == END_TIME:
                draws_time += 1
            else:
                raise ValueError(f"a drawn game must end on a timeout, got end {s.end!r}")
    return MatchReport(len(stats), wins, draws_time, draws_no_touch, losses, gf, ga, opponent, opponent_rating)


def play_match(
    player: Any,
    opponent: Any,
    env_cfg: EnvConfig,
    games: int,
    opponent_name: str,
    opponent_rating: float,
    seed: int = 0,
    arenas: int = 64,
    record: GameRecorder | None = None,
    player_name: str = "player",
) -> MatchReport:
    """Play real RocketSim games, ``player`` on blue in even games and orange in odd ones; a game ends on a goal
    (a win or loss) or a timeout (a draw). ``record``: see :func:`play_games` (``player_name`` and
    ``opponent_name`` label the teams)."""

    def names(g: int) -> tuple[str, str]:
        return (player_name, opponent_name) if g % 2 == 0 else (opponent_name, player_name)

    stats = play_games(
        env_cfg,
        games,
        lambda g: (player, opponent) if g % 2 == 0 else (opponent, player),
        seed,
        arenas,
        record,
        names,
    )
    return match_report(stats, [g % 2 for g in range(games)], opponent_name, opponent_rating)


# ------------------------------------------------------------------------------------------------ calibration


@dataclass(frozen=True)
class Calibration:
    """The built-in opponents' ratings fitted from their head-to-head games, and those games."""

    team_size: int
    games_per_pair: int
    reports: list[tuple[str, MatchReport]]  # (player, report against report.opponent)
    fit: Any  # rl_bot.league.ratings.RatingFit

    def text(self) -> str:
        """The games, the fitted ratings with intervals, and the config lines to use them."""
        from rl_bot.league.opponents import BUILTIN, SCALE_ANCHOR

        lines = [f"{self.team_size}v{self.team_size}, {self.games_per_pair} games per pair:"]
        lines += [f"  {r.line(player)}" for player, r in self.reports]
        lines.append(f"ratings ({SCALE_ANCHOR} fixed at {self.fit.ratings[SCALE_ANCHOR]:.0f}; 95 % intervals):")
        for name in BUILTIN:
            lo, hi = self.fit.interval(name)
            lines.append(f"  {name:<10} {self.fit.ratings[name]:7.1f}  ({lo:.0f} to {hi:.0f})")
        ratings = ", ".join(f"{n}: {self.fit.ratings[n]:.0f}" for n in BUILTIN)
        lines.append(f"config: league: {{anchor_ratings: {{{ratings}}}}}")
        return "\n".join(lines)


def calibrate(env_cfg: EnvConfig, games: int, seed: int = 0, arenas: int = 64) -> Calibration:
    """Play every pair of built-in opponents ``games`` times (sides alternating) and fit their ratings with
    ``rule`` fixed at 1500. No-touch timeouts are not rated; every pair also gets one virtual draw, a weak prior
    that keeps a clean sweep finite."""
    from itertools import combinations

    from rl_bot.league.opponents import BUILTIN, SCALE_ANCHOR, SCALE_ANCHOR_RATING
    from rl_bot.league.ratings import Result, fit_ratings

    reports, results = [], []
    for k, (a, b) in enumerate(combinations(BUILTIN, 2)):
        r = play_match(
            builtin_policy(b, seed + 2 * k),
            builtin_policy(a, seed + 2 * k + 1),
            env_cfg,
            games,
            a,
            math.nan,
            seed=seed + 1000 * k,
            arenas=arenas,
        )
        reports.append((b, r))
        results.append(Result(b, a, r.rated_games + 1, r.wins + 0.5 * r.draws_time + 0.5))
    fit = fit_ratings(results, {SCALE_ANCHOR: SCALE_ANCHOR_RATING})
    return Calibration(env_cfg.team_size, games, reports, fit)
