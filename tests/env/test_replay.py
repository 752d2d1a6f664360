"""Replays record what the arena reported at every step, on both backends, without changing any game; they
round-trip through JSON."""

import numpy as np
import pytest

from rl_bot.config import EnvConfig
from rl_bot.env.replay import GameRecorder, Replay
from rl_bot.evaluate import RandomPolicy, RulePolicy, play_games, play_match
from rl_bot.league.rule_bot import BasicRuleBot

SHORT = EnvConfig(no_touch_timeout_s=3, game_timeout_s=6)
RLGYM = SHORT.model_copy(update={"backend": "rlgym", "obs_builder_kwargs": {"zero_padding": 3}})

# The padded DefaultObs layout (rl_bot.env.batched.observations): ball position first, the car's own block at 52.
POS_SCALE = 2300.0
OWN = 52


class Spy(RulePolicy):
    """The rule bot, keeping every observation row 0 (arena 0, car 0: blue in game 0) acted on."""

    def __init__(self):
        super().__init__()
        self.seen: list[np.ndarray] = []

    def act(self, obs, rows):
        for o, r in zip(obs, rows, strict=True):
            if r == 0:
                self.seen.append(o.copy())
        return super().act(obs, rows)


@pytest.mark.parametrize("cfg", [SHORT, RLGYM], ids=["batched", "rlgym"])
def test_frames_hold_the_positions_the_arena_reported_at_each_step(cfg):
    spy = Spy()
    rec = GameRecorder((0,))
    # As many arenas as games: arena 0 plays game 0 only, so every row-0 observation belongs to it.
    stats = play_games(cfg, 2, lambda g: (spy, RandomPolicy(g)), seed=3, arenas=2, record=rec)
    (game,) = rec.replay(1, cfg.step_seconds, cfg.game_timeout_s).games
    # One frame after the kickoff and one after every step; the policy acted on all but the last.
    assert len(game.frames) == stats[0].length + 1 == len(spy.seen) + 1
    seen = np.array(spy.seen)
    ball = np.array([f.ball for f in game.frames[:-1]])
    car = np.array([f.cars[0].pos for f in game.frames[:-1]])
    np.testing.assert_allclose(ball, seen[:, 0:3] * POS_SCALE, atol=0.06)
    np.testing.assert_allclose(car, seen[:, OWN : OWN + 3] * POS_SCALE, atol=0.06)
    fwd = seen[:, OWN + 3 : OWN + 6]
    yaw = np.array([f.cars[0].yaw for f in game.frames[:-1]])
    np.testing.assert_allclose(np.cos(yaw), fwd[:, 0] / np.hypot(fwd[:, 0], fwd[:, 1]), atol=2e-3)
    np.testing.assert_allclose(np.sin(yaw), fwd[:, 1] / np.hypot(fwd[:, 0], fwd[:, 1]), atol=2e-3)
    boost = np.array([f.cars[0].boost for f in game.frames[:-1]])
    np.testing.assert_allclose(boost, seen[:, OWN + 15] * 100, atol=0.06)
    assert len(set(map(tuple, ball))) > 10  # the ball moved: the check compared real motion
    times = [f.t for f in game.frames]
    assert times[0] == 0.0 and times[-1] == pytest.approx(stats[0].length * cfg.step_seconds, abs=1e-3)
    assert [c.team for c in game.frames[0].cars] == [0, 1]


def test_recording_changes_no_game_on_one_machine_and_ends_each_replay_like_its_game():
    args = (RulePolicy(), RulePolicy(BasicRuleBot()), SHORT, 4, "rule-basic", 1100.0)
    plain = play_match(*args, seed=1, arenas=2)
    rec = GameRecorder((1, 3))  # more games than arenas: recorded games start in arenas that played others
    recorded = play_match(*args, seed=1, arenas=2, record=rec, player_name="rule")
    assert recorded == plain
    stats = play_games(SHORT, 4, lambda g: (args[0], args[1]) if g % 2 == 0 else (args[1], args[0]), seed=1, arenas=2)
    replay = rec.replay(1, SHORT.step_seconds, SHORT.game_timeout_s)
    assert [g.game for g in replay.games] == [1, 3]
    for g in replay.games:
        s = stats[g.game]
        assert (g.blue, g.orange) == ("rule-basic", "rule")  # odd games: the player is orange
        assert g.score == (s.goals_blue, s.goals_orange) and g.end == s.end and g.start == s.start
        assert len(g.frames) == s.length + 1 and g.frames[0].score == (0, 0)


def test_both_backends_record_the_same_game():
    teams = lambda g: (RulePolicy(), RulePolicy(BasicRuleBot()))  # noqa: E731
    replays = []
    for cfg in (SHORT, RLGYM):
        rec = GameRecorder((0,))
        play_games(cfg, 1, teams, seed=5, arenas=1, record=rec)
        replays.append(rec.replay(1, cfg.step_seconds, cfg.game_timeout_s).games[0])
    a, b = replays
    assert len(a.frames) == len(b.frames) and a.end == b.end
    np.testing.assert_allclose([f.ball for f in a.frames], [f.ball for f in b.frames], atol=0.5)
    np.testing.assert_allclose(
        [c.pos for f in a.frames for c in f.cars], [c.pos for f in b.frames for c in f.cars], atol=0.5
    )


def test_json_round_trip_and_a_foreign_file_is_refused():
    rec = GameRecorder((0,))
    play_games(
        SHORT, 1, lambda g: (RulePolicy(), RandomPolicy(0)), seed=2, arenas=1, record=rec, names=lambda g: ("a", "b")
    )
    replay = rec.replay(1, SHORT.step_seconds, SHORT.game_timeout_s)
    text = replay.to_json()
    back = Replay.from_json(text)
    assert back == replay and back.games[0].blue == "a" and len(back.games[0].frames) > 1
    with pytest.raises(ValueError, match="not an rl-bot replay: expected format"):
        Replay.from_json('{"games": []}')
    with pytest.raises(ValueError, match="game numbers >= 0"):
        GameRecorder(())
