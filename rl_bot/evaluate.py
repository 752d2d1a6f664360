"""Play real RocketSim games with a trained module (no Ray needed) and measure what it does.

The learner's copy of ``main`` is loaded from a checkpoint (env runner copies have an unsynced value head,
see STACK.md). With an LSTM, the state is carried step to step and zeroed at each reset.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rl_bot.checkpoints import latest_checkpoint, list_checkpoints
from rl_bot.config import ConfigError, EnvConfig
from rl_bot.env.game import NUM_ACTIONS, RLGymGame

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


class ModulePolicy:
    """Acts for a set of cars with an RLlib RLModule, carrying LSTM state per car."""

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
        from ray.rllib.core.rl_module.rl_module import RLModule

        return cls(RLModule.from_checkpoint(str(ckpt / MODULE_SUBPATH)), explore, seed)

    def reset(self, agents: list[str]) -> None:
        """Zero the recurrent state for a new episode."""
        if self.stateful:
            init = self.module.get_initial_state()
            self.state = {a: {k: v.unsqueeze(0) for k, v in init.items()} for a in agents}

    def act(self, obs: dict[str, np.ndarray], state: Any = None) -> dict[str, int]:
        """One action per car in ``obs`` (sampled when ``explore``, else argmax)."""
        torch = self.torch
        agents = list(obs)
        batch: dict[str, Any] = {"obs": torch.from_numpy(np.stack([obs[a] for a in agents]))}
        if self.stateful:
            batch["obs"] = batch["obs"].unsqueeze(1)  # [B, T=1, obs]
            keys = self.state[agents[0]].keys()
            batch["state_in"] = {k: torch.cat([self.state[a][k] for a in agents]) for k in keys}
        with torch.no_grad():
            out = self.module.forward_inference(batch)
        logits = out["action_dist_inputs"].reshape(len(agents), -1)
        if self.stateful:
            for i, a in enumerate(agents):
                self.state[a] = {k: v[i : i + 1] for k, v in out["state_out"].items()}
        if self.explore:
            probs = torch.softmax(logits, dim=-1)
            acts = torch.multinomial(probs, 1, generator=self.gen).squeeze(1)
        else:
            acts = logits.argmax(dim=-1)
        return {a: int(x) for a, x in zip(agents, acts.tolist(), strict=True)}


def snapshot_policy(ckpt: Path, member: str, explore: bool = True, seed: int = 0) -> tuple[ModulePolicy, float]:
    """A league snapshot of the checkpoint's run as a policy, and its rating in that checkpoint's league state
    (the run's initial rating if the checkpoint does not know it); :class:`ConfigError` if there is no such
    snapshot."""
    from rl_bot.algo import inference_module
    from rl_bot.checkpoints import LEAGUE_STATE_FILE
    from rl_bot.config import read_yaml, validate_config
    from rl_bot.league.driver import load_snapshot, snapshot_file

    run_dir = ckpt.parent.parent
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
    cfg = validate_config(read_yaml(run_dir / "config.yaml"), str(run_dir / "config.yaml"))
    module = inference_module(cfg)
    module.set_state(load_snapshot(path))
    rating = cfg.league.initial_rating
    state_file = ckpt / LEAGUE_STATE_FILE
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        rating = next((m["rating"] for m in state["members"] + state["retired"] if m["id"] == member), rating)
    return ModulePolicy(module, explore, seed), float(rating)


class RandomPolicy:
    """Uniformly random lookup-table actions."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def reset(self, agents: list[str]) -> None:
        """Nothing to reset."""

    def act(self, obs: dict[str, np.ndarray], state: Any = None) -> dict[str, int]:
        """One random action per car in ``obs``."""
        return {a: int(self.rng.integers(NUM_ACTIONS)) for a in obs}


class RulePolicy:
    """The scripted :class:`~rl_bot.league.rule_bot.RuleBot`, acting from the observations."""

    def __init__(self) -> None:
        from rl_bot.league.rule_bot import RuleBot

        self.bot = RuleBot()

    def reset(self, agents: list[str]) -> None:
        """Stateless."""

    def act(self, obs: dict[str, np.ndarray], state: Any = None) -> dict[str, int]:
        """One action per car in ``obs``, computed from its observation (``state`` is not read)."""
        return self.bot.act_obs(obs)


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


def play_episode(game: RLGymGame, sides: list[tuple[Any, list[str]]]) -> Any:
    """Reset ``game`` and play one episode, each policy acting for its cars; returns the episode's stats."""
    obs = game.reset()
    done = False
    while not done:
        actions: dict[str, int] = {}
        for policy, cars in sides:
            actions.update(policy.act({a: obs[a] for a in cars}, game.state))
        obs, _, term, trunc = game.step({a: np.atleast_1d(np.int64(x)) for a, x in actions.items()})
        done = term or trunc
    return game.stats


def bootstrap_ratio_ci(num: np.ndarray, den: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of ``sum(num)/sum(den)`` resampling episodes."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n, len(num)))
    ratios = num[idx].sum(1) / np.maximum(den[idx].sum(1), 1e-9)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def play_selfplay(policy: Any, env_cfg: EnvConfig, episodes: int, seed: int = 0) -> SelfPlayReport:
    """Play ``episodes`` full games with ``policy`` driving every car; count touches and goals from physics."""
    game = RLGymGame(env_cfg)
    game.seed(seed)
    touches, minutes, goals = [], [], []
    try:
        for _ in range(episodes):
            policy.reset(game.agents)
            s = play_episode(game, [(policy, game.agents)])
            touches.append(s.touches)
            minutes.append(s.length * env_cfg.step_seconds / 60.0)
            goals.append(s.goals_blue + s.goals_orange)
    finally:
        game.close()
    t, m = np.array(touches, float), np.array(minutes, float)
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
    """Results of ``games`` games of a player against an opponent (sides alternate; blue first)."""

    games: int
    wins: int
    draws: int
    losses: int
    goals_for: int
    goals_against: int
    opponent: str
    opponent_rating: float

    @property
    def win_rate(self) -> float:
        """Wins / games."""
        return self.wins / self.games

    @property
    def win_rate_ci(self) -> tuple[float, float]:
        """95 % Wilson interval of the win rate."""
        from rl_bot.league.elo import wilson_interval

        return wilson_interval(self.wins, self.games)

    @property
    def score_rate(self) -> float:
        """(wins + draws / 2) / games, the Elo score."""
        return (self.wins + 0.5 * self.draws) / self.games

    @property
    def elo(self) -> float:
        """Performance rating against the opponent's rating."""
        from rl_bot.league.elo import performance_rating

        return performance_rating(self.score_rate, self.games, self.opponent_rating)

    def line(self, label: str) -> str:
        """Human summary."""
        lo, hi = self.win_rate_ci
        return (
            f"{label} vs {self.opponent}: {self.games} games | W-D-L {self.wins}-{self.draws}-{self.losses} | "
            f"goals {self.goals_for}-{self.goals_against} | win rate {self.win_rate:.2f} (95% CI {lo:.2f}-"
            f"{hi:.2f}) | Elo estimate {self.elo:.0f} (opponent rated {self.opponent_rating:.0f})"
        )


def play_match(
    player: Any,
    opponent: Any,
    env_cfg: EnvConfig,
    games: int,
    opponent_name: str,
    opponent_rating: float,
    seed: int = 0,
) -> MatchReport:
    """Play real RocketSim games, ``player`` on blue in even games and orange in odd ones; a game ends on a goal
    (a win or loss) or a timeout (a draw)."""
    from rl_bot.league.elo import outcome_from_goals

    game = RLGymGame(env_cfg)
    game.seed(seed)
    wins = draws = losses = goals_for = goals_against = 0
    try:
        for g in range(games):
            player_team = g % 2
            mine = [a for a in game.agents if (a.startswith("orange") == bool(player_team))]
            theirs = [a for a in game.agents if a not in mine]
            player.reset(mine)
            opponent.reset(theirs)
            s = play_episode(game, [(player, mine), (opponent, theirs)])
            gf, ga = (s.goals_blue, s.goals_orange) if player_team == 0 else (s.goals_orange, s.goals_blue)
            goals_for += gf
            goals_against += ga
            score = outcome_from_goals(gf, ga)
            wins += score == 1.0
            draws += score == 0.5
            losses += score == 0.0
    finally:
        game.close()
    return MatchReport(games, wins, draws, losses, goals_for, goals_against, opponent_name, opponent_rating)
