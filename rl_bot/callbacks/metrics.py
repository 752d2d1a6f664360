"""Per-episode game metrics (touches, goals, per-team return, length) into RLlib's metrics logger."""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

from rl_bot.env.rllib_env import episode_summary

# Stable metric names: the same in the progress line, MLflow and docs/config.md.
EPISODE_METRICS = {
    "touches": "env/touches_per_episode",
    "goals": "env/goals_per_episode",
    "goals_blue": "env/goals_blue_per_episode",
    "goals_orange": "env/goals_orange_per_episode",
    "return_blue": "env/return_blue",
    "return_orange": "env/return_orange",
    "length": "env/episode_length",
    "game_seconds": "env/episode_game_seconds",
    "end_no_touch": "env/no_touch_timeout_rate",  # share of episodes cut by the no-touch timeout
    "end_time": "env/game_timeout_rate",  # share of episodes that reached the game clock
}
WINDOW = 200


class EnvMetricsCallback(RLlibCallback):
    """Reads the ``episode_summary`` the env puts in the final step's infos and logs it as ``env/…``.

    Also logs the sums needed for rate metrics (``env/touches_sum``, ``env/game_seconds_sum``), which the
    driver turns into touches per game minute over the iteration.
    """

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        summary = episode_summary(episode)
        if summary is None:
            return
        for key, name in EPISODE_METRICS.items():
            metrics_logger.log_value(name, float(summary[key]), reduce="mean", window=WINDOW)
        for term, value in summary.get("reward_terms", {}).items():
            # each term's weighted sum over the episode, per car (before team spirit, penalty and clipping)
            metrics_logger.log_value(f"env/reward/{term}", float(value), reduce="mean", window=WINDOW)
        metrics_logger.log_value("env/touches_sum", float(summary["touches"]), reduce="sum")
        metrics_logger.log_value("env/goals_sum", float(summary["goals"]), reduce="sum")
        metrics_logger.log_value("env/game_seconds_sum", float(summary["game_seconds"]), reduce="sum")
        metrics_logger.log_value("env/episodes_sum", 1.0, reduce="sum")
