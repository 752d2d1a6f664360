"""The league on a real local Ray: the actor's state round trip; snapshots replaced and pruned in the middle of
running games (every game recorded once, against the member it started with, and games keep finishing); a training
run with the league on (records, ratings with intervals, MLflow, evaluation clips, the run report, resume from the
newest and from an older checkpoint); eval of a 2v2 run plays 2v2; bench compares league on and off."""

import base64
import csv
import json
import math
import re
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image
from tiny import tiny

from rl_bot.checkpoints import latest_checkpoint, list_checkpoints
from rl_bot.cli import main as cli
from rl_bot.config import LeagueConfig, load_config
from rl_bot.env.replay import Replay

pytestmark = pytest.mark.integration

ANCHORS = {"random": 700.0, "rule-basic": 1100.0, "rule": 1500.0}

TINY_LEAGUE = tiny(
    run={"name": "league", "seed": 5},
    ppo={"train_batch_size": 800, "minibatch_size": 400},
    resources={"num_envs_per_env_runner": 4},
    stop={"iterations": 4},
    checkpoint={"every_n_iterations": 2, "keep_last": 3},
    league={
        "enabled": True,
        "strategy": "uniform",  # the rule bot plays its share of games, so goals happen
        "main_share": 0.2,
        "opponents": ["rule", "random"],
        "snapshot_every_n_iterations": 2,
        "max_pool_size": 2,
        "round_steps": 1,  # a new pool member every sample() call: iterations here are 200 env steps per env
        "eval_every_n_iterations": 2,
        "eval_games": 2,
    },
)


def overrides(cfg: dict, skip=("stop",)) -> list[str]:
    return [f"{s}.{k}={json.dumps(v)}" for s, sec in cfg.items() for k, v in sec.items() if s not in skip]


def test_actor_state_round_trip(tmp_path, ray_guard):
    import ray

    from rl_bot.league.actor import start_league_actor

    ray.init(num_cpus=1, include_dashboard=False)
    cfg = LeagueConfig(enabled=True, opponents=("rule", "random"))
    a = start_league_actor(cfg, ANCHORS, tmp_path / "a", "round-trip-a", None)
    ray.get(a.begin_iteration.remote(1))
    games = [
        {"opponent": "rule", "goals_main": 0, "goals_opponent": 1, "end": "goal"},
        {"opponent": "random", "goals_main": 1, "goals_opponent": 0, "end": "goal"},
        {"opponent": "random", "goals_main": 0, "goals_opponent": 0, "end": "no_touch"},
    ]
    assert ray.get(a.report_games.remote(games, 3)) == 3
    added = ray.get(a.add_snapshot.remote(1, 1000))
    assert added == {"member": "snap-0001", "module": "opp_0", "evicted": []}
    ray.get(a.report_games.remote([{"opponent": "snap-0001", "goals_main": 0, "goals_opponent": 0, "end": "time"}]))
    ray.get(a.end_iteration.remote(1))
    state = ray.get(a.state.remote())
    json.dumps(state)  # plain data

    b = start_league_actor(cfg, ANCHORS, tmp_path / "b", "round-trip-b", state)
    assert ray.get(b.state.remote()) == state
    assert ray.get(b.plan.remote()) == ray.get(a.plan.remote())
    metrics = ray.get(b.metrics.remote())
    assert (metrics["league/games"], metrics["league/unrated_games"], metrics["league/selfplay_games"]) == (3, 1, 3)
    assert metrics["league/elo_main_low"] < metrics["league/elo_main"] < metrics["league/elo_main_high"]

    rows = list(csv.DictReader((tmp_path / "a" / "league" / "games.csv").open()))
    assert [(r["opponent"], r["end"], r["outcome"], r["rated"]) for r in rows] == [
        ("rule", "goal", "loss", "True"),
        ("random", "goal", "win", "True"),
        ("random", "no_touch", "draw", "False"),
        ("snap-0001", "time", "draw", "True"),
    ]


