"""``rl-bot report``: one HTML page with the run's logged curves, league table, rating plot, stage history and
newest clip (embedded); parts a run lacks are named as missing; bad input exits 2."""

import base64
import csv
import re

import yaml
from PIL import Image
from tiny import tiny

from rl_bot.cli import main as cli
from rl_bot.clip import eval_clip_file
from rl_bot.config import load_config, save_config
from rl_bot.report import build_report, metric_histories

LOGGED = {
    "env/episode_return_mean": [(1, 0.5), (2, 1.5), (3, 2.5)],
    "league/elo_main": [(1, 800.0), (2, 850.0), (3, 900.0)],
    "league/elo_main_low": [(1, 600.0), (2, 700.0), (3, 760.0)],
    "league/elo_main_high": [(1, 1000.0), (2, 1000.0), (3, 1040.0)],
    "league/eval_score_vs_rule": [(2, 0.25)],
    "league/eval_iteration": [(2, 2.0)],
}


def make_run(root, mlflow: bool = True):
    """A run folder as training leaves it, with an MLflow run holding LOGGED."""
    run = root / "runs" / "rocketleague-1v1__rep__0__20260101-000000"
    (run / "league").mkdir(parents=True)
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    cfg_path = root / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(tracking={"mlflow_uri": uri, "enabled": mlflow}, league={"enabled": True})))
    save_config(load_config(cfg_path), run / "config.yaml")
    with (run / "league" / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["member", "rating", "rating_low", "rating_high"])
        w.writerow(["main", "900.0", "760.0", "1040.0"])
        w.writerow(["snap-0002", "870.5", "700.0", "1010.0"])
    Image.new("RGB", (20, 10), (1, 2, 3)).save(run / "league" / "elo.png")
    (run / "curriculum").mkdir()
    (run / "curriculum" / "stages.csv").write_text(
        "iteration,env_steps,from_stage,to_stage,reason\n3,900,a,b,touches\n"
    )
    for it, colour in ((2, (255, 0, 0)), (10, (0, 255, 0))):
        path = eval_clip_file(run, it)
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), colour).save(path)
    if mlflow:
        from mlflow.tracking import MlflowClient

        (root / "mlruns").mkdir()
        client = MlflowClient(tracking_uri=uri)
        exp = client.create_experiment("rl-bot")
        run_id = client.create_run(exp).info.run_id
        for key, points in LOGGED.items():
            for step, value in points:
                client.log_metric(run_id, key, value, step=step)
        (run / "mlflow_run_id").write_text(run_id)
    return run


def test_report_holds_every_section_with_the_runs_own_data(project_home, capsys):
    run = make_run(project_home)
    hist, source = metric_histories(load_config(run / "config.yaml"), run)
    assert hist == LOGGED and source.startswith("MLflow run ")
    assert cli(["report", str(run)]) == 0
    page_path = run / "report.html"
    assert f"report: {page_path}" in capsys.readouterr().out
    page = page_path.read_text()
    assert re.findall(r"<h2 id=(\w+)>", page) == ["curves", "league", "ratings", "curriculum", "clip"]
    assert '<img alt="training curves" src="data:image/png;base64,' in page
    assert "<td>snap-0002</td><td>870.5</td><td>700.0</td><td>1010.0</td>" in page
    assert base64.b64encode((run / "league" / "elo.png").read_bytes()).decode() in page
    assert "<td>3</td><td>900</td><td>a</td><td>b</td><td>touches</td>" in page
    newest, older = eval_clip_file(run, 10), eval_clip_file(run, 2)
    assert base64.b64encode(newest.read_bytes()).decode() in page
    assert base64.b64encode(older.read_bytes()).decode() not in page
    assert (
        "Newest periodic evaluation (iteration 2)" in page
        and "<td>league/eval_score_vs_rule</td><td>0.250</td>" in page
    )
    out = project_home / "elsewhere" / "r.html"
    assert cli(["report", str(run), "--out", str(out)]) == 0 and out.is_file()


def test_a_run_without_tracking_says_why_it_has_no_curves(project_home):
    run = make_run(project_home, mlflow=False)
    page = build_report(run)
    assert "no curves: the run has no mlflow_run_id (tracking.enabled was false)" in page
    assert "training curves" not in page and "<td>snap-0002</td>" in page


def test_bad_input_exits_2_with_one_clear_error(project_home, capsys):
    assert cli(["report", str(project_home / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist or is not a folder" in err and err.count("\n") == 2
    assert cli(["report", str(project_home)]) == 2
    assert "is not a run folder: it has no config.yaml" in capsys.readouterr().err
    assert not (project_home / "report.html").exists()


def test_the_learning_curve_is_drawn_against_minutes_of_training():
    from rl_bot.config import load_config
    from rl_bot.report import curve_panels, panel_curve

    panel = next(p for p in curve_panels(load_config()) if p.x_key == "perf/wall_time_s")
    key = panel.keys[0]
    hist = {
        "perf/wall_time_s": [(1, 60.0), (2, 120.0), (3, 180.0)],
        key: [(1, 0.1), (3, 0.4), (4, 0.5)],  # iteration 4 has no wall time: left out
        f"{key}_low": [(3, 0.2)],
        f"{key}_high": [(3, 0.6)],
    }
    assert key == "league/eval_winrate_vs_rule" and panel.x_label == "minutes of training"
    assert panel_curve(hist, panel, key) == [(1.0, 0.1, None), (3.0, 0.4, (0.2, 0.6))]
