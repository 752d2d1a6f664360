"""rl-bot bench --learning: a real (tiny) run is trained for its minutes, played against the fixed opponents, and its
row lands in the learning table; bad input exits 2 before anything trains."""

import re

import pytest
import yaml
from tiny import tiny

from rl_bot.cli import main as cli
from rl_bot.config import ConfigError, load_config
from rl_bot.learning import TABLE_HEADER, TABLE_MARK, append_row, learning_config

pytestmark = pytest.mark.usefixtures("ray_guard")


def test_learning_config_stops_on_wall_time_only():
    cfg = learning_config(load_config(None, []), 2.5)
    assert (cfg.stop.iterations, cfg.stop.env_steps, cfg.stop.wall_time_s) == (None, None, 150.0)
    with pytest.raises(ConfigError, match="--minutes must be > 0"):
        learning_config(load_config(None, []), 0)


def test_rows_append_to_the_table_after_the_mark_and_keep_the_rest_of_the_file(tmp_path):
    md = tmp_path / "learning.md"
    md.write_text("# Learning\n\nintro\n")
    append_row(md, "| a |")
    text = md.read_text()
    assert text.startswith("# Learning\n\nintro\n") and f"{TABLE_MARK}\n\n{TABLE_HEADER}\n| a |" in text
    md.write_text(md.read_text() + "\n## Later section\n\ntext\n")
    append_row(md, "| b |")
    text = md.read_text()
    assert "| a |\n| b |\n" in text
    assert text.index("| b |") < text.index("## Later section") and text.endswith("text\n")
    assert text.count(TABLE_MARK) == 1 and text.count(TABLE_HEADER) == 1


def test_a_mark_whose_table_was_deleted_gets_its_header_back(tmp_path):
    md = tmp_path / "learning.md"
    md.write_text(f"# Learning\n\n{TABLE_MARK}\n\nlater text\n")
    append_row(md, "| a |")
    text = md.read_text()
    assert f"{TABLE_MARK}\n\n{TABLE_HEADER}\n| a |" in text and text.endswith("later text\n")


def test_bench_learning_without_minutes_exits_2_and_trains_nothing(project_home, capsys):
    assert cli(["bench", "--learning"]) == 2
    assert "--learning needs --minutes N" in capsys.readouterr().err
    assert not (project_home / "runs").exists()


def test_bench_learning_trains_evaluates_and_appends_its_row(project_home, capsys):
    cfg_path = project_home / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(stop={"iterations": 100}, tracking={"enabled": False})))
    md = project_home / "learning.md"
    args = ["bench", "--learning", "--minutes", "0.05", "--games", "6", "--config", str(cfg_path)]
    assert cli([*args, "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    # wall time is the only stop: a few seconds train one iteration, not 100
    m = re.search(r"trained ([\d.]+) min, ([\d,]+) env steps, (\d+) iterations \((.+?)\)", out)
    assert m, out
    assert int(m.group(3)) < 100 and int(m.group(2).replace(",", "")) >= 600
    run_dir = project_home / "runs" / m.group(4).split("/runs/")[-1]
    assert (run_dir / "checkpoints").is_dir() and (run_dir / "train.log").is_file()
    # every match: 6 games, greedy and sampled, against both fixed opponents; self-play's touch rate
    lines = [line for line in out.splitlines() if " vs random: " in line or " vs rule: " in line]
    assert len(lines) == 4 and all(": 6 games |" in line for line in lines)
    assert sum(line.startswith("greedy actions") for line in lines) == 2
    assert "self-play, sampled actions: 6 episodes" in out
    row = md.read_text().split(TABLE_HEADER)[1].strip()
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == TABLE_HEADER.split("\n")[0].count("|") - 1
    assert cells[2] == f"`rl-bot {' '.join(args)}`"
    for cell in cells[5:9]:
        w, d, lost = (int(x) for x in re.match(r"(\d+)-(\d+)-(\d+) ", cell).groups())
        assert w + d + lost == 6


def test_bench_learning_asking_for_more_cpus_than_the_machine_has_exits_2_before_ray(project_home, capsys):
    import os

    runners = f"resources.num_env_runners={(os.cpu_count() or 1) + 8}"
    md = project_home / "learning.md"
    assert cli(["bench", "--learning", "--minutes", "1", "--set", runners, "--markdown", str(md)]) == 2
    assert "resources" in capsys.readouterr().err and not md.exists()
    assert not (project_home / "runs").exists()


def test_bench_learning_whose_run_fails_on_bad_input_after_ray_leaves_no_run_folder(project_home, capsys, monkeypatch):
    # a problem only Ray sees (run() raises ConfigError after the run folder got its log file): exit 2, no folder
    import rl_bot.train as train

    def failing_run(plan, console=None, quiet=False):
        (plan.run_dir / train.LOG_FILE).write_text("ray started\n")
        raise ConfigError(["the cluster cannot place 2 env runners"], "resources")

    monkeypatch.setattr(train, "run", failing_run)
    md = project_home / "learning.md"
    assert cli(["bench", "--learning", "--minutes", "1", "--markdown", str(md)]) == 2
    assert "cannot place 2 env runners" in capsys.readouterr().err and not md.exists()
    runs = project_home / "runs"
    assert not runs.exists() or not any(runs.iterdir())
