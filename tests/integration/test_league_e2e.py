"""The league on a real local Ray: the actor's state round trip, frozen snapshot slots in env runners, and a
training run with the league on (snapshots, sampled opponents, games rated from physics, MLflow, --resume)."""

import csv
import json
import re

import numpy as np
import pytest
import yaml
from tiny import tiny

from rl_bot.checkpoints import latest_checkpoint
from rl_bot.cli import main as cli
from rl_bot.config import LeagueConfig, load_config

pytestmark = pytest.mark.integration

TINY_LEAGUE = tiny(
    run={"name": "league", "seed": 5},
    ppo={"train_batch_size": 800, "minibatch_size": 400},
    resources={"num_envs_per_env_runner": 4},
    stop={"iterations": 4},
    checkpoint={"every_n_iterations": 2, "keep_last": 3},
    league={
        "enabled": True,
        "main_share": 0.2,
        "snapshot_every_n_iterations": 2,
        "max_pool_size": 2,
        "eval_every_n_iterations": 2,
        "eval_games": 2,
    },
)


def test_actor_state_round_trip(tmp_path, ray_guard):
    import ray

    from rl_bot.league.actor import start_league_actor

    ray.init(num_cpus=1, include_dashboard=False)
    cfg = LeagueConfig(enabled=True, include_random=True)
    a = start_league_actor(cfg, tmp_path / "a", "round-trip-a", None)
    ray.get(a.begin_iteration.remote(1))
    games = [
        {"opponent": "rule", "goals_main": 0, "goals_opponent": 1},
        {"opponent": "random", "goals_main": 1, "goals_opponent": 0},
    ]
    assert ray.get(a.report_games.remote(games, 3)) == 2
    added = ray.get(a.add_snapshot.remote(1, 1000))
    assert added == {"member": "snap-0001", "module": "opp_0", "evicted": []}
    ray.get(a.report_games.remote([{"opponent": "snap-0001", "goals_main": 0, "goals_opponent": 0}]))
    ray.get(a.end_iteration.remote(1))
    state = ray.get(a.state.remote())
    json.dumps(state)  # plain data

    b = start_league_actor(cfg, tmp_path / "b", "round-trip-b", state)
    assert ray.get(b.state.remote()) == state
    assert ray.get(b.plan.remote()) == ray.get(a.plan.remote())
    assert ray.get(b.metrics.remote())["league/games"] == 3.0
    assert ray.get(b.metrics.remote())["league/selfplay_games"] == 3.0

    rows = list(csv.DictReader((tmp_path / "a" / "league" / "games.csv").open()))
    assert [(r["opponent"], r["outcome"]) for r in rows] == [("rule", "loss"), ("random", "win"), ("snap-0001", "draw")]
    assert float(rows[0]["elo_main_after"]) == pytest.approx(1484.0)  # K 32 loss against an equal rating
    assert float(rows[1]["elo_opponent_after"]) == 1000.0  # anchors keep their rating


def test_snapshot_slots_in_env_runners_hold_the_snapshot_weights(tmp_path, ray_guard):
    """Slots get the learner's weights of the snapshot and keep them through later updates of main."""
    import ray

    from rl_bot.algo import build_ppo_config
    from rl_bot.league.driver import LeagueDriver, load_snapshot, snapshot_file

    cfg = load_config(
        None,
        [f"{s}.{k}={json.dumps(v)}" for s, sec in TINY_LEAGUE.items() for k, v in sec.items() if s != "stop"]
        + ["league.eval_every_n_iterations=null", "league.snapshot_every_n_iterations=1", "tracking.enabled=false"],
    )
    ray.init(num_cpus=2, include_dashboard=False)
    algo = build_ppo_config(cfg).build_algo()
    league = LeagueDriver(cfg, tmp_path, "slots", algo, None)
    try:
        for it in (1, 2, 3):
            league.before_iteration(it)
            algo.train()
            league.after_iteration(it, 0)
        # snap-0001 entered opp_0 after iteration 1, snap-0002 opp_1 after iteration 2; snap-0003 replaced snap-0001
        assert league.slot_content == {"opp_0": "snap-0003", "opp_1": "snap-0002"}
        league.before_iteration(4)
        algo.train()  # PPO syncs learner weights to the runners after this update

        def slot_states(runner):
            return {s: {k: np.asarray(v) for k, v in runner.module[s].get_state().items()} for s in ("opp_0", "opp_1")}

        (runner_state,) = algo.env_runner_group.foreach_env_runner(slot_states, local_env_runner=False)
        for slot, member in league.slot_content.items():
            snap = load_snapshot(snapshot_file(tmp_path, member))
            assert set(runner_state[slot]) <= set(snap)
            for k, v in runner_state[slot].items():
                np.testing.assert_array_equal(v, snap[k], err_msg=f"{slot}/{k}")
        # and they differ from main, which kept learning
        main_now = algo.env_runner_group.foreach_env_runner(
            lambda r: {k: np.asarray(v) for k, v in r.module["main"].get_state().items()}, local_env_runner=False
        )[0]
        assert any(not np.array_equal(main_now[k], runner_state["opp_1"][k]) for k in main_now)
    finally:
        league.stop()
        algo.stop()


