"""``rl-bot bench --learning``: what N minutes of training make, measured in games.

One call trains a config for N minutes of wall time (a normal run: its folder, checkpoints and MLflow run stay),
then plays the last checkpoint in real RocketSim games: against the uniformly random car and against the ``rule``
bot, each with greedy and with sampled actions (sides alternating; a game ends on a goal or a timeout), and in
self-play for its touch rate. The result is one row of ``docs/learning.md``'s table: the commit, the command, the
wall time and env steps, every result with its 95 % interval, and the policy's entropy and explained variance in
the last iteration. Learning targets live in these rows, never in timed tests.
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_bot.config import ConfigError, TrainConfig, validate_config

#: The table ``--markdown`` appends to, created with this header when the file has none.
TABLE_HEADER = (
    "| date | commit | command | wall time | env steps | vs random, greedy | vs random, sampled | vs rule, greedy "
    "| vs rule, sampled | self-play touches/min | entropy, EV at end |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)
TABLE_MARK = "<!-- learning-bench rows: rl-bot bench --learning appends below -->"

#: The fixed opponents every row plays.
OPPONENTS = ("random", "rule")


@dataclass(frozen=True)
class LearningResult:
    """One ``bench --learning`` measurement."""

    command: str
    commit: str
    run_dir: Path
    checkpoint: Path
    wall_time_s: float
    env_steps: int
    iterations: int
    matches: dict[tuple[str, bool], Any]  # (opponent, greedy) -> MatchReport
    selfplay: Any  # SelfPlayReport (sampled actions)
    entropy: float
    explained_variance: float

    def row(self) -> str:
        """The markdown table row."""
        cells = [
            dt.date.today().isoformat(),
            f"`{self.commit}`",
            f"`{self.command}`",
            f"{self.wall_time_s / 60:.1f} min ({self.iterations} iterations)",
            f"{self.env_steps:,}",
            *(match_cell(self.matches[(o, g)]) for o in OPPONENTS for g in (True, False)),
            touches_cell(self.selfplay),
            f"{self.entropy:.2f}, {self.explained_variance:.2f}",
        ]
        return "| " + " | ".join(cells) + " |"

    def text(self) -> str:
        """Human summary, one line per result."""
        lines = [
            f"trained {self.wall_time_s / 60:.1f} min, {self.env_steps:,} env steps, {self.iterations} iterations "
            f"({self.run_dir}); entropy {self.entropy:.2f}, explained variance {self.explained_variance:.2f} at the end"
        ]
        for (_, greedy), report in self.matches.items():
            lines.append(report.line(f"{'greedy' if greedy else 'sampled'} actions"))
        lines.append(self.selfplay.line("self-play, sampled actions"))
        return "\n".join(lines)


def match_cell(report: Any) -> str:
    """``W-D-L (no-touch n) · win 0.xx (lo–hi)`` for one match."""
    lo, hi = report.win_rate_ci
    return (
        f"{report.wins}-{report.draws}-{report.losses} (no-touch {report.draws_no_touch}) · win "
        f"{report.win_rate:.2f} ({lo:.2f}–{hi:.2f})"
    )


def touches_cell(report: Any) -> str:
    """Touches per game minute with its interval."""
    lo, hi = report.touches_per_minute_ci
    return f"{report.touches_per_minute:.1f} ({lo:.1f}–{hi:.1f})"


def commit_id(cwd: Path | None = None) -> str:
    """The checkout's short commit (``+dirty`` with uncommitted changes to tracked files), else ``unknown``."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def learning_config(cfg: TrainConfig, minutes: float) -> TrainConfig:
    """``cfg`` stopped by wall time only: ``minutes`` of training, no iteration or step limit."""
    if not minutes > 0:
        raise ConfigError([f"--minutes must be > 0 (got {minutes})"], "--minutes")
    data = cfg.to_plain()
    data["stop"] = {"iterations": None, "env_steps": None, "wall_time_s": minutes * 60.0}
    return validate_config(data, "bench --learning")


