"""The run's league files (pure): ``RUN_DIR/league/`` with ``games.csv``, ``games.discarded.csv`` and
``snapshots/<id>.pkl``.

On resume from a checkpoint taken after iteration K, ``games.csv`` keeps the rows of iterations <= K (exactly the
games in the restored league state) and the later rows move to ``games.discarded.csv``: they were played by a part
of the run that the resume throws away. Snapshot numbering continues after the highest snapshot file on disk, so
no id and no file is ever reused.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

from rl_bot.league.league import snapshot_number

LEAGUE_DIR = "league"
GAMES_CSV = "games.csv"
DISCARDED_CSV = "games.discarded.csv"


def snapshot_file(run_dir: Path, member_id: str) -> Path:
    """Where a snapshot's weights live."""
    return run_dir / LEAGUE_DIR / "snapshots" / f"{member_id}.pkl"


def load_snapshot(path: Path) -> dict[str, Any]:
    """A snapshot's module state (numpy arrays; loads into main's architecture, inference-only or not)."""
    with path.open("rb") as f:
        return pickle.load(f)


def highest_snapshot_on_disk(run_dir: Path) -> int:
    """The largest snapshot number with a file in the run's snapshot folder (0 if none)."""
    folder = snapshot_file(run_dir, "x").parent
    numbers = [snapshot_number(p.stem) for p in folder.glob("*.pkl")] if folder.is_dir() else []
    return max([n for n in numbers if n is not None], default=0)


def split_games_csv(league_dir: Path, last_iteration: int) -> int:
    """Keep the rows of iterations <= ``last_iteration`` in ``games.csv``; append the others to
    ``games.discarded.csv``. Returns how many rows moved."""
    path = league_dir / GAMES_CSV
    if not path.is_file():
        return 0
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    col = header.index("iteration")
    keep = [r for r in body if int(r[col]) <= last_iteration]
    drop = [r for r in body if int(r[col]) > last_iteration]
    if drop:
        discarded = league_dir / DISCARDED_CSV
        new = not discarded.exists()
        with discarded.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(header)
            w.writerows(drop)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(keep)
        tmp.replace(path)
    return len(drop)