def test_snapshots_replaced_and_pruned_mid_game_lose_no_game(tmp_path, ray_guard):
    """A snapshot every iteration into a pool of one, two snapshots pruned by hand, and games longer than an
    iteration: slots change while games against their members run. Every game ends, is recorded once against the
    member it started with, the slots hold exactly the weights of the members they say, and every iteration from
    the third on records games."""
    import ray

    from rl_bot.algo import build_ppo_config
    from rl_bot.league.files import load_snapshot, snapshot_file
    from rl_bot.league_driver import LeagueDriver

    cfg = load_config(
        None,
        overrides(
            tiny(
                run={"name": "churn", "seed": 11},
                # games of at most 90 steps, 100 steps per env per iteration: every env ends a game every iteration,
                # and most games span two iterations (so two slot changes)
                env={"no_touch_timeout_s": 3, "game_timeout_s": 6},
                ppo={"train_batch_size": 400, "minibatch_size": 200},
                resources={"num_envs_per_env_runner": 4},
                league={
                    "enabled": True,
                    "main_share": 0.0,
                    "opponents": ["rule"],
                    "snapshot_every_n_iterations": 1,
                    "max_pool_size": 1,
                    "round_steps": 1,  # a new pool member every sample() call, so snapshots play while they churn
                    "eval_every_n_iterations": None,
                },
                tracking={"enabled": False},
            )
        ),
    )
    ray.init(num_cpus=2, include_dashboard=False)
    algo = build_ppo_config(cfg).build_algo()
    league = LeagueDriver(cfg, tmp_path, "churn", algo, None)
    episodes = 0
    try:
        for it in range(1, 11):
            league.before_iteration(it)
            result = algo.train()
            ended = result["env_runners"].get("env/episodes_sum", 0.0)  # NaN: none ended this iteration
            episodes += 0 if math.isnan(ended) else int(ended)
            league.after_iteration(it, 0)
            if it in (4, 7):  # prune the newest snapshot by hand while games against it run
                newest = ray.get(league.actor.state.remote())["members"][-1]["id"]
                ray.get(league.actor.retire.remote(newest, it, "forced prune"))
                league.push_plan()
        state = ray.get(league.actor.state.remote())
        (status, slots), *_ = algo.env_runner_group.foreach_env_runner(
            lambda r: (
                r.runner_status()["league"],
                {s: {k: np.asarray(v) for k, v in r.module[s].get_state().items()} for s in ("opp_0", "opp_1")},
            ),
            local_env_runner=False,
        )
    finally:
        league.stop()
        algo.stop()

    rows = list(csv.DictReader((tmp_path / "league" / "games.csv").open()))
    # every finished episode is counted exactly once: rated, unrated or self-play
    assert episodes == state["games"] + state["unrated_games"] + state["selfplay_games"] > 0
    assert len(rows) == state["games"] + state["unrated_games"]
    # games keep finishing while the pool churns
    per_iteration = {it: sum(int(r["iteration"]) == it for r in rows) for it in range(3, 11)}
    assert all(n > 0 for n in per_iteration.values()), per_iteration
    retired = {m["id"]: m["removed_iteration"] for m in state["retired"]}
    reasons = [m["removed_reason"] for m in state["retired"]]
    assert len(retired) >= 5 and reasons.count("forced prune") == 2
    # games that were still running when their snapshot left the pool were recorded against it afterwards
    late = [r for r in rows if r["opponent"] in retired and int(r["iteration"]) > retired[r["opponent"]]]
    assert late, "no game outlived its opponent's retirement; the test did not exercise mid-game changes"
    # rounds are counted in env steps per env: round_steps 1 starts one every sample() call, whose 400 env steps
    # are 100 steps of each of the 4 envs (episode chunks summed over the envs, divided by their number)
    assert 95 <= status["round_age"] <= 110, status
    # each slot holds the weights of the member the runner says it loaded (a copy, no arithmetic: exact)
    assert status["loaded"]
    for slot, member in status["loaded"].items():
        snap = load_snapshot(snapshot_file(tmp_path, member))
        for k, v in slots[slot].items():
            np.testing.assert_array_equal(v, snap[k], err_msg=f"{slot}/{k}")


