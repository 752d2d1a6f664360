"""Config: every problem named at once with its dotted path; overrides validated like the file."""

from pathlib import Path

import pytest
import yaml

from rl_bot.config import (
    ConfigError,
    TrainConfig,
    apply_overrides,
    flatten,
    load_config,
    project_home,
    resolve_mlflow_uri,
    resolve_output_dir,
    save_config,
)


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_quickstart_loads_with_documented_defaults():
    cfg = load_config()
    assert cfg.env.team_size == 1 and cfg.env.tick_skip == 8
    assert not cfg.model.use_lstm and list(cfg.model.fcnet_hiddens) == [256, 256]
    assert cfg.resources.num_env_runners == 2 and cfg.resources.num_envs_per_env_runner == 32
    assert cfg.ppo.lr == 1e-3 and cfg.ppo.minibatch_size == 2000
    # the first minutes of the default path: the default curriculum, its first stage touch-centred
    assert cfg.curriculum.enabled and cfg.league.enabled
    assert cfg.curriculum.stages[0].name == "1v1-touch" and "goal" not in {t.name for t in cfg.stage_env(0).rewards}
    assert "goal" in {t.name for t in cfg.env.rewards}
    assert cfg.stop.wall_time_s is not None and cfg.stop.wall_time_s <= 6 * 60


def test_typo_and_wrong_type_are_both_reported(tmp_path):
    path = write(tmp_path, {"ppo": {"learning_rate": 0.1}, "env": {"team_size": "three"}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = str(exc.value)
    assert len(exc.value.errors) == 2
    assert "ppo.learning_rate: unknown key" in text
    assert "valid keys here:" in text and " lr," in text
    assert "env.team_size" in text and "'three'" in text


def test_typo_gets_a_suggestion(tmp_path):
    path = write(tmp_path, {"env": {"tick_skp": 4}})
    with pytest.raises(ConfigError, match=r"did you mean 'tick_skip'"):
        load_config(path)


def test_overrides_are_validated_like_the_file():
    cfg = load_config(None, ["ppo.lr=0.001", "env.team_size=3", "stop.iterations=null", "stop.env_steps=500"])
    assert cfg.ppo.lr == pytest.approx(0.001)
    assert cfg.env.team_size == 3
    assert cfg.stop.iterations is None and cfg.stop.env_steps == 500
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["env.team_size=4", "ppo.nope=1", "bad-override"])
    msgs = exc.value.errors
    assert any(m.startswith("env.team_size") and "3" in m for m in msgs)
    assert any(m.startswith("ppo.nope: unknown key") for m in msgs)
    assert any("bad-override" in m for m in msgs)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["ppo.minibatch_size=20000"], "minibatch_size=20000 > train_batch_size=16000"),
        (["ppo.minibatch_size=null"], "minibatch_size=null (the whole batch as one minibatch) with num_epochs=3"),
        (["env.no_touch_timeout_s=90"], "no_touch_timeout_s=90.0 exceeds game_timeout_s=60.0"),
        (["stop.iterations=null", "stop.wall_time_s=null"], "no stop condition"),
        (
            ["model.use_lstm=true", "ppo.minibatch_size=10", "ppo.train_batch_size=100"],
            "max_seq_len=20 > ppo.minibatch_size=10",
        ),
        (["tracking.mlflow_uri=sqlite:///mlflow.db"], "relative sqlite path"),
        (["run.name=has space"], "run.name"),
    ],
)
def test_cross_field_checks_say_how_to_fix(overrides, needle):
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides)
    assert needle in str(exc.value)


def test_reward_by_name_or_import_path():
    with pytest.raises(ConfigError, match=r"did you mean 'touch'"):
        load_config(None, ["env.rewards=[{name: tuch}]"])
    with pytest.raises(ConfigError, match="not an rlgym.api.RewardFunction"):
        load_config(None, ["env.rewards=[{name: 'custom_reward:NotAReward'}]"])
    with pytest.raises(ConfigError, match="cannot import module"):
        load_config(None, ["env.rewards=[{name: 'no_such_module:Thing'}]"])
    cfg = load_config(None, ["env.rewards=[{name: 'custom_reward:ConstantReward', weight: 2, kwargs: {value: 3}}]"])
    assert cfg.env.rewards[0].kwargs == {"value": 3}


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ppo: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["ppo.lambda=0.9"])
    out = tmp_path / "resolved.yaml"
    save_config(cfg, out)
    again = load_config(out)
    assert again == cfg
    assert yaml.safe_load(out.read_text())["ppo"]["lambda"] == 0.9


def test_every_field_has_a_description():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann)

    walk(TrainConfig)


def test_paths_are_absolute_and_follow_project_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RL_BOT_HOME", str(tmp_path))
    cfg = load_config()
    assert project_home() == tmp_path
    assert resolve_output_dir(cfg) == tmp_path / "runs"
    assert resolve_mlflow_uri(cfg) == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    cfg2 = load_config(None, ["run.output_dir=elsewhere"])
    assert resolve_output_dir(cfg2) == tmp_path / "elsewhere"


def test_apply_overrides_does_not_mutate_and_flatten():
    raw = {"ppo": {"lr": 1}}
    data, errors = apply_overrides(raw, ["ppo.lr=2", "env.team_size=2"])
    assert raw == {"ppo": {"lr": 1}} and data == {"ppo": {"lr": 2}, "env": {"team_size": 2}} and not errors
    assert flatten({"a": {"b": 1, "c": [{"d": 2}]}}) == {"a.b": 1, "a.c.0.d": 2}


def test_docs_config_reference_matches_the_code():
    from pathlib import Path

    from rl_bot.config import config_reference_markdown

    doc = (Path(__file__).parents[1] / "docs" / "config.md").read_text()
    assert config_reference_markdown().strip() in doc, "regenerate the table: python -m rl_bot.config"


def test_project_home_defaults_to_the_install_folder(monkeypatch, tmp_path):
    from rl_bot.config import project_home

    monkeypatch.delenv("RL_BOT_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    # scripts/install.sh installs editable from the repo: outputs go there, not to the cwd
    assert project_home() == Path(__file__).resolve().parents[1]