def evaluate_checkpoint(
    ckpt: Path, cfg: TrainConfig, games: int, seed: int = 0, arenas: int = 64
) -> tuple[dict[tuple[str, bool], Any], Any]:
    """The checkpoint against each of :data:`OPPONENTS` (greedy and sampled) and in self-play (sampled)."""
    from rl_bot.evaluate import ModulePolicy, builtin_policy, load_main_module, play_match, play_selfplay
    from rl_bot.league.opponents import builtin_ratings

    module = load_main_module(ckpt)  # loaded once; each policy keeps its own recurrent state and sampling stream

    env_cfg = cfg.env
    ratings = builtin_ratings(env_cfg.team_size, cfg.league.anchor_ratings)
    matches = {}
    for opponent in OPPONENTS:
        for greedy in (True, False):
            policy = ModulePolicy(module, explore=not greedy, seed=seed)
            matches[(opponent, greedy)] = play_match(
                policy,
                builtin_policy(opponent, seed + 1),
                env_cfg,
                games,
                opponent,
                ratings[opponent],
                seed=seed,
                arenas=arenas,
                player_name=ckpt.name,
            )
    selfplay = play_selfplay(ModulePolicy(module, explore=True, seed=seed), env_cfg, games, seed, arenas)
    return matches, selfplay


def _last(history: list[dict[str, float]], key: str) -> float:
    for row in reversed(history):
        if key in row and math.isfinite(row[key]):
            return float(row[key])
    return math.nan


def append_row(markdown: Path, row: str) -> None:
    """Append ``row`` to the table after :data:`TABLE_MARK` in ``markdown`` (the mark and header are added at the
    end of the file when missing)."""
    text = markdown.read_text() if markdown.exists() else ""
    if TABLE_MARK not in text:
        text = text.rstrip("\n") + ("\n\n" if text else "") + f"{TABLE_MARK}\n\n{TABLE_HEADER}\n"
    head, _, tail = text.partition(TABLE_MARK)
    lines = tail.split("\n")
    # the table is the first run of lines starting with "|" after the mark; the row goes after its last line
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:  # the mark without its table: the header goes back right after it
        lines[1:1] = ["", *TABLE_HEADER.split("\n")]
        start = 2
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines.insert(end, row)
    markdown.write_text(head + TABLE_MARK + "\n".join(lines))


def run_learning_bench(
    cfg: TrainConfig,
    minutes: float,
    games: int,
    command: str,
    markdown: Path | None = None,
    seed: int = 0,
    arenas: int = 64,
    run_dir: Path | None = None,
    console: Any = None,
) -> LearningResult:
    """Train ``cfg`` for ``minutes`` (a normal run in ``run_dir``, default: a new folder as ``rl-bot train``
    names it), evaluate its last checkpoint, print the result and append its row to ``markdown``."""
    from rl_bot.console import plain_console, quiet_output
    from rl_bot.train import TrainPlan, new_run_dir, preflight, remove_unstarted, run

    if games < 1:
        raise ConfigError([f"--games must be >= 1 (got {games})"], "--games")
    train_cfg = learning_config(cfg, minutes)
    preflight(train_cfg, None)  # local Ray: this machine has what the config asks for, MLflow answers
    run_dir = run_dir or new_run_dir(train_cfg)
    existed = run_dir.exists()
    say = (console or plain_console()).say
    try:
        with quiet_output(run_dir) as quiet:
            summary = run(TrainPlan(train_cfg, run_dir, None, run_name=run_dir.name), console=quiet)
    except ConfigError:
        if not existed:
            remove_unstarted(run_dir)
        raise
    if summary.last_checkpoint is None:
        raise ConfigError([f"the run in {run_dir} wrote no checkpoint"], "bench --learning")
    say(f"playing {games} games against each of {', '.join(OPPONENTS)} (greedy and sampled) and in self-play ...")
    matches, selfplay = evaluate_checkpoint(summary.last_checkpoint, cfg, games, seed, arenas)
    result = LearningResult(
        command=command,
        commit=commit_id(),
        run_dir=run_dir,
        checkpoint=summary.last_checkpoint,
        wall_time_s=summary.wall_time_s,
        env_steps=summary.env_steps,
        iterations=summary.iterations,
        matches=matches,
        selfplay=selfplay,
        entropy=_last(summary.history, "losses/entropy"),
        explained_variance=_last(summary.history, "losses/explained_variance"),
    )
    say(result.text())
    if markdown is not None:
        append_row(markdown, result.row())
        say(f"row appended to {markdown}")
    return result
