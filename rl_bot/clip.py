"""Top-down animation of recorded games (pure: Pillow and numpy, no Ray): a palette GIF drawn from a
:class:`~rl_bot.env.replay.Replay`.

Each picture shows the field outline with both goals (blue defends the left one), the ball (drawn larger the
higher it is), every car as an arrow in its team's colour pointing where it heads with a bar under it for its boost,
and a header with the teams, the score, the game clock (time left) and each car's boost. Every ``stride``-th step
becomes a frame shown for as long as those steps took, so the clip plays at about real speed; the last frame of
each game stays up for a second.

Field sizes come from rlgym's ``common_values``, as in :mod:`rl_bot.env.rewards`.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from rlgym.rocket_league.common_values import (
    BACK_NET_Y,
    BACK_WALL_Y,
    CEILING_Z,
    CORNER_CATHETUS_LENGTH,
    GOAL_CENTER_TO_POST,
    SIDE_WALL_X,
)

from rl_bot.env.replay import Frame, Replay

#: The clip's file suffix (GIF: Pillow writes it without outside tools).
CLIP_SUFFIX = ".gif"
REPLAY_SUFFIX = ".replay.json"
#: The run folder's subfolder for the clips of the periodic evaluations.
EVAL_DIR = "eval"

# Palette indices: drawing in palette mode needs no per-frame colour quantisation, which keeps rendering cheap.
BG, FIELD, LINE, BLUE, ORANGE, BALL, GREY, TEXT, BOOST, DARK = range(10)
PALETTE = [
    (24, 24, 28),  # BG
    (38, 92, 52),  # FIELD
    (190, 210, 195),  # LINE
    (45, 125, 255),  # BLUE
    (255, 140, 20),  # ORANGE
    (255, 255, 255),  # BALL
    (128, 128, 128),  # GREY
    (235, 235, 235),  # TEXT
    (255, 215, 0),  # BOOST
    (60, 60, 66),  # DARK
]
TEAM_COLOUR = (BLUE, ORANGE)

HEADER_PX = 34
MARGIN_PX = 6
LAST_FRAME_MS = 1000


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class FieldView:
    """Maps field coordinates (uu) to pixels of a clip ``width`` pixels wide: the long axis (y) runs left to
    right, blue's goal on the left; x runs top to bottom."""

    width: int = 360

    @property
    def scale(self) -> float:
        """Pixels per uu."""
        return (self.width - 2 * MARGIN_PX) / (2 * BACK_NET_Y)

    @property
    def height(self) -> int:
        """The picture's height: the header and the field."""
        return HEADER_PX + 2 * MARGIN_PX + math.ceil(2 * SIDE_WALL_X * self.scale)

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Pixel (column, row) of field point (x, y)."""
        s = self.scale
        return MARGIN_PX + (y + BACK_NET_Y) * s, HEADER_PX + MARGIN_PX + (x + SIDE_WALL_X) * s


def stride_for(step_seconds: float, fps: float) -> int:
    """Steps per frame for about ``fps`` frames per game second."""
    return max(1, round(1.0 / (fps * step_seconds)))


def frame_steps(n_frames: int, stride: int) -> list[int]:
    """Which steps of a game of ``n_frames`` steps become pictures: every ``stride``-th and always the last."""
    steps = list(range(0, n_frames, stride))
    if steps[-1] != n_frames - 1:
        steps.append(n_frames - 1)
    return steps


def _background(view: FieldView) -> Image.Image:
    im = Image.new("P", (view.width, view.height), BG)
    im.putpalette([c for rgb in PALETTE for c in rgb])
    d = ImageDraw.Draw(im)
    corner = SIDE_WALL_X + BACK_WALL_Y - CORNER_CATHETUS_LENGTH  # |x| + |y| on the corner walls
    outline = [
        (-SIDE_WALL_X, -(corner - SIDE_WALL_X)),
        (-SIDE_WALL_X, corner - SIDE_WALL_X),
        (-(corner - BACK_WALL_Y), BACK_WALL_Y),
        (corner - BACK_WALL_Y, BACK_WALL_Y),
        (SIDE_WALL_X, corner - SIDE_WALL_X),
        (SIDE_WALL_X, -(corner - SIDE_WALL_X)),
        (corner - BACK_WALL_Y, -BACK_WALL_Y),
        (-(corner - BACK_WALL_Y), -BACK_WALL_Y),
    ]
    pts = [view.to_pixel(x, y) for x, y in outline]
    d.polygon(pts, fill=FIELD, outline=LINE)
    for team, sign in ((0, -1), (1, 1)):
        a = view.to_pixel(-GOAL_CENTER_TO_POST, sign * BACK_WALL_Y)
        b = view.to_pixel(GOAL_CENTER_TO_POST, sign * BACK_NET_Y)
        d.rectangle([min(a[0], b[0]), a[1], max(a[0], b[0]), b[1]], fill=TEAM_COLOUR[team], outline=LINE)
    top, bottom = view.to_pixel(-SIDE_WALL_X, 0), view.to_pixel(SIDE_WALL_X, 0)
    d.line([top, bottom], fill=LINE)
    cx, cy = view.to_pixel(0, 0)
    r = 1000 * view.scale  # the kickoff circle
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=LINE)
    d.rectangle([0, 0, view.width - 1, HEADER_PX - 2], fill=DARK)
    return im


def _clock(seconds_left: float) -> str:
    s = max(0, math.ceil(seconds_left - 1e-6))
    return f"{s // 60}:{s % 60:02d}"


def _fit(d: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, px: float) -> str:
    while text and d.textlength(text, font=font) > px:
        text = text[:-1]
    return text


def ball_radius_px(z: float) -> float:
    """The ball's drawn radius: larger the higher it is, so lobs and aerials read from above."""
    return 3.5 + 3.0 * min(max(z, 0.0), CEILING_Z) / CEILING_Z


