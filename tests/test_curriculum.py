"""Stage transitions on synthetic results, the curriculum's state, and the config checks."""

import pytest

from rl_bot.config import ConfigError, CurriculumConfig, StageConfig, TransitionConfig, validate_config
from rl_bot.curriculum import TOUCH_WINDOW, Curriculum, IterationResult


def cur(*stages: StageConfig) -> Curriculum:
    return Curriculum(CurriculumConfig(enabled=True, stages=stages))


def it(i: int, steps: int, **kw) -> IterationResult:
    return IterationResult(iteration=i, env_steps=steps, **kw)


def test_min_steps_alone_moves_on_and_the_last_stage_stays():
    c = cur(StageConfig(name="a", until=TransitionConfig(min_env_steps=100)), StageConfig(name="b"))
    assert c.update(it(1, 99)) is None and c.stage.name == "a"
    t = c.update(it(2, 100))
    assert (t.from_stage, t.to_stage, t.iteration, t.env_steps) == ("a", "b", 2, 100)
    assert "min_env_steps=100" in t.reason
    for i in range(3, 10):
        assert c.update(it(i, 100 * i)) is None  # the last stage never ends
    assert c.metrics(900)["curriculum/stage"] == 2 and c.metrics(900)["curriculum/stage_env_steps"] == 800


def test_win_rate_needs_the_lower_bound_over_enough_games():
    c = cur(
        StageConfig(name="a", opponents="rule", until=TransitionConfig(min_env_steps=0, win_rate=0.6, min_games=100)),
        StageConfig(name="b"),
    )
    # 80 % over 50 games: not enough games yet
    assert c.update(it(1, 10, games=50, score=40)) is None
    # 100 games at 68 %: the Wilson lower bound (0.58) is below 0.6 -> stay
    assert c.update(it(2, 20, games=50, score=28)) is None
    assert c.metrics(20)["curriculum/win_rate"] == pytest.approx(0.68)
    assert c.metrics(20)["curriculum/win_rate_low"] < 0.6
    # the newest 100 games at 80 %: lower bound 0.71 > 0.6 -> move on
    t = c.update(it(3, 30, games=100, score=80))
    assert t is not None and t.to_stage == "b" and "over 100 games" in t.reason


def test_every_threshold_must_hold_and_max_steps_is_the_fallback():
    until = TransitionConfig(min_env_steps=10, touches_per_minute=6, rating=1400, max_env_steps=1000)
    c = cur(StageConfig(name="a", opponents="league", until=until), StageConfig(name="b"))
    # 10 touches/min but rating 1300
    assert c.update(it(1, 20, touches=10, game_seconds=60, rating=1300)) is None
    # rating reached, but the touches over the last TOUCH_WINDOW iterations fall below 6/min
    for i in range(2, 2 + TOUCH_WINDOW):
        assert c.update(it(i, 20 * i, touches=0, game_seconds=60, rating=1450)) is None
    assert c.touches_per_minute() == 0.0
    t = c.update(it(10, 1000, touches=0, game_seconds=60, rating=1450))
    assert t.to_stage == "b" and "max_env_steps=1000" in t.reason


def test_step_back_when_results_collapse():
    c = cur(
        StageConfig(name="a", until=TransitionConfig(min_env_steps=10)),
        StageConfig(
            name="b",
            opponents="rule",
            step_back={"win_rate_below": 0.2, "min_games": 50, "min_env_steps": 30},
        ),
    )
    c.update(it(1, 10))
    assert c.stage.name == "b"
    assert c.update(it(2, 20, games=60, score=0)) is None  # too early in the stage
    t = c.update(it(3, 40, games=60, score=1))
    assert (t.from_stage, t.to_stage) == ("b", "a") and t.reason.startswith("step back")
    assert c.stage.name == "a" and c.stage_start_env_steps == 40  # a runs its min_env_steps again
    assert c.update(it(4, 45)) is None
    assert c.update(it(5, 50)).to_stage == "b"


def test_state_round_trip_keeps_stage_records_and_history():
    stages = (
        StageConfig(name="a", until=TransitionConfig(min_env_steps=10)),
        StageConfig(name="b", opponents="rule", until=TransitionConfig(win_rate=0.5, min_games=20)),
        StageConfig(name="c"),
    )
    c = cur(*stages)
    c.update(it(1, 10))
    c.update(it(2, 20, games=10, score=9))
    back = Curriculum(c.cfg, c.state())
    assert back.stage.name == "b" and back.records == c.records and back.history == c.history
    # the same next result decides the same way in both
    assert back.update(it(3, 30, games=10, score=9)) == c.update(it(3, 30, games=10, score=9))
    with pytest.raises(ValueError, match="not in curriculum.stages"):
        Curriculum(CurriculumConfig(enabled=True, stages=(stages[0],)), back.state())


@pytest.mark.parametrize(
    ("stages", "needle"),
    [
        ([{"name": "a", "opponents": "league"}], "needs league.enabled"),
        ([{"name": "a", "opponents": "self", "until": {"win_rate": 0.6}}], "needs a fixed opponent"),
        ([{"name": "a", "opponents": "rule", "until": {"rating": 1400}}], "until.rating"),
        ([{"name": "a", "opponents": "rule", "step_back": {"win_rate_below": 0.2}}], "step_back needs"),
        ([{"name": "a", "env": {"team_sise": 2}}], "unknown env field"),
        ([{"name": "a", "env": {"team_size": 4}}], "curriculum.stages[0] (a).env: team_size"),
        ([{"name": "a"}, {"name": "a"}], "unique"),
        ([{"name": "a", "until": {"min_env_steps": 10, "max_env_steps": 5}}], "max_env_steps=5"),
    ],
)
def test_bad_stages_are_one_clear_error_before_ray(stages, needle):
    with pytest.raises(ConfigError) as e:
        validate_config({"curriculum": {"enabled": True, "stages": stages}})
    assert needle in str(e.value)


def test_shipped_defaults_validate_and_name_their_bots():
    cfg = validate_config({"league": {"enabled": True}, "curriculum": {"enabled": True}})
    assert [s.name for s in cfg.curriculum.stages] == [
        "1v1-touch",
        "1v1-score",
        "1v1-league",
        "2v2-self",
        "2v2-league",
        "3v3-league",
    ]
    assert [cfg.stage_env(i).team_size for i in range(6)] == [1, 1, 1, 2, 2, 3]
    assert [cfg.stage_env(i).reward_mode for i in range(6)] == ["dense"] * 3 + ["hybrid"] * 3
    # field practice: no goal reward until main touches the ball often; then goals and the ball's way to goal
    terms = [{t.name for t in cfg.stage_env(i).rewards} for i in range(3)]
    assert "goal" not in terms[0] and "touch" in terms[0]
    assert {"goal", "velocity_ball_to_goal", "touch"} <= terms[1] and {"shot", "save"} <= terms[2]
    assert cfg.curriculum.stages[0].until.touches_per_minute is not None
    # 1v1 goes on until main out-rates the rule bot (not merely nears it)
    from rl_bot.league.opponents import builtin_ratings

    assert cfg.curriculum.stages[2].until.rating > builtin_ratings(1)["rule"]
    assert "rule" in cfg.builtin_modules
    # a stage's env inherits what it does not set
    assert cfg.stage_env(2).tick_skip == cfg.env.tick_skip
