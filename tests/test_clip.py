"""Clips: the ball and cars are drawn where their positions map to, cars point where they head, and a recorded game
becomes a playable GIF whose frames follow the replay."""

import io
import math

import numpy as np
import pytest
from PIL import Image

from rl_bot.clip import (
    BALL,
    BLUE,
    LINE,
    ORANGE,
    PALETTE,
    FieldView,
    _background,
    draw_frame,
    eval_clip_file,
    frame_steps,
    latest_eval_clip,
    render_gif,
    replay_path,
    stride_for,
    write_clip,
)
from rl_bot.config import EnvConfig
from rl_bot.env.replay import CarFrame, Frame, GameRecorder
from rl_bot.evaluate import RulePolicy, play_games
from rl_bot.league.rule_bot import BasicRuleBot


def picture(frame: Frame, view: FieldView) -> np.ndarray:
    im = draw_frame(_background(view), view, frame, ("blue", "orange"), 30.0, "")
    return np.asarray(im)  # palette indices


def test_field_corners_and_goals_map_inside_the_picture_blue_left():
    v = FieldView(360)
    assert v.to_pixel(0, 0) == pytest.approx((180, 34 + (v.height - 34) / 2), abs=0.5)  # under the header
    left, _ = v.to_pixel(0, -5120)
    right, _ = v.to_pixel(0, 5120)
    assert 0 < left < 180 < right < 360
    im = np.asarray(_background(v))
    assert im[round(v.to_pixel(0, -5500)[1]), round(v.to_pixel(0, -5500)[0])] == BLUE  # blue's goal, left
    assert im[round(v.to_pixel(0, 5500)[1]), round(v.to_pixel(0, 5500)[0])] == ORANGE


@pytest.mark.parametrize("yaw", [0.0, math.pi / 2, math.pi, -math.pi / 2])
def test_ball_and_cars_are_drawn_where_they_are_pointing_where_they_head(yaw):
    v = FieldView(360)
    car = CarFrame("blue-0", 0, (-1500.0, -2000.0, 17.0), yaw, 50.0)
    opp = CarFrame("orange-0", 1, (1500.0, 3000.0, 17.0), 0.0, 0.0)
    f = Frame(1.0, (800.0, 1200.0, 93.0), (car, opp), (0, 0))
    im = picture(f, v)
    bx, by = v.to_pixel(800.0, 1200.0)
    assert im[round(by), round(bx)] == BALL
    assert (im == BALL).sum() < 80  # one small ball, not a smear
    # The blue car's pixels reach further along its heading than behind it.
    cx, cy = v.to_pixel(-1500.0, -2000.0)
    rows, cols = np.nonzero((im == BLUE) | (im == LINE))  # the car and its outline
    near = (np.abs(cols - cx) < 12) & (np.abs(rows - cy) < 12)
    assert near.sum() > 10
    hx, hy = math.sin(yaw), math.cos(yaw)  # heading in pixels: columns follow y, rows follow x
    along = (cols[near] - cx) * hx + (rows[near] - cy) * hy
    assert along.max() > 5 and along.min() > -6 and along.max() > -along.min()
    ox, oy = v.to_pixel(1500.0, 3000.0)
    assert im[round(oy), round(ox)] == ORANGE


def test_a_higher_ball_is_drawn_larger():
    v = FieldView(360)
    low = picture(Frame(0.0, (0.0, 2000.0, 93.0), (), (0, 0)), v)
    high = picture(Frame(0.0, (0.0, 2000.0, 1800.0), (), (0, 0)), v)
    assert (high == BALL).sum() > 1.5 * (low == BALL).sum()


def recorded_replay():
    cfg = EnvConfig(no_touch_timeout_s=3, game_timeout_s=5)
    rec = GameRecorder((0, 1))
    teams = lambda g: (RulePolicy(), RulePolicy(BasicRuleBot()))  # noqa: E731
    play_games(cfg, 2, teams, seed=7, arenas=2, record=rec, names=lambda g: ("rule", "rule-basic"))
    return rec.replay(1, cfg.step_seconds, cfg.game_timeout_s)


def test_a_recorded_game_becomes_a_gif_whose_frames_follow_the_replay(tmp_path):
    replay = recorded_replay()
    gif, rp = write_clip(replay, tmp_path / "clips" / "m.gif", fps=10)
    assert rp == tmp_path / "clips" / "m.replay.json" and rp.read_text() == replay.to_json()
    im = Image.open(gif)
    v = FieldView(360)
    stride = stride_for(replay.step_seconds, 10)
    assert stride == 2  # 15 steps per second at tick skip 8
    shown = [(g, s) for g in replay.games for s in frame_steps(len(g.frames), stride)]
    assert im.size == (v.width, v.height) and im.n_frames == len(shown) > 1
    white = np.array(PALETTE[BALL])
    checked = 0
    for k in range(0, im.n_frames, 5):
        im.seek(k)
        rgb = np.asarray(im.convert("RGB"))
        g, s = shown[k]
        f = g.frames[s]
        bx, by = v.to_pixel(f.ball[0], f.ball[1])
        if any(math.dist(v.to_pixel(c.pos[0], c.pos[1]), (bx, by)) < 15 for c in f.cars):
            continue  # a car may cover the ball
        assert (rgb[round(by), round(bx)] == white).all(), (k, f.ball)
        checked += 1
    assert checked >= 5
    assert im.info["duration"] in (130, 140) and im.info["loop"] == 0


def test_gif_data_is_small_and_names_are_checked(tmp_path):
    replay = recorded_replay()
    data = render_gif(replay)
    assert data[:6] == b"GIF89a" and len(data) < 200_000
    assert Image.open(io.BytesIO(data)).n_frames > 2
    with pytest.raises(ValueError, match="expected a .gif file name"):
        write_clip(replay, tmp_path / "m.mp4")
    assert replay_path(tmp_path / "a.b.gif").name == "a.b.replay.json"


def test_the_newest_evaluation_clip_is_the_highest_iteration(tmp_path):
    assert latest_eval_clip(tmp_path) is None
    for it in (8, 10, 9):
        eval_clip_file(tmp_path, it).parent.mkdir(exist_ok=True)
        eval_clip_file(tmp_path, it).write_bytes(b"GIF89a")
    (tmp_path / "eval" / "clip-iterX.gif").write_bytes(b"")
    assert latest_eval_clip(tmp_path) == tmp_path / "eval" / "clip-iter0010.gif"
