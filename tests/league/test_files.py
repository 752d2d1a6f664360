"""The run's league files on resume: games after the checkpoint move aside, snapshot numbering follows the disk."""

import csv

from rl_bot.league.files import DISCARDED_CSV, GAMES_CSV, highest_snapshot_on_disk, snapshot_file, split_games_csv
from rl_bot.league.league import GameRecord


def write_games(path, iterations):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(GameRecord.FIELDS)
        for it in iterations:
            w.writerow(["t", it, 0, "rule", "anchor", 0, 1, "goal", "loss", True])


def iterations_in(path):
    return [int(r["iteration"]) for r in csv.DictReader(path.open())]


def test_games_after_the_checkpoint_move_to_the_discarded_file(tmp_path):
    write_games(tmp_path / GAMES_CSV, [1, 1, 2, 3, 3, 4])
    assert split_games_csv(tmp_path, 2) == 3
    assert iterations_in(tmp_path / GAMES_CSV) == [1, 1, 2]
    assert iterations_in(tmp_path / DISCARDED_CSV) == [3, 3, 4]
    # a second resume appends to the discarded file; nothing to move leaves both files as they are
    write_games(tmp_path / GAMES_CSV, [1, 2, 5])
    assert split_games_csv(tmp_path, 2) == 1
    assert iterations_in(tmp_path / DISCARDED_CSV) == [3, 3, 4, 5]
    assert split_games_csv(tmp_path, 9) == 0 and iterations_in(tmp_path / GAMES_CSV) == [1, 2]
    assert split_games_csv(tmp_path / "nowhere", 1) == 0


def test_snapshot_numbering_follows_the_files_on_disk(tmp_path):
    assert highest_snapshot_on_disk(tmp_path) == 0
    for sid in ("snap-0002", "snap-0011", "notes"):
        p = snapshot_file(tmp_path, sid)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    assert highest_snapshot_on_disk(tmp_path) == 11