def draw_frame(
    background: Image.Image, view: FieldView, f: Frame, header: tuple[str, str], clock_s: float, tag: str
) -> Image.Image:
    """One picture: ``background`` (field) with frame ``f`` drawn on it; ``header`` the (blue, orange) labels."""
    im = background.copy()
    d = ImageDraw.Draw(im)
    d.fontmode = "1"  # palette images: no anti-aliasing, which would blend palette indices
    font = _font(11)
    w = view.width
    score = f"{f.score[0]} - {f.score[1]}"
    sw = d.textlength(score, font=font)
    d.text(((w - sw) / 2, 2), score, fill=TEXT, font=font)
    clock = _clock(clock_s)
    half = (w - sw) / 2 - 8
    d.text((4, 2), _fit(d, header[0], font, half - 4), fill=BLUE, font=font)
    orange = _fit(d, header[1], font, half - 4)
    d.text((w - 4 - d.textlength(orange, font=font), 2), orange, fill=ORANGE, font=font)
    x = 4.0
    for c in f.cars:
        label = f"{c.boost:.0f}"
        d.rectangle([x, 20, x + 6, 26], fill=TEAM_COLOUR[c.team])
        d.text((x + 9, 17), label, fill=BOOST, font=font)
        x += 14 + d.textlength(label, font=font)
    right = f"{tag}  {clock}" if tag else clock
    d.text((w - 4 - d.textlength(right, font=font), 17), right, fill=TEXT, font=font)
    for c in f.cars:
        px, py = view.to_pixel(c.pos[0], c.pos[1])
        fx, fy = math.cos(c.yaw), math.sin(c.yaw)  # heading (x, y) -> pixel direction (column: y, row: x)
        hx, hy = fy, fx
        sx, sy = -hy, hx
        nose = (px + 7 * hx, py + 7 * hy)
        left = (px - 5 * hx + 4.5 * sx, py - 5 * hy + 4.5 * sy)
        right_ = (px - 5 * hx - 4.5 * sx, py - 5 * hy - 4.5 * sy)
        if c.demoed:
            d.polygon([nose, left, right_], outline=GREY)
            continue
        d.polygon([nose, left, right_], fill=TEAM_COLOUR[c.team], outline=LINE)
        d.rectangle([px - 7, py + 8, px + 7, py + 10], fill=DARK)
        if c.boost > 0:
            d.rectangle([px - 7, py + 8, px - 7 + 14 * min(c.boost, 100) / 100, py + 10], fill=BOOST)
    bx, by = view.to_pixel(f.ball[0], f.ball[1])
    r = ball_radius_px(f.ball[2])
    d.ellipse([bx - r, by - r, bx + r, by + r], fill=BALL, outline=DARK)
    return im


def render_gif(replay: Replay, fps: float = 10.0, width: int = 360) -> bytes:
    """The replay's games one after another as an animated GIF."""
    if not replay.games or not any(g.frames for g in replay.games):
        raise ValueError("the replay has no recorded frames")
    view = FieldView(width)
    bg = _background(view)
    stride = stride_for(replay.step_seconds, fps)
    frame_ms = stride * replay.step_seconds * 1000
    pictures: list[Image.Image] = []
    durations: list[int] = []
    many = len(replay.games) > 1
    for k, g in enumerate(replay.games):
        tag = f"game {k + 1}/{len(replay.games)}" if many else ""
        steps = frame_steps(len(g.frames), stride)
        for j, s in enumerate(steps):
            f = g.frames[s]
            pictures.append(draw_frame(bg, view, f, (g.blue, g.orange), replay.game_timeout_s - f.t, tag))
            durations.append(LAST_FRAME_MS if j == len(steps) - 1 else round(frame_ms))
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0)
    return buf.getvalue()


def replay_path(clip: Path) -> Path:
    """Where the replay file of a clip goes: ``clip.gif`` -> ``clip.replay.json``."""
    return clip.with_name(clip.name.removesuffix(CLIP_SUFFIX) + REPLAY_SUFFIX)


def write_clip(replay: Replay, path: Path, fps: float = 10.0, width: int = 360) -> tuple[Path, Path]:
    """Write the GIF to ``path`` and the replay beside it (:func:`replay_path`); returns both paths."""
    if path.suffix.lower() != CLIP_SUFFIX:
        raise ValueError(f"a clip is written as GIF: expected a {CLIP_SUFFIX} file name, got {path.name!r}")
    data = render_gif(replay, fps, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    rp = replay_path(path)
    rp.write_text(replay.to_json())
    return path, rp


def eval_clip_file(run_dir: Path, iteration: int) -> Path:
    """Where the clip of the periodic evaluation after iteration ``iteration`` goes."""
    return run_dir / EVAL_DIR / f"clip-iter{iteration:04d}{CLIP_SUFFIX}"


def latest_eval_clip(run_dir: Path) -> Path | None:
    """The run's newest periodic-evaluation clip (highest iteration), if any."""
    found = []
    for p in (run_dir / EVAL_DIR).glob(f"clip-iter*{CLIP_SUFFIX}"):
        m = re.fullmatch(r"clip-iter(\d+)\.gif", p.name)
        if m:
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None
