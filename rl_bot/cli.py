"""``rl-bot``: train, eval, bench."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rl_bot.config import ConfigError, load_config
from rl_bot.train import EXIT_BAD_INPUT, add_train_args, train_command


def _eval(args: argparse.Namespace) -> int:
    from rl_bot.evaluate import (
        ModulePolicy,
        RandomPolicy,
        RulePolicy,
        play_match,
        play_selfplay,
        resolve_checkpoint,
        snapshot_policy,
    )
    from rl_bot.league.elo import ANCHOR_RATINGS

    try:
        cfg = load_config(args.config, args.overrides)
        env_cfg = cfg.env
        if args.team_size is not None:
            if not 1 <= args.team_size <= 3:
                raise ConfigError([f"--team-size must be 1, 2 or 3 (got {args.team_size})"], "--team-size")
            env_cfg = env_cfg.model_copy(update={"team_size": args.team_size})
        if args.games < 1:
            raise ConfigError([f"--games must be >= 1 (got {args.games})"], "--games")
        if args.checkpoint and args.player:
            raise ConfigError(["give either --checkpoint or --player, not both"], "--player")
        snapshot = args.opponent.removeprefix("snapshot:") if args.opponent.startswith("snapshot:") else None
        if snapshot is None and args.opponent not in ("self", "rule", "random"):
            raise ConfigError(
                [f"--opponent {args.opponent!r}: use self, rule, random or snapshot:ID (e.g. snapshot:snap-0003)"],
                "--opponent",
            )
        if snapshot is not None and not args.checkpoint:
            raise ConfigError(
                ["--opponent snapshot:ID needs --checkpoint: snapshot ids belong to that checkpoint's run"],
                "--opponent",
            )
        ckpt = resolve_checkpoint(args.checkpoint) if args.checkpoint else None
        opp_policy = None
        if snapshot is not None:
            opp_policy, opp_rating = snapshot_policy(ckpt, snapshot, explore=not args.greedy, seed=args.seed + 1)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    def make(kind: str, seed: int):
        return RulePolicy() if kind == "rule" else RandomPolicy(seed=seed)

    if ckpt is not None:
        policy = ModulePolicy.from_checkpoint(ckpt, explore=not args.greedy, seed=args.seed)
        label = f"checkpoint {ckpt}" + (" (greedy)" if args.greedy else " (sampled actions)")
    else:
        kind = args.player or "random"
        policy = make(kind, args.seed)
        label = "rule-based bot" if kind == "rule" else "uniformly random policy"
    if args.opponent == "self":
        print(play_selfplay(policy, env_cfg, args.games, seed=args.seed).line(label))
    else:
        if opp_policy is None:
            opp_policy, opp_rating = make(args.opponent, args.seed + 1), ANCHOR_RATINGS[args.opponent]
        report = play_match(policy, opp_policy, env_cfg, args.games, args.opponent, opp_rating, seed=args.seed)
        print(report.line(label))
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
    run_bench(
        cfg,
        seconds=args.seconds,
        train_iterations=args.iterations,
        skip_train=args.no_train,
        scaling=not args.no_scaling,
        markdown=args.markdown,
        command=command.strip(),
        league_compare=args.league_compare,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``rl-bot`` argument parser."""
    parser = argparse.ArgumentParser(prog="rl-bot", description="Distributed Rocket League bot trainer.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train with PPO on RocketSim (local Ray or a cluster)")
    add_train_args(t)
    t.set_defaults(func=train_command)

    e = sub.add_parser("eval", help="real games: self-play touches/min, or matches against rule/random")
    e.add_argument("--checkpoint", help="checkpoint folder or run directory of the policy to evaluate")
    e.add_argument(
        "--player",
        choices=["rule", "random"],
        default=None,
        help="evaluate a built-in policy instead of a checkpoint (default without --checkpoint: random)",
    )
    e.add_argument(
        "--opponent",
        default="self",
        metavar="self|rule|random|snapshot:ID",
        help="self: the policy drives every car (touches/min); rule, random or a league snapshot of the "
        "checkpoint's run (snapshot:snap-0003): matches, win rate, Elo",
    )
    e.add_argument("--games", type=int, default=50, help="episodes to play")
    e.add_argument("--team-size", type=int, default=None, help="cars per team (default: from config)")
    e.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--config", help="config whose env section defines the game (default: quickstart)")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    e.set_defaults(func=_eval)

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