def test_train_with_league_records_games_and_resumes(project_home, ray_guard, capsys):
    from mlflow.tracking import MlflowClient

    cfg_path = project_home / "league.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY_LEAGUE))
    assert cli(["train", "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert "league: actor" in out
    (run_dir,) = (project_home / "runs").iterdir()

    # games played in RocketSim, rated in order: each row starts from the previous row's rating
    rows = list(csv.DictReader((run_dir / "league" / "games.csv").open()))
    assert len(rows) >= 10
    for prev, row in zip(rows, rows[1:], strict=False):
        assert float(row["elo_main_before"]) == pytest.approx(float(prev["elo_main_after"]), abs=1e-3)
    for row in rows:
        gm, go = int(row["goals_main"]), int(row["goals_opponent"])
        assert row["outcome"] == ("win" if gm > go else "loss" if gm < go else "draw")
        assert row["opponent"] in {"rule", "snap-0001", "snap-0002"}
    assert any(r["outcome"] != "draw" for r in rows)  # goals happen
    assert {r["opponent"] for r in rows} >= {"rule"}

    client = MlflowClient(tracking_uri=f"sqlite:///{project_home}/mlruns/mlflow.db")
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    pool = [(m.step, m.value) for m in client.get_metric_history(run_id, "league/pool_size")]
    assert pool == [(1, 1.0), (2, 2.0), (3, 2.0), (4, 3.0)]  # rule, then a snapshot every 2 iterations
    elo = [m.value for m in client.get_metric_history(run_id, "league/elo_main")]
    assert len(elo) == 4 and len(set(elo)) > 1
    games = [m.value for m in client.get_metric_history(run_id, "league/games")]
    assert games[-1] == len(rows) and games == sorted(games)
    assert [m.step for m in client.get_metric_history(run_id, "league/eval_winrate_vs_rule")] == [2, 4]
    assert client.get_metric_history(run_id, "league/winrate_vs_rule")
    league_artifacts = {a.path for a in client.list_artifacts(run_id, "league")}
    assert {"league/table.csv", "league/elo.png", "league/games.csv"} <= league_artifacts
    table = list(csv.DictReader((run_dir / "league" / "table.csv").open()))
    assert [r["member"] for r in table][:1] == ["main"] and {r["member"] for r in table} >= {"rule", "snap-0002"}

    ckpt, _ = latest_checkpoint(run_dir)
    saved = json.loads((ckpt / "league_state.json").read_text())
    assert [m["id"] for m in saved["members"]] == ["rule", "snap-0001", "snap-0002"]

    # --resume restores pool and ratings and continues the numbering
    assert cli(["train", "--resume", str(run_dir), "--set", "stop.iterations=6"]) == 0
    capsys.readouterr()
    ckpt6, _ = latest_checkpoint(run_dir)
    resumed = json.loads((ckpt6 / "league_state.json").read_text())
    assert resumed["history"][:4] == saved["history"]  # the first part of the run, as saved
    assert resumed["snapshots_taken"] == 3
    assert [m["id"] for m in resumed["members"]] == ["rule", "snap-0002", "snap-0003"]  # snap-0001 replaced
    assert resumed["games"] > saved["games"]
    first_resumed = next(r for r in csv.DictReader((run_dir / "league" / "games.csv").open()) if r["iteration"] == "5")
    assert float(first_resumed["elo_main_before"]) == pytest.approx(saved["main_rating"], abs=1e-3)

    # changing the module set on resume is refused before Ray starts
    assert cli(["train", "--resume", str(run_dir), "--set", "league.max_pool_size=3"]) == 2
    assert "league.max_pool_size cannot change on resume" in capsys.readouterr().err

    # a snapshot plays real matches through rl-bot eval
    args = ["eval", "--checkpoint", str(run_dir), "--opponent", "snapshot:snap-0002", "--games", "2"]
    assert cli([*args, "--set", "env.game_timeout_s=5", "--set", "env.no_touch_timeout_s=5"]) == 0
    assert "vs snapshot:snap-0002: 2 games" in capsys.readouterr().out
    assert cli(["eval", "--checkpoint", str(run_dir), "--opponent", "snapshot:snap-0099"]) == 2
    assert "snapshot 'snap-0099' not found" in (err := capsys.readouterr().err) and "snap-0001, snap-0002" in err


def test_bench_league_compare_reports_both_runs(project_home, ray_guard, capsys):
    cfg_path = project_home / "league.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY_LEAGUE))
    args = ["bench", "--config", str(cfg_path), "--seconds", "0.3", "--iterations", "3", "--no-scaling"]
    assert cli([*args, "--league-compare"]) == 0
    text = capsys.readouterr().out
    on = re.search(r"\| end-to-end training, 1 env runner\(s\), league on \| ([\d,]+) \| rule bot \+ 2 snapshot", text)
    off = re.search(r"\| end-to-end training, 1 env runner\(s\), league off \| ([\d,]+) \|", text)
    assert on and off, text
    assert int(on.group(1).replace(",", "")) > 0 and int(off.group(1).replace(",", "")) > 0
    assert re.search(r"league work \d+ ms/iter", text)