def test_train_with_league_records_games_and_resumes(project_home, ray_guard, capsys):
    from mlflow.tracking import MlflowClient

    cfg_path = project_home / "league.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY_LEAGUE))
    assert cli(["train", "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert "league: actor" in out
    (run_dir,) = (project_home / "runs").iterdir()

    rows = list(csv.DictReader((run_dir / "league" / "games.csv").open()))
    assert len(rows) >= 10
    for row in rows:
        gm, go = int(row["goals_main"]), int(row["goals_opponent"])
        assert row["outcome"] == ("win" if gm > go else "loss" if gm < go else "draw")
        assert (row["end"] == "goal") == (gm != go)
        assert row["rated"] == str(row["end"] != "no_touch")
        assert row["opponent"] in {"rule", "random", "snap-0001", "snap-0002"}
    assert any(r["outcome"] != "draw" for r in rows)  # goals happen

    client = MlflowClient(tracking_uri=f"sqlite:///{project_home}/mlruns/mlflow.db")
    run_id = (run_dir / "mlflow_run_id").read_text().strip()

    def history(key):
        return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]

    assert history("league/pool_size") == [(1, 2.0), (2, 3.0), (3, 3.0), (4, 4.0)]  # + a snapshot every 2
    lows, mids, highs = (dict(history(f"league/elo_main{s}")) for s in ("_low", "", "_high"))
    assert len(mids) == 4 and all(lows[s] < mids[s] < highs[s] for s in mids)
    games = [v for _, v in history("league/games")]
    unrated = [v for _, v in history("league/unrated_games")]
    assert games[-1] + unrated[-1] == len(rows) and games == sorted(games)
    evals = [v for _, v in history("league/eval_iteration")]
    assert sorted(evals) == [2.0, 4.0]  # both evaluations finished, the last one before the run ended
    # whether an evaluation is running, and how many were skipped, every iteration (a stuck one shows)
    assert [s for s, _ in history("league/eval_running")] == [1, 2, 3, 4]
    assert dict(history("league/eval_running"))[2] == 1.0 and dict(history("league/eval_skipped"))[4] == 0.0
    assert history("league/eval_games_vs_rule")[-1][1] == 2.0
    league_artifacts = {a.path for a in client.list_artifacts(run_id, "league")}
    assert {"league/table.csv", "league/elo.png", "league/games.csv"} <= league_artifacts
    table = list(csv.DictReader((run_dir / "league" / "table.csv").open()))
    assert table[0]["member"] == "main" and {r["member"] for r in table} >= {"rule", "random", "snap-0002"}
    for r in table:
        assert float(r["rating_low"]) <= float(r["rating"]) <= float(r["rating_high"])

    # every periodic evaluation left a clip of its first game; the newest reached MLflow under eval/
    clips = sorted(p.name for p in (run_dir / "eval").iterdir())
    assert clips == ["clip-iter0002.gif", "clip-iter0002.replay.json", "clip-iter0004.gif", "clip-iter0004.replay.json"]
    gif = Image.open(run_dir / "eval" / "clip-iter0004.gif")
    assert gif.format == "GIF" and gif.n_frames > 1
    (game,) = Replay.from_json((run_dir / "eval" / "clip-iter0004.replay.json").read_text()).games
    assert (game.blue, game.orange) == ("main @ iter 4", "rule") and len(game.frames) > 1
    assert {"eval/clip-iter0004.gif", "eval/clip-iter0004.replay.json"} <= {
        a.path for a in client.list_artifacts(run_id, "eval")
    }
    assert history("perf/league_eval_clip_s")[-1][1] > 0

    # the run's report: curves from MLflow, the league table, the ratings and the newest clip, in one page
    assert cli(["report", str(run_dir)]) == 0
    capsys.readouterr()
    page = (run_dir / "report.html").read_text()
    assert '<img alt="training curves" src="data:image/png;base64,' in page and "<td>snap-0002</td>" in page
    assert base64.b64encode((run_dir / "eval" / "clip-iter0004.gif").read_bytes()).decode() in page

    ckpt4, _ = latest_checkpoint(run_dir)
    saved = json.loads((ckpt4 / "league_state.json").read_text())
    assert [m["id"] for m in saved["members"]] == ["rule", "random", "snap-0001", "snap-0002"]

    # --resume restores pool and ratings and continues the numbering
    assert cli(["train", "--resume", str(run_dir), "--set", "stop.iterations=6"]) == 0
    capsys.readouterr()
    ckpt6, _ = latest_checkpoint(run_dir)
    resumed = json.loads((ckpt6 / "league_state.json").read_text())
    assert resumed["history"][:4] == saved["history"]  # the first part of the run, as saved
    assert resumed["snapshots_taken"] == 3
    assert [m["id"] for m in resumed["members"]] == ["rule", "random", "snap-0002", "snap-0003"]
    # games go on being recorded after the resume (rated or not: in two iterations of one runner, whose round
    # member changes once per sample() call, the rule bot may not be drawn, and the others mostly draw no-touch)
    assert resumed["games"] + resumed["unrated_games"] > saved["games"] + saved["unrated_games"]
    assert resumed["games"] >= saved["games"]

    # resume from the OLDER checkpoint (iteration 4): the games after it move aside, ids are never reused
    for later in [c for c in list_checkpoints(run_dir) if c.name > ckpt4.name]:
        shutil.rmtree(later)
    rows_before = list(csv.DictReader((run_dir / "league" / "games.csv").open()))
    snap3 = (run_dir / "league" / "snapshots" / "snap-0003.pkl").read_bytes()
    assert cli(["train", "--resume", str(run_dir), "--set", "stop.iterations=6"]) == 0
    out = capsys.readouterr().out
    assert "moved from games.csv to games.discarded.csv" in out
    discarded = list(csv.DictReader((run_dir / "league" / "games.discarded.csv").open()))
    assert discarded == [r for r in rows_before if int(r["iteration"]) > 4]
    final = json.loads((latest_checkpoint(run_dir)[0] / "league_state.json").read_text())
    assert final["snapshots_taken"] == 4  # snap-0003 belongs to the discarded part: the new snapshot is snap-0004
    assert [m["id"] for m in final["members"]] == ["rule", "random", "snap-0002", "snap-0004"]
    assert (run_dir / "league" / "snapshots" / "snap-0003.pkl").read_bytes() == snap3  # never overwritten
    kept = list(csv.DictReader((run_dir / "league" / "games.csv").open()))
    assert len(kept) == final["games"] + final["unrated_games"]  # the CSV is the league state's record

    # changing the module set on resume is refused before Ray starts
    assert cli(["train", "--resume", str(run_dir), "--set", "league.max_pool_size=3"]) == 2
    assert "league.max_pool_size cannot change on resume" in capsys.readouterr().err

    # a snapshot plays real matches through rl-bot eval; its rating comes from the checkpoint
    args = ["eval", "--checkpoint", str(run_dir), "--opponent", "snapshot:snap-0002", "--games", "2"]
    assert cli([*args, "--set", "env.game_timeout_s=5", "--set", "env.no_touch_timeout_s=5"]) == 0
    assert "vs snapshot:snap-0002: 2 games" in capsys.readouterr().out
    assert cli(["eval", "--checkpoint", str(run_dir), "--opponent", "snapshot:snap-0099"]) == 2
    assert "snapshot 'snap-0099' not found" in (err := capsys.readouterr().err) and "snap-0001, snap-0002" in err


def test_eval_of_a_2v2_run_plays_2v2_without_flags(project_home, ray_guard, capsys):
    cfg = tiny(run={"name": "twos", "seed": 2}, env={"team_size": 2}, stop={"iterations": 1})
    cfg_path = project_home / "twos.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert cli(["train", "--config", str(cfg_path)]) == 0
    capsys.readouterr()
    (run_dir,) = (project_home / "runs").iterdir()
    assert cli(["eval", "--checkpoint", str(run_dir), "--opponent", "rule", "--games", "2"]) == 0
    out = capsys.readouterr().out
    assert ", 2v2, tick skip 8 vs rule: 2 games" in out
    assert "(opponent rated 1500)" in out
    # --set still overrides the run's game explicitly
    assert cli(["eval", "--checkpoint", str(run_dir), "--games", "2", "--set", "env.team_size=1"]) == 0
    assert ", 1v1, tick skip 8: 2 episodes" in capsys.readouterr().out


def test_bench_league_compare_reports_both_runs(project_home, ray_guard, capsys):
    cfg_path = project_home / "league.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY_LEAGUE))
    args = ["bench", "--config", str(cfg_path), "--seconds", "0.3", "--iterations", "3", "--no-scaling"]
    assert cli([*args, "--league-compare"]) == 0
    text = capsys.readouterr().out
    on = re.search(
        r"\| end-to-end training, 1 env runner\(s\), league on \| ([\d,]+) \| rule \+ random \+ up to 2 sn", text
    )
    off = re.search(r"\| end-to-end training, 1 env runner\(s\), league off \| ([\d,]+) \|", text)
    assert on and off, text
    assert int(on.group(1).replace(",", "")) > 0 and int(off.group(1).replace(",", "")) > 0
    assert re.search(r"evaluation every 2 iterations; league work \d+ ms/iter", text)
    assert re.search(
        r"League on runs \d\.\d\dx league off's iterations per hour \(cost -?\d+ %\); [12] periodic evaluation", text
    )
