"""Checkpoint layout inside a run directory (pure: no Ray import).

``RUN_DIR/checkpoints/iter_000010/`` holds RLlib's ``Algorithm.save_to_path`` output (learner weights and
optimizer state, env runner state, counters) plus ``rl_bot_state.json`` (our counters). A checkpoint is
written to a ``.tmp`` folder and renamed when complete, so a crash never leaves a half-written checkpoint
that looks valid; resuming takes the newest complete folder.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from rl_bot.config import ConfigError

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "rl_bot_state.json"
#: The league's state (``League.state()`` as JSON), in every checkpoint of a run with the league on.
LEAGUE_STATE_FILE = "league_state.json"
#: The curriculum's state (``Curriculum.state()`` as JSON), in every checkpoint of a run with a curriculum.
CURRICULUM_STATE_FILE = "curriculum_state.json"
REQUIRED_FILES = ("rllib_checkpoint.json", "algorithm_state.pkl", STATE_FILE)
#: Keys every league state has (``League.state()``); older formats lack some and cannot be resumed.
LEAGUE_STATE_KEYS = ("members", "retired", "results", "slot_freed", "iteration", "snapshots_taken", "history")
_NAME = re.compile(r"^iter_(\d{6,})$")


@dataclass(frozen=True)
class CheckpointState:
    """Our counters saved beside RLlib's state."""

    iteration: int
    env_steps: int
    agent_steps: int
    wall_time_s: float


def run_dir_of(ckpt: Path) -> Path:
    """The run directory a checkpoint folder belongs to (``RUN_DIR/checkpoints/iter_…``)."""
    return ckpt.parent.parent


def checkpoint_name(iteration: int) -> str:
    """Folder name for the checkpoint taken after ``iteration``."""
    return f"iter_{iteration:06d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete-looking checkpoint folders, oldest first."""
    root = run_dir / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def read_state(ckpt: Path) -> CheckpointState:
    """Validate a checkpoint folder and return its counters; :class:`ConfigError` if missing or corrupt."""
    if not ckpt.is_dir():
        raise ConfigError([f"checkpoint {str(ckpt)!r} does not exist"], "--resume")
    missing = [f for f in REQUIRED_FILES if not (ckpt / f).is_file()]
    if missing:
        raise ConfigError(
            [
                f"checkpoint {str(ckpt)!r} is incomplete or corrupt: missing {', '.join(missing)}; "
                "resume from an earlier checkpoint folder instead"
            ],
            "--resume",
        )
    try:
        data = json.loads((ckpt / STATE_FILE).read_text())
        json.loads((ckpt / "rllib_checkpoint.json").read_text())
        return CheckpointState(**data)
    except (ValueError, TypeError) as e:
        raise ConfigError(
            [f"checkpoint {str(ckpt)!r} is corrupt: cannot read its state files ({e})"], "--resume"
        ) from None


def latest_checkpoint(run_dir: Path) -> tuple[Path, CheckpointState]:
    """The newest valid checkpoint of a run directory, or :class:`ConfigError` saying what is wrong."""
    if not run_dir.is_dir():
        raise ConfigError([f"run directory {str(run_dir)!r} does not exist; pass a folder under runs/"], "--resume")
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise ConfigError(
            [f"run directory {str(run_dir)!r} has no checkpoints in {CHECKPOINT_DIR}/; nothing to resume"],
            "--resume",
        )
    # A process killed while it wrote a checkpoint leaves an incomplete folder: go back to the newest complete one.
    for ckpt in reversed(ckpts[1:]):
        try:
            return ckpt, read_state(ckpt)
        except ConfigError:
            continue
    return ckpts[0], read_state(ckpts[0])


def newer_incomplete(run_dir: Path, ckpt: Path) -> list[Path]:
    """Checkpoint folders newer than ``ckpt`` that are incomplete (a save interrupted by a killed process)."""
    ckpts = list_checkpoints(run_dir)
    return ckpts[ckpts.index(ckpt) + 1 :] if ckpt in ckpts else []


def read_league_state(ckpt: Path) -> dict:
    """The league state saved in a checkpoint; :class:`ConfigError` if it is missing or unreadable."""
    path = ckpt / LEAGUE_STATE_FILE
    if not path.is_file():
        raise ConfigError(
            [
                f"checkpoint {str(ckpt)!r} has no {LEAGUE_STATE_FILE} although the run has the league on; it is "
                "incomplete: resume from an earlier checkpoint folder"
            ],
            "--resume",
        )
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict):
            raise ValueError("not a league state")
    except ValueError as e:
        raise ConfigError(
            [f"checkpoint {str(ckpt)!r} has a corrupt {LEAGUE_STATE_FILE} ({e}); resume from an earlier checkpoint"],
            "--resume",
        ) from None
    missing = [k for k in LEAGUE_STATE_KEYS if k not in state]
    if missing:
        raise ConfigError(
            [
                f"checkpoint {str(ckpt)!r} has a {LEAGUE_STATE_FILE} written by an older rl-bot (no "
                f"{', '.join(missing)}); its league cannot be resumed: start a new run"
            ],
            "--resume",
        )
    return state


def write_state(ckpt_tmp: Path, state: CheckpointState) -> None:
    """Write our counters into a checkpoint folder being assembled."""
    (ckpt_tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))


def finalize(ckpt_tmp: Path, final: Path, keep_last: int) -> None:
    """Publish a complete checkpoint folder under its final name, then delete all but the newest ``keep_last``
    complete ones. A folder of the same name is moved aside first and deleted only after the rename, so a process
    killed at any point leaves at least one complete checkpoint."""
    aside = final.with_name(final.name + ".old")
    if aside.exists():
        shutil.rmtree(aside)
    if final.exists():
        final.rename(aside)
    ckpt_tmp.rename(final)
    shutil.rmtree(aside, ignore_errors=True)
    complete = []
    for ckpt in list_checkpoints(final.parent.parent):
        try:
            read_state(ckpt)
            complete.append(ckpt)
        except ConfigError:
            continue
    for old in complete[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
