"""``rl-bot``: train, tune, eval, calibrate, report, bench."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rl_bot.config import CONFIG_FILE, ConfigError, TrainConfig, load_config
from rl_bot.train import EXIT_BAD_INPUT, add_train_args, train_command
from rl_bot.tuning import add_tune_args, tune_command


def eval_config(args: argparse.Namespace, ckpt: Path | None) -> TrainConfig:
    """The config whose game ``rl-bot eval`` plays: ``--config`` if given, else the checkpoint's run config, else
    the embedded default; ``--set`` and ``--team-size`` apply on top."""
    from rl_bot.checkpoints import run_dir_of

    overrides = list(args.overrides)
    if args.team_size is not None:
        overrides.append(f"env.team_size={args.team_size}")
    if args.config or ckpt is None:
        return load_config(args.config, overrides)
    # A sweep trial's checkpoint carries its config (Tune keeps checkpoints outside the trial's run folder).
    path = ckpt / CONFIG_FILE if (ckpt / CONFIG_FILE).is_file() else run_dir_of(ckpt) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            [f"{str(path)!r} is missing: the checkpoint's run has no config; pass --config with the run's game"],
            "--checkpoint",
        )
    return load_config(path, overrides)


#: ``--player``/``--opponent`` prefix of a feed-forward actor's weights file.
FF = "ff:"


def _eval(args: argparse.Namespace) -> int:
    from rl_bot.clip import write_clip
    from rl_bot.env.replay import GameRecorder
    from rl_bot.evaluate import (
        ModulePolicy,
        builtin_policy,
        feed_forward_policy,
        play_match,
        play_selfplay,
        resolve_checkpoint,
        snapshot_policy,
    )
    from rl_bot.league.opponents import BUILTIN, builtin_ratings

    try:
        if args.games < 1:
            raise ConfigError([f"--games must be >= 1 (got {args.games})"], "--games")
        check_record_args(args)
        if args.checkpoint and args.player:
            raise ConfigError(["give either --checkpoint or --player, not both"], "--player")
        snapshot = args.opponent.removeprefix("snapshot:") if args.opponent.startswith("snapshot:") else None
        ff_opponent = args.opponent.removeprefix(FF) if args.opponent.startswith(FF) else None
        if snapshot is None and ff_opponent is None and args.opponent not in ("self", *BUILTIN):
            raise ConfigError(
                [
                    f"--opponent {args.opponent!r}: use self, {', '.join(BUILTIN)}, snapshot:ID "
                    "(e.g. snapshot:snap-0003) or ff:FILE (a feed-forward actor's weights)"
                ],
                "--opponent",
            )
        ff_player = args.player.removeprefix(FF) if args.player and args.player.startswith(FF) else None
        if args.player and ff_player is None and args.player not in BUILTIN:
            raise ConfigError(
                [f"--player {args.player!r}: use {', '.join(BUILTIN)} or ff:FILE (a feed-forward actor's weights)"],
                "--player",
            )
        if snapshot is not None and not args.checkpoint:
            raise ConfigError(
                ["--opponent snapshot:ID needs --checkpoint: snapshot ids belong to that checkpoint's run"],
                "--opponent",
            )
        ckpt = resolve_checkpoint(args.checkpoint) if args.checkpoint else None
        cfg = eval_config(args, ckpt)
        env_cfg = cfg.env
        ratings = builtin_ratings(env_cfg.team_size, cfg.league.anchor_ratings)
        opp_policy = None
        if snapshot is not None:
            opp_policy, opp_rating = snapshot_policy(ckpt, snapshot, explore=not args.greedy, seed=args.seed + 1)
        if ff_opponent is not None:
            opp_policy = feed_forward_policy(ff_opponent, explore=not args.greedy, seed=args.seed + 1)
            opp_rating = math.nan  # unrated
        ff_policy = feed_forward_policy(ff_player, not args.greedy, args.seed) if ff_player is not None else None
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if ckpt is not None:
        policy = ModulePolicy.from_checkpoint(ckpt, explore=not args.greedy, seed=args.seed)
        label = f"checkpoint {ckpt}" + (" (greedy)" if args.greedy else " (sampled actions)")
        name = ckpt.name
    elif ff_policy is not None:
        policy = ff_policy
        label = f"feed-forward actor {ff_player}" + (" (greedy)" if args.greedy else " (sampled actions)")
        name = Path(ff_player).name
    else:
        kind = args.player or "random"
        policy = builtin_policy(kind, args.seed)
        label = {"rule": "rule-based bot", "rule-basic": "basic rule-based bot"}.get(kind, "uniformly random policy")
        name = kind
    game = f"{env_cfg.team_size}v{env_cfg.team_size}, tick skip {env_cfg.tick_skip}"
    # The recorded games are the first of the games played: recording only reads the arenas, so the numbers
    # printed are the same with or without --record.
    recorder = GameRecorder(range(args.record_games)) if args.record else None
    if args.opponent == "self":
        sp = play_selfplay(policy, env_cfg, args.games, seed=args.seed, arenas=args.arenas, record=recorder, name=name)
        print(sp.line(f"{label}, {game}"))
    else:
        if opp_policy is None:
            opp_policy, opp_rating = builtin_policy(args.opponent, args.seed + 1), ratings[args.opponent]
        report = play_match(
            policy,
            opp_policy,
            env_cfg,
            args.games,
            args.opponent,
            opp_rating,
            seed=args.seed,
            arenas=args.arenas,
            record=recorder,
            player_name=name,
        )
        print(report.line(f"{label}, {game}"))
    if recorder is not None:
        replay = recorder.replay(env_cfg.team_size, env_cfg.step_seconds, env_cfg.game_timeout_s)
        clip, replay_file = write_clip(replay, args.record)
        games = ", ".join(
            f"game {g.game + 1} ({g.blue} vs {g.orange}, {g.end}, {g.score[0]}-{g.score[1]})" for g in replay.games
        )
        print(f"recorded {games}: {clip} ({clip.stat().st_size / 1024:.0f} KiB), replay {replay_file}")
    return 0


def check_record_args(args: argparse.Namespace) -> None:
    """``--record``/``--record-games``: a .gif path and 1 to ``--games`` games; :class:`ConfigError` otherwise."""
    from rl_bot.clip import CLIP_SUFFIX

    if args.record is None:
        return
    if args.record.suffix.lower() != CLIP_SUFFIX:
        raise ConfigError(
            [f"--record {str(args.record)!r}: clips are GIF files; give a file name ending in {CLIP_SUFFIX}"],
            "--record",
        )
    if not 1 <= args.record_games <= args.games:
        raise ConfigError(
            [f"--record-games must be between 1 and --games ({args.games}), got {args.record_games}"], "--record-games"
        )


def _calibrate(args: argparse.Namespace) -> int:
    from rl_bot.evaluate import calibrate

    try:
        if args.games < 1:
            raise ConfigError([f"--games must be >= 1 (got {args.games})"], "--games")
        cfg = eval_config(args, None)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(calibrate(cfg.env, args.games, seed=args.seed, arenas=args.arenas).text())
    return 0


def _report(args: argparse.Namespace) -> int:
    from rl_bot.report import write_report

    try:
        path = write_report(args.run, args.out)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"report: {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from rl_bot.bench import run_bench

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    shown, skip = [], False
    for a in args.raw_args:  # where the table is written is not part of what was measured
        if skip or a == "--markdown" or a.startswith("--markdown="):
            skip = a == "--markdown"
            continue
        shown.append(a)
    command = "rl-bot bench " + " ".join(shown)
    if args.learning:
        return _bench_learning(args, cfg, command.strip())
    run_bench(
        cfg,
        seconds=args.seconds,
        train_iterations=args.iterations,
        skip_train=args.no_train,
        scaling=not args.no_scaling,
        markdown=args.markdown,
        command=command.strip(),
        league_compare=args.league_compare,
        sampler_compare=args.sampler_compare,
    )
    return 0


def _bench_learning(args: argparse.Namespace, cfg: TrainConfig, command: str) -> int:
    from rl_bot.config import project_home
    from rl_bot.learning import run_learning_bench

    markdown = args.markdown if args.markdown is not None else project_home() / "docs" / "learning.md"
    try:
        if args.minutes is None:
            raise ConfigError(["--learning needs --minutes N: how long to train"], "--minutes")
        if not markdown.parent.is_dir():
            raise ConfigError(
                [f"--markdown {str(markdown)!r}: folder {str(markdown.parent)!r} does not exist"], "--markdown"
            )
        run_learning_bench(cfg, args.minutes, args.games, command, markdown=markdown, seed=args.seed)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``rl-bot`` argument parser."""
    parser = argparse.ArgumentParser(prog="rl-bot", description="Distributed Rocket League bot trainer.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train with PPO on RocketSim (local Ray or a cluster)")
    add_train_args(t)
    t.set_defaults(func=train_command)

    tu = sub.add_parser("tune", help="a Ray Tune sweep from tune_configs/*.yaml (docs/tuning.md)")
    add_tune_args(tu)
    tu.set_defaults(func=tune_command)

    e = sub.add_parser(
        "eval", help="real games: self-play touches/min, or matches against built-in bots or league snapshots"
    )
    e.add_argument("--checkpoint", help="checkpoint folder or run directory of the policy to evaluate")
    e.add_argument(
        "--player",
        default=None,
        metavar="rule|rule-basic|random|ff:FILE",
        help="evaluate a built-in policy, or a feed-forward actor's torch weights (ff:FILE: a state dict, or an "
        "rlgym-learn-algos checkpoint folder), instead of a checkpoint (default without --checkpoint: random)",
    )
    e.add_argument(
        "--opponent",
        default="self",
        metavar="self|rule|rule-basic|random|snapshot:ID|ff:FILE",
        help="self: the policy drives every car (touches/min); rule, rule-basic, random, a league snapshot of the "
        "checkpoint's run (snapshot:snap-0003) or a feed-forward actor (ff:FILE): matches, win and score rates, Elo "
        "estimate",
    )
    e.add_argument("--games", type=int, default=50, help="games to play")
    e.add_argument("--arenas", type=int, default=64, help="games played at once")
    e.add_argument("--team-size", type=int, default=None, help="cars per team (default: from the config)")
    e.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument(
        "--config",
        help="config whose env section defines the game (default: the checkpoint's run config, else the quickstart)",
    )
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    e.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE.gif",
        help="also write a top-down GIF of the first game(s) played (and FILE.replay.json: every step's positions)",
    )
    e.add_argument("--record-games", type=int, default=1, help="how many of the games --record shows (default 1)")
    e.set_defaults(func=_eval)

    c = sub.add_parser(
        "calibrate", help="rate the built-in opponents (random, rule-basic, rule) from their head-to-head games"
    )
    c.add_argument("--games", type=int, default=200, help="games per pair")
    c.add_argument("--arenas", type=int, default=64, help="games played at once")
    c.add_argument("--team-size", type=int, default=None, help="cars per team (default: from the config)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--config", help="config whose env section defines the game (default: quickstart)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    c.set_defaults(func=_calibrate)

    r = sub.add_parser(
        "report", help="one self-contained HTML page of a run: curves, league table, ratings, stages, newest clip"
    )
    r.add_argument("run", help="the run folder (runs/<run>)")
    r.add_argument("--out", type=Path, default=None, help="where to write the page (default: RUN/report.html)")
    r.set_defaults(func=_report)

    b = sub.add_parser("bench", help="throughput per layer: physics, env, sampling, end-to-end training")
    b.add_argument("--config", help="config to measure (default: quickstart)")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    b.add_argument("--seconds", type=float, default=10.0, help="seconds per single-core layer")
    b.add_argument("--iterations", type=int, default=6, help="training iterations per end-to-end figure")
    b.add_argument("--no-train", action="store_true", help="skip the end-to-end training measurements")
    b.add_argument("--no-scaling", action="store_true", help="end-to-end only at the configured env runners")
    b.add_argument("--markdown", type=Path, default=None, help="append the table to this file")
    b.add_argument(
        "--league-compare",
        action="store_true",
        help="also train at the configured env runners with the league switched the other way (its cost)",
    )
    b.add_argument(
        "--sampler-compare",
        action="store_true",
        help="also train at the configured env runners on the other sampling path (array vs RLlib's)",
    )
    b.add_argument(
        "--learning",
        action="store_true",
        help="train --minutes N, then play the bot against random and rule (greedy and sampled) and in self-play; "
        "append a row to docs/learning.md (or --markdown)",
    )
    b.add_argument("--minutes", type=float, default=None, help="with --learning: minutes of training")
    b.add_argument("--games", type=int, default=200, help="with --learning: games per evaluation (default 200)")
    b.add_argument("--seed", type=int, default=0, help="with --learning: the evaluation games' seed")
    b.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rl-bot`` console script."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    args.raw_args = raw[1:]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
