"""Bad input exits 2 with one clear message before Ray starts; nothing saved is touched."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rl_bot.checkpoints import (
    CHECKPOINT_DIR,
    STATE_FILE,
    CheckpointState,
    checkpoint_name,
    finalize,
    latest_checkpoint,
    list_checkpoints,
    newer_incomplete,
    write_state,
)
from rl_bot.config import ConfigError, load_config
from rl_bot.train import eta_seconds, progress_line, should_stop

PROBE = textwrap.dedent(
    """
    import sys
    from rl_bot.cli import main
    rc = main(sys.argv[1:])
    print("RAY_IMPORTED=%s" % ("ray" in sys.modules), file=sys.stderr)
    sys.exit(rc)
    """
)


def rl_bot(*args, env_home):
    """Run the CLI in a fresh interpreter; report whether it ever imported Ray."""
    import os

    env = dict(os.environ, RL_BOT_HOME=str(env_home))
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120)
    return proc.returncode, proc.stderr


def test_bad_config_exits_2_naming_both_errors_and_starts_no_ray(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ppo:\n  learnin_rate: 0.1\nresources:\n  num_env_runners: two\n")
    rc, err = rl_bot("train", "--config", str(bad), env_home=tmp_path)
    assert rc == 2
    assert "ppo.learnin_rate: unknown key" in err
    assert "resources.num_env_runners" in err and "'two'" in err
    assert "RAY_IMPORTED=False" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlruns").exists()


def test_python_m_entry_point_exits_2_too(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("env:\n  team_size: 7\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rl_bot.train", "--config", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "env.team_size" in proc.stderr


def test_dead_ray_address_exits_2(tmp_path):
    rc, err = rl_bot("train", "--address", "127.0.0.1:1", env_home=tmp_path)
    assert rc == 2 and "no Ray cluster answers at '127.0.0.1:1'" in err
    assert "RAY_IMPORTED=False" in err


def test_dead_mlflow_server_and_missing_custom_resources_exit_2_before_ray(tmp_path):
    rc, err = rl_bot("train", "--set", "tracking.mlflow_uri=http://127.0.0.1:1", env_home=tmp_path)
    assert rc == 2 and "no MLflow server answers at tracking.mlflow_uri='http://127.0.0.1:1'" in err
    assert "RAY_IMPORTED=False" in err
    rc, err = rl_bot("train", "--set", "resources.env_runner_resources={env_runner: 1}", env_home=tmp_path)
    assert rc == 2 and "2 x env_runner=1 needs 2 but a local Ray (no custom resources) offers 0" in err
    rc, err = rl_bot("train", "--set", "resources.learner_resources={gpu_node: 1}", env_home=tmp_path)
    assert rc == 2 and "needs learner actors: set resources.num_learners >= 1" in err
    assert not (tmp_path / "runs").exists()


def test_resume_errors_exit_2_and_keep_files(tmp_path):
    rc, err = rl_bot("train", "--resume", str(tmp_path / "missing"), env_home=tmp_path)
    assert rc == 2 and "does not exist" in err

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("run: {name: r1}\n")
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "has no checkpoints" in err

    ckpt = run_dir / CHECKPOINT_DIR / checkpoint_name(3)
    ckpt.mkdir(parents=True)
    (ckpt / "rllib_checkpoint.json").write_text("{}")
    (ckpt / STATE_FILE).write_text(json.dumps({"iteration": 3, "env_steps": 1, "agent_steps": 2, "wall_time_s": 1.0}))
    before = sorted(p.name for p in run_dir.rglob("*"))
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "incomplete or corrupt: missing algorithm_state.pkl" in err
    assert "RAY_IMPORTED=False" in err
    assert sorted(p.name for p in run_dir.rglob("*")) == before

    rc, err = rl_bot("train", "--resume", str(run_dir), "--config", "x.yaml", env_home=tmp_path)
    assert rc == 2 and "cannot be combined with --resume" in err


def test_league_resume_errors_exit_2_before_ray(tmp_path):
    run_dir = tmp_path / "runs" / "r2"
    ckpt = run_dir / CHECKPOINT_DIR / checkpoint_name(4)
    ckpt.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("run: {name: r2}\nleague: {enabled: true}\n")
    for f in ("rllib_checkpoint.json", "algorithm_state.pkl"):
        (ckpt / f).write_text("{}")
    (ckpt / STATE_FILE).write_text(json.dumps({"iteration": 4, "env_steps": 1, "agent_steps": 2, "wall_time_s": 1.0}))
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "has no league_state.json although the run has the league on" in err
    assert "RAY_IMPORTED=False" in err
    (ckpt / "league_state.json").write_text("{half")
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "corrupt league_state.json" in err
    rc, err = rl_bot("train", "--resume", str(run_dir), "--set", "league.opponents=[rule, random]", env_home=tmp_path)
    assert rc == 2 and "league.opponents cannot change on resume" in err
    assert "RAY_IMPORTED=False" in err
    # a league state from an older rl-bot
    (ckpt / "league_state.json").write_text(json.dumps({"members": [], "iteration": 4}))
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "written by an older rl-bot" in err
    # the pool plays a snapshot whose file is gone
    from rl_bot.config import LeagueConfig
    from rl_bot.league.league import League

    lg = League(LeagueConfig(enabled=True), {"random": 700.0, "rule-basic": 1100.0, "rule": 1500.0})
    lg.add_snapshot(2, 100)
    lg.add_snapshot(4, 200)
    (ckpt / "league_state.json").write_text(json.dumps(lg.state()))
    snaps = run_dir / "league" / "snapshots"
    snaps.mkdir(parents=True)
    (snaps / "snap-0001.pkl").write_bytes(b"x")
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "league snapshot file(s) snap-0002 missing" in err and "RAY_IMPORTED=False" in err
    assert (snaps / "snap-0001.pkl").read_bytes() == b"x"  # nothing touched


def test_curriculum_resume_errors_exit_2_before_ray(tmp_path):
    run_dir = tmp_path / "runs" / "r3"
    ckpt = run_dir / CHECKPOINT_DIR / checkpoint_name(2)
    ckpt.mkdir(parents=True)
    stages = "[{name: a, until: {min_env_steps: 10}}, {name: b}]"
    (run_dir / "config.yaml").write_text(f"run: {{name: r3}}\ncurriculum: {{enabled: true, stages: {stages}}}\n")
    for f in ("rllib_checkpoint.json", "algorithm_state.pkl"):
        (ckpt / f).write_text("{}")
    (ckpt / STATE_FILE).write_text(json.dumps({"iteration": 2, "env_steps": 1, "agent_steps": 2, "wall_time_s": 1.0}))
    (ckpt / "curriculum_state.json").write_text(json.dumps({"stage": "b"}))
    rc, err = rl_bot("train", "--resume", str(run_dir), "--set", "curriculum.stages=[{name: a}]", env_home=tmp_path)
    assert rc == 2 and "curriculum stage 'b' is not in curriculum.stages ['a']" in err and "RAY_IMPORTED=False" in err
    # a stage that plays a bot the checkpoint has no module for
    new = "[{name: a}, {name: b, opponents: rule}]"
    rc, err = rl_bot("train", "--resume", str(run_dir), "--set", f"curriculum.stages={new}", env_home=tmp_path)
    assert rc == 2 and "built-in bots played by the league or a curriculum stage cannot change" in err
    assert "RAY_IMPORTED=False" in err
    (ckpt / "curriculum_state.json").unlink()
    rc, err = rl_bot("train", "--resume", str(run_dir), env_home=tmp_path)
    assert rc == 2 and "has no curriculum_state.json although curriculum.enabled" in err and "RAY_IMPORTED=False" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n# only a comment\n", "the file is empty"),
        (b"ppo: {lr: 1.0e-4}\n\xff\xfe bad bytes\n", "not UTF-8 text"),
        (b"- a\n- list\n", "expected a mapping of sections"),
        (b"just a string\n", "expected a mapping of sections"),
        (b"ppo: {lr: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_config_files_exit_2_with_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    for command in ("train", "eval", "bench"):
        rc, err = rl_bot(command, "--config", str(path), env_home=tmp_path)
        assert rc == 2, (command, err)
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


def test_eval_bad_input_exits_2(tmp_path):
    rc, err = rl_bot("eval", "--checkpoint", str(tmp_path), env_home=tmp_path)
    assert rc == 2 and "neither a checkpoint folder" in err
    rc, err = rl_bot("eval", "--team-size", "5", env_home=tmp_path)
    assert rc == 2 and "env.team_size" in err
    rc, err = rl_bot("eval", "--opponent", "rulebot", env_home=tmp_path)
    assert rc == 2 and "use self, random, rule-basic, rule, snapshot:ID (e.g. snapshot:snap-0003) or ff:FILE" in err
    rc, err = rl_bot("eval", "--opponent", "snapshot:snap-0001", env_home=tmp_path)
    assert rc == 2 and "needs --checkpoint" in err


def test_latest_checkpoint_picks_highest_complete_iteration(tmp_path):
    for it in (2, 10, 9):
        d = tmp_path / CHECKPOINT_DIR / checkpoint_name(it)
        d.mkdir(parents=True)
        for f in ("rllib_checkpoint.json", "algorithm_state.pkl"):
            (d / f).write_text("{}")
        (d / STATE_FILE).write_text(
            json.dumps({"iteration": it, "env_steps": it * 10, "agent_steps": it * 20, "wall_time_s": float(it)})
        )
    (tmp_path / CHECKPOINT_DIR / "iter_000011.tmp").mkdir()  # an interrupted save is ignored
    assert [p.name for p in list_checkpoints(tmp_path)] == ["iter_000002", "iter_000009", "iter_000010"]
    path, state = latest_checkpoint(tmp_path)
    assert path.name == "iter_000010" and state.env_steps == 100
    # a process killed while writing iteration 10's files: --resume takes the newest complete one
    (path / STATE_FILE).write_text("{not json")
    path, state = latest_checkpoint(tmp_path)
    assert path.name == "iter_000009" and state.iteration == 9
    assert [p.name for p in newer_incomplete(tmp_path, path)] == ["iter_000010"]
    for it in (2, 9):
        (tmp_path / CHECKPOINT_DIR / checkpoint_name(it) / "algorithm_state.pkl").unlink()
    with pytest.raises(ConfigError, match="incomplete or corrupt"):
        latest_checkpoint(tmp_path)


def test_finalize_keeps_a_complete_checkpoint_at_every_point(tmp_path):
    def complete(name: str, iteration: int) -> Path:
        d = tmp_path / CHECKPOINT_DIR / name
        d.mkdir(parents=True)
        for f in ("rllib_checkpoint.json", "algorithm_state.pkl"):
            (d / f).write_text("{}")
        write_state(d, CheckpointState(iteration, iteration, iteration, 1.0))
        return d

    old = complete(checkpoint_name(5), 5)
    # the same iteration written again (a resume from an older checkpoint): the old folder goes only after the rename
    tmp = complete(checkpoint_name(5) + ".tmp", 5)
    (tmp / "marker").write_text("new")
    finalize(tmp, old, keep_last=2)
    assert (old / "marker").read_text() == "new" and not tmp.exists()
    assert not old.with_name(old.name + ".old").exists()
    # an incomplete newer folder does not count towards keep_last: the complete ones stay
    broken = tmp_path / CHECKPOINT_DIR / checkpoint_name(7)
    broken.mkdir()
    finalize(complete(checkpoint_name(6) + ".tmp", 6), tmp_path / CHECKPOINT_DIR / checkpoint_name(6), keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["iter_000005", "iter_000006", "iter_000007"]
    assert latest_checkpoint(tmp_path)[0].name == "iter_000006"


def test_stop_limits_and_eta():
    cfg = load_config(None, ["stop.iterations=10", "stop.env_steps=1000", "stop.wall_time_s=60"])
    assert should_stop(cfg, 9, 999, 59.0) is None
    assert should_stop(cfg, 10, 0, 0.0) == "stop.iterations=10"
    assert should_stop(cfg, 1, 1000, 0.0) == "stop.env_steps=1000"
    assert should_stop(cfg, 1, 0, 61.0) == "stop.wall_time_s=60.0"
    # 5 iterations left at 2 s = 10 s; 500 steps at 100/s = 5 s; 50 s of wall time: first limit wins
    assert eta_seconds(cfg, 5, 500, 10.0, 2.0, 100.0) == pytest.approx(5.0)
    line = progress_line(
        {
            "iteration": 3,
            "perf/env_steps_total": 48000,
            "perf/agent_steps_per_s": 4500.0,
            "env/episode_return_mean": 1.5,
            "env/episode_length": 150.0,
            "env/touches_per_episode": 0.2,
            "env/goals_per_episode": 0.01,
            "env/no_touch_timeout_rate": 0.85,
            "losses/entropy": 3.97,
            "losses/kl": 0.0123,
            "losses/explained_variance": -0.25,
        },
        75.0,
    )
    for part in (
        "iter    3",
        "48,000",
        "4,500 agent-steps/s",
        "return   1.500",
        "ep len  150.0",
        "touches/ep  0.20",
        "goals/ep 0.010",
        "no-touch  85%",
        "H 3.97 kl 0.01230 EV -0.25",
        "ETA 1m15s",
    ):
        assert part in line


def test_more_env_runners_than_cores_exits_2_before_ray(tmp_path):
    rc, err = rl_bot("train", "--set", "resources.num_env_runners=64", env_home=tmp_path)
    assert rc == 2 and "need 64 CPUs" in err and "num_envs_per_env_runner" in err
    assert "RAY_IMPORTED=False" in err


def test_resource_problems_names_cpus_and_gpus():
    from rl_bot.train import resource_problems

    cfg = load_config(
        None, ["resources.num_env_runners=3", "resources.num_learners=1", "resources.num_gpus_per_learner=1"]
    )
    problems = resource_problems(cfg, cpus=2, gpus=0, where="the Ray cluster")
    assert len(problems) == 2
    assert "need 4 CPUs but the Ray cluster has 2" in problems[0]
    assert "needs 1 GPUs but the Ray cluster has 0" in problems[1]
    assert resource_problems(cfg, cpus=8, gpus=1, where="x") == []


def test_eval_matches_against_built_in_opponents(tmp_path):
    rc, err = rl_bot("eval", "--player", "rule", "--checkpoint", str(tmp_path), env_home=tmp_path)
    assert rc == 2 and "either --checkpoint or --player" in err
    rc, err = rl_bot("eval", "--opponent", "snapshot:3", env_home=tmp_path)
    assert rc == 2 and "--opponent" in err
    proc = subprocess.run(
        [sys.executable, "-m", "rl_bot.cli", "eval", "--player", "rule", "--opponent", "random", "--games", "6"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("rule-based bot, 1v1, tick skip 8 vs random: 6 games | W-D-L ")
    for part in (
        "goals ",
        "win rate ",
        "score rate ",
        "(95% CI ",
        "no-touch timeouts",
        "Elo estimate ",
        "(opponent rated ",
    ):
        assert part in line
