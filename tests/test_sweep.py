"""Sweep definitions: parsing, every error before Ray starts, trial configs, PBT's clamping, ``rl-bot tune`` exit 2."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from rl_bot.cli import main as cli
from rl_bot.config import ConfigError
from rl_bot.sweep import Domain, build_sweep, load_sweep
from rl_bot.tuning import clamp_to_domains, tune_domain

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "tune_configs").glob("*.yaml"))


def minimal(**extra):
    raw = {
        "name": "t",
        "space": {"ppo.lr": {"loguniform": [1e-5, 1e-3]}},
        "metric": "env/episode_return_mean",
    }
    raw.update(extra)
    return raw


def errors_of(raw, tmp_path):
    with pytest.raises(ConfigError) as e:
        build_sweep(raw, tmp_path / "sweep.yaml")
    return "\n".join(e.value.errors)


def test_every_shipped_sweep_is_valid():
    assert {p.stem for p in SHIPPED} >= {"smoke", "ppo_lstm", "pbt"}
    for path in SHIPPED:
        sweep = load_sweep(path)
        assert sweep.num_trials() >= 2, path
        for key in sweep.spec.space:
            # every key lands in the trial config at its first edge value
            value = sweep.spec.space[key].edge_values()[0]
            cfg = sweep.trial_config({key: value})
            section, field = key.split(".")
            assert cfg.to_plain()[section][field] == value, (path, key)


def test_base_set_resources_and_stop_reach_the_trial_config(tmp_path):
    sweep = build_sweep(
        minimal(
            set={"ppo.num_epochs": 1, "league.enabled": False, "curriculum.enabled": False},
            resources={"num_env_runners": 0},
            stop={"iterations": 3},
        ),
        tmp_path / "s.yaml",
    )
    cfg = sweep.trial_config({"ppo.lr": np.float64(2.5e-4)})
    assert cfg.ppo.lr == 2.5e-4 and type(cfg.ppo.lr) is float
    assert cfg.ppo.num_epochs == 1 and not cfg.league.enabled
    assert cfg.resources.num_env_runners == 0
    assert cfg.stop.iterations == 3 and cfg.stop.wall_time_s is None  # the sweep's stop replaces the base's
    assert cfg.tracking.mlflow_uri.startswith("sqlite:////")  # resolved once, for every trial process


def test_inline_base_and_relative_base_path(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"ppo": {"lr": 1e-4, "num_epochs": 2}}))
    by_path = build_sweep(minimal(base="base.yaml"), tmp_path / "sweep.yaml")
    assert by_path.base_config.ppo.num_epochs == 2
    inline = build_sweep(minimal(base={"ppo": {"num_epochs": 4}}), tmp_path / "sweep.yaml")
    assert inline.base_config.ppo.num_epochs == 4
    assert "does not exist" in errors_of(minimal(base="missing.yaml"), tmp_path)


@pytest.mark.parametrize(
    "space, expected",
    [
        ({"ppo.lrr": {"uniform": [0.1, 0.2]}}, "did you mean 'ppo.lr'"),
        ({"ppox.lr": {"uniform": [0.1, 0.2]}}, "no config section 'ppox'; did you mean 'ppo'"),
        ({"lr": {"uniform": [0.1, 0.2]}}, "is not section.field"),
        ({"ppo.gamma": {"uniform": [0.9, 1.1]}}, "value 1.1 is not valid for ppo.gamma"),
        ({"ppo.lr": {"uniform": [0.0, 0.1]}}, "value 0.0 is not valid for ppo.lr"),
        ({"ppo.num_epochs": {"randint": [0, 3]}}, "value 0 is not valid for ppo.num_epochs"),
        ({"ppo.num_epochs": {"uniform": [1, 3.5]}}, "value 3.5 is not valid for ppo.num_epochs"),
        ({"model.fcnet_activation": {"choice": ["relu", "gelu"]}}, "value 'gelu' is not valid"),
        ({"ppo.lr": {"loguniform": [0, 1e-3]}}, "loguniform: low must be > 0"),
        ({"ppo.lr": {"uniform": [1e-3, 1e-4]}}, "low must be < high"),
        ({"ppo.lr": {"uniform": [1e-4, 1e-3], "choice": [1e-4]}}, "give exactly one of"),
        ({"ppo.lr": {"choice": []}}, "choice needs at least one value"),
        ({"tracking.experiment": {"choice": ["a", "b"]}}, "set by the sweep itself"),
    ],
)
def test_space_errors_name_the_key_and_the_fix(tmp_path, space, expected):
    assert expected in errors_of(minimal(space=space), tmp_path)


def test_randint_high_is_excluded_so_its_edge_is_high_minus_one(tmp_path):
    # [1, 4) never samples 4; 3 is the largest value checked
    assert Domain(randint=(1, 4)).edge_values() == [1, 3]
    build_sweep(minimal(space={"ppo.num_epochs": {"randint": [1, 4]}}), tmp_path / "s.yaml")


def test_every_problem_is_reported_at_once(tmp_path):
    text = errors_of(
        minimal(space={"ppo.lrr": {"uniform": [0.1, 0.2]}, "ppo.gamma": {"uniform": [0.5, 2.0]}}), tmp_path
    )
    assert "ppo.lrr" in text and "ppo.gamma" in text


def test_a_grid_combination_that_breaks_a_cross_field_rule_fails_before_ray(tmp_path):
    raw = minimal(
        set={"ppo.train_batch_size": 2000},
        space={"ppo.minibatch_size": {"grid": [500, 4000]}},
        search={"algorithm": "grid"},
    )
    assert "minibatch_size=4000 > train_batch_size=2000" in errors_of(raw, tmp_path)


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"search": {"algorithm": "grid"}}, "search.algorithm=grid needs grid entries only"),
        (
            {"space": {"ppo.lr": {"grid": [1e-4, 1e-3]}}, "search": {"algorithm": "optuna"}},
            "optuna cannot take grid entries",
        ),
        ({"scheduler": {"type": "pbt"}}, "pbt needs scheduler.mutations"),
        (
            {"scheduler": {"type": "asha", "mutations": {"ppo.lr": {"uniform": [1e-4, 1e-3]}}}},
            "only used with scheduler.type=pbt",
        ),
        (
            {"scheduler": {"type": "pbt", "mutations": {"model.lstm_cell_size": {"choice": [64, 128]}}}},
            "PBT cannot change model.lstm_cell_size",
        ),
        (
            {
                "scheduler": {"type": "pbt", "mutations": {"ppo.lr": {"uniform": [1e-4, 1e-3]}}},
                "stop": {"iterations": 2},
            },
            "pbt would never exploit",
        ),
        ({"metric": "episode_reward_mean"}, "is not a metric trials report"),
        (
            {"metric": "league/eval_score_vs_rule", "search": {"algorithm": "optuna"}},
            "optuna needs the metric every iteration",
        ),
        (
            {
                "metric": "league/eval_score_vs_rule",
                "scheduler": {"type": "asha", "grace_period": 2},
                "stop": {"iterations": 100},
            },
            "the first rung comes before league/eval_score_vs_rule is first measured",
        ),
        (
            {"metric": "league/elo_main", "set": {"league.enabled": False, "curriculum.enabled": False}},
            "needs the league",
        ),
        ({"set": {"ppo.lrr": 1e-4}}, "set.ppo.lrr"),
        ({"resources": {"num_env_runnerz": 1}}, "did you mean 'resources.num_env_runners'"),
        ({"set": {"ppo.num_epochs": 0}}, "ppo.num_epochs"),
        ({"scheduler": {"typ": "asha"}}, "unknown key; did you mean 'type'"),
        ({"name": "bad name"}, "name"),
    ],
)
def test_sweep_level_errors(tmp_path, extra, expected):
    assert expected in errors_of(minimal(**extra), tmp_path)


def test_tune_domains_and_grid_size(tmp_path):
    sweep = build_sweep(
        minimal(
            space={"ppo.lr": {"grid": [1e-4, 3e-4, 1e-3]}, "ppo.num_epochs": {"grid": [1, 2]}},
            search={"algorithm": "grid", "num_samples": 2},
        ),
        tmp_path / "s.yaml",
    )
    assert sweep.grid_size() == 6 and sweep.num_trials() == 12
    assert tune_domain(Domain(grid=[1, 2])) == {"grid_search": [1, 2]}
    d = tune_domain(Domain(loguniform=(1e-5, 1e-3)))
    draws = [d.sample() for _ in range(200)]
    assert 1e-5 <= min(draws) and max(draws) <= 1e-3 and min(draws) < 1e-4  # log-spread, not uniform
    r = tune_domain(Domain(randint=(1, 3)))
    assert {r.sample() for _ in range(100)} == {1, 2}


def test_pbt_perturbations_stay_inside_each_mutation_range():
    domains = {
        "ppo.gamma": Domain(uniform=(0.9, 1.0)),
        "ppo.num_epochs": Domain(randint=(1, 5)),
        "ppo.entropy_coeff": Domain(choice=[0.0, 0.01]),
    }
    out = clamp_to_domains({"ppo.gamma": 0.995 * 1.2, "ppo.num_epochs": 4 * 1.2, "ppo.entropy_coeff": 0.01}, domains)
    assert out == {"ppo.gamma": 1.0, "ppo.num_epochs": 4, "ppo.entropy_coeff": 0.01}
    assert clamp_to_domains({"ppo.gamma": 0.5}, domains)["ppo.gamma"] == 0.9


def test_cli_exit_2_before_ray_on_a_bad_sweep(tmp_path, capsys):
    import ray

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(minimal(space={"ppo.lrr": {"uniform": [0.1, 0.2]}})))
    assert cli(["tune", "--config", str(bad)]) == 2
    assert "did you mean 'ppo.lr'" in capsys.readouterr().err
    assert cli(["tune", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli(["tune"]) == 2
    assert cli(["tune", "--config", str(bad), "--resume", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
    assert cli(["tune", "--resume", str(tmp_path)]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(minimal()))
    greedy = tmp_path / "greedy.yaml"
    greedy.write_text(yaml.safe_dump(minimal(resources={"num_env_runners": 64})))
    assert cli(["tune", "--config", str(greedy)]) == 2
    assert "each trial reserves CPU=65" in capsys.readouterr().err
    assert cli(["tune", "--config", str(good), "--address", "127.0.0.1:1"]) == 2
    assert "no Ray cluster answers" in capsys.readouterr().err
    assert not ray.is_initialized()
    assert not (tmp_path / "runs").exists()


def test_docs_tuning_lists_every_sweep_field():
    from rl_bot.sweep import sweep_reference_markdown

    doc = (ROOT / "docs" / "tuning.md").read_text()
    assert sweep_reference_markdown().strip() in doc, "regenerate the tables: python -m rl_bot.sweep"
    for path in SHIPPED:
        assert f"tune_configs/{path.name}" in doc, path.name


def test_an_exploit_takes_only_the_pool_its_checkpoint_names(tmp_path):
    """Tune can write a later checkpoint of the source into a folder it used before: its league_snapshots then
    also hold files of an earlier pool. The exploiting trial copies the members the league state names, keeps its
    own league aside and says which snapshots it took."""
    import json

    from rl_bot.tuning import CKPT_SNAPSHOTS, LEAGUE_STATE_FILE, _Trial

    ckpt = tmp_path / "checkpoint_000002"
    (ckpt / CKPT_SNAPSHOTS).mkdir(parents=True)
    for n in (1, 2, 3):
        (ckpt / CKPT_SNAPSHOTS / f"snap-000{n}.pkl").write_bytes(b"source %d" % n)
    members = [{"id": "rule", "kind": "rule"}, {"id": "snap-0002", "kind": "snapshot"}]
    members.append({"id": "snap-0003", "kind": "snapshot"})
    (ckpt / LEAGUE_STATE_FILE).write_text(json.dumps({"members": members}))
    trial = _Trial.__new__(_Trial)
    trial.run_dir = tmp_path / "trial"
    own = trial.run_dir / "league" / "snapshots"
    own.mkdir(parents=True)
    (own / "snap-0002.pkl").write_bytes(b"own 2")

    assert trial._take_snapshots(ckpt, exploited=True) == ["snap-0002", "snap-0003"]
    assert sorted(p.name for p in own.iterdir()) == ["snap-0002.pkl", "snap-0003.pkl"]
    assert (own / "snap-0002.pkl").read_bytes() == b"source 2"
    assert (trial.run_dir / "league.before-exploit-1" / "snapshots" / "snap-0002.pkl").read_bytes() == b"own 2"

    # restoring its own checkpoint keeps the files already there
    (own / "snap-0003.pkl").write_bytes(b"own 3")
    assert trial._take_snapshots(ckpt, exploited=False) == ["snap-0002", "snap-0003"]
    assert (own / "snap-0003.pkl").read_bytes() == b"own 3"
