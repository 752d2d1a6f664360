"""The batched backend inside rl-bot's env runner: same episodes' starts as the rlgym backend, same counters."""

import numpy as np
from ray.rllib.utils.metrics import NUM_AGENT_STEPS_SAMPLED, NUM_ENV_STEPS_SAMPLED, NUM_EPISODES

from rl_bot.algo import build_ppo_config
from rl_bot.config import load_config
from rl_bot.runner import RLBotEnvRunner

TINY = [
    "resources.num_env_runners=0",
    "resources.num_envs_per_env_runner=3",
    "model.fcnet_hiddens=[16]",
    "model.lstm_cell_size=8",
    "env.no_touch_timeout_s=1",
    "env.game_timeout_s=2",
    "run.seed=4",
]


def make_runner(backend):
    cfg = load_config(None, [*TINY, f"env.backend={backend}"])
    assert cfg.env.resolved_backend == backend
    return RLBotEnvRunner(config=build_ppo_config(cfg))


def first_observations(runner):
    episodes = runner.sample(num_timesteps=3, explore=True)
    return sorted(tuple(e.get_observations(0)["blue-0"][:60].round(5)) for e in episodes)


def test_batched_runner_starts_the_same_games_as_the_rlgym_runner():
    batched, plain = make_runner("batched"), make_runner("rlgym")
    try:
        assert isinstance(batched.env.envs[0].possible_agents, list)
        assert first_observations(batched) == first_observations(plain)
    finally:
        batched.stop()
        plain.stop()


def test_batched_runner_counts_every_sampled_step_and_episode():
    runner = make_runner("batched")
    try:
        episodes = runner.sample(num_timesteps=150, explore=True)
        peek = runner.metrics.peek
        env_steps = sum(e.env_steps() for e in episodes)
        agent_steps = sum(e.agent_steps() for e in episodes)
        done = sum(e.is_done for e in episodes)
        assert peek(NUM_ENV_STEPS_SAMPLED) == env_steps >= 150
        per_agent = [peek((NUM_AGENT_STEPS_SAMPLED, a)) for a in ("blue-0", "orange-0")]
        assert sum(per_agent) == agent_steps == 2 * env_steps
        assert peek(NUM_EPISODES) == done > 0  # 2 s games: several ended
        # finished episodes carry the env's summary, logged by the metrics callback
        assert 1 <= peek("env/episode_length") <= 2 * 15 + 1
        obs = episodes[0].get_observations(-1)["orange-0"]
        assert obs.shape == (172,) and obs.dtype == np.float32
    finally:
        runner.stop()


class StockConnectorsRunner(RLBotEnvRunner):
    INDEXED_CONNECTORS = False


def test_indexed_connector_pieces_sample_exactly_the_same_episodes():
    from ray.rllib.connectors.module_to_env.unbatch_to_individual_items import UnBatchToIndividualItems

    from rl_bot.compat import IndexedListifyDataForVectorEnv, IndexedUnBatchToIndividualItems, module_to_env_pipeline

    cfg = load_config(None, [*TINY, "resources.num_envs_per_env_runner=5", "env.backend=batched"])
    traces = []
    for cls in (StockConnectorsRunner, RLBotEnvRunner):
        runner = cls(config=build_ppo_config(cfg))  # seeds torch and the envs the same way each time
        kinds = {type(c) for c in module_to_env_pipeline(runner).connectors}
        assert (IndexedUnBatchToIndividualItems in kinds) == (cls is RLBotEnvRunner)
        assert (UnBatchToIndividualItems in kinds) == (cls is StockConnectorsRunner)
        assert (IndexedListifyDataForVectorEnv in kinds) == (cls is RLBotEnvRunner)
        try:
            episodes = runner.sample(num_timesteps=200, explore=True)
            trace = []
            for e in sorted(episodes, key=lambda e: (e.env_t_started, str(e.get_observations(0)["blue-0"][:8]))):
                for aid in ("blue-0", "orange-0"):
                    sa = e.agent_episodes[aid]
                    trace.append(
                        (
                            aid,
                            np.asarray(sa.get_actions()).tolist(),
                            np.round(np.asarray(sa.get_extra_model_outputs("action_logp")), 5).tolist(),
                            np.round(np.asarray(sa.get_observations()), 5).tolist(),
                        )
                    )
            traces.append(trace)
        finally:
            runner.stop()
    assert traces[0] == traces[1]
    assert sum(len(t[1]) for t in traces[0]) >= 400  # 200 env steps x 2 cars were compared
