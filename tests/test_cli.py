"""``rl-bot eval --record``: the clip and the replay show the first games actually played, and the printed
numbers are the same as without recording; bad record options exit 2."""

import json

from PIL import Image

from rl_bot.cli import main as cli
from rl_bot.env.replay import Replay

SHORT = ["--set", "env.game_timeout_s=6", "--set", "env.no_touch_timeout_s=3"]
MATCH = ["eval", "--player", "rule", "--opponent", "rule-basic", "--games", "3", "--arenas", "2", "--seed", "4", *SHORT]


def test_eval_record_writes_a_clip_of_the_first_games_and_prints_the_same_numbers(project_home, capsys):
    assert cli(MATCH) == 0
    plain = capsys.readouterr().out.strip().splitlines()
    clip = project_home / "media" / "m.gif"
    assert cli([*MATCH, "--record", str(clip), "--record-games", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == plain[0] and out[0].startswith("rule-based bot, 1v1, tick skip 8 vs rule-basic: 3 games")
    assert out[1].startswith("recorded game 1 (rule vs rule-basic, ") and f": {clip} (" in out[1]

    replay = Replay.from_json((project_home / "media" / "m.replay.json").read_text())
    assert [(g.game, g.blue, g.orange) for g in replay.games] == [(0, "rule", "rule-basic"), (1, "rule-basic", "rule")]
    assert replay.team_size == 1 and replay.game_timeout_s == 6.0
    for g in replay.games:
        assert g.end in ("goal", "time", "no_touch") and f"{g.end}, {g.score[0]}-{g.score[1]})" in out[1]
        assert 1 < len(g.frames) <= 6 * 15 + 1 and g.frames[-1].t <= 6.0 + 1e-6
        assert (g.end == "goal") == (sum(g.score) == 1)
    im = Image.open(clip)
    assert im.format == "GIF" and im.size[0] == 360 and im.n_frames > 2
    data = json.loads((project_home / "media" / "m.replay.json").read_text())
    assert set(data["games"][0]["frames"][0]) == {"t", "ball", "cars", "score"}
    assert set(data["games"][0]["frames"][0]["cars"][0]) == {"agent", "team", "pos", "yaw", "boost", "demoed"}


def test_self_play_records_too(project_home, capsys):
    clip = project_home / "s.gif"
    args = ["eval", "--player", "rule-basic", "--games", "1", *SHORT, "--record", str(clip)]
    assert cli(args) == 0
    assert "1 episodes" in capsys.readouterr().out
    (game,) = Replay.from_json((project_home / "s.replay.json").read_text()).games
    assert (game.blue, game.orange) == ("rule-basic", "rule-basic") and Image.open(clip).n_frames > 1


def test_bad_record_options_exit_2_and_write_nothing(project_home, capsys):
    assert cli([*MATCH, "--record", str(project_home / "m.mp4")]) == 2
    assert "give a file name ending in .gif" in capsys.readouterr().err
    assert cli([*MATCH, "--record", str(project_home / "m.gif"), "--record-games", "4"]) == 2
    assert "--record-games must be between 1 and --games (3), got 4" in capsys.readouterr().err
    assert cli([*MATCH, "--record", str(project_home / "m.gif"), "--record-games", "0"]) == 2
    assert not list(project_home.glob("m.*"))
