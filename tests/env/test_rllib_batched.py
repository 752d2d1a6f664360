"""The batched backend inside rl-bot's env runner: same episodes' starts as the rlgym backend, same counters."""

import numpy as np
from compare import assert_same
from ray.rllib.utils.metrics import NUM_AGENT_STEPS_SAMPLED, NUM_ENV_STEPS_SAMPLED, NUM_EPISODES

from rl_bot.algo import build_ppo_config
from rl_bot.config import load_config
from rl_bot.runner import RLBotEnvRunner

TINY = [
    "resources.num_env_runners=0",
    "resources.num_envs_per_env_runner=3",
    "model.use_lstm=true",
    "curriculum.enabled=false",
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
    first = [e.get_observations(0)["blue-0"] for e in episodes]
    # kickoff layouts differ by hundreds of uu: a coarse key orders them the same way on both backends
    return np.stack(sorted(first, key=lambda o: tuple(np.round(o[:60], 1))))


def test_batched_runner_starts_the_same_games_as_the_rlgym_runner():
    batched, plain = make_runner("batched"), make_runner("rlgym")
    try:
        assert isinstance(batched.env.envs[0].possible_agents, list)
        assert_same(first_observations(batched), first_observations(plain), "first observations")
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

            def order(e):  # discrete: where the episode starts, how long it is, blue's actions
                return e.env_t_started, e.env_steps(), tuple(np.asarray(e.agent_episodes["blue-0"].get_actions()))

            trace = []
            for e in sorted(episodes, key=order):
                for aid in ("blue-0", "orange-0"):
                    sa = e.agent_episodes[aid]
                    trace.append(
                        (
                            aid,
                            np.asarray(sa.get_actions()),
                            np.asarray(sa.get_extra_model_outputs("action_logp")),
                            np.asarray(sa.get_observations()),
                        )
                    )
            traces.append(trace)
        finally:
            runner.stop()
    assert_same(traces[1], traces[0], "episodes")
    assert sum(len(t[1]) for t in traces[0]) >= 400  # 200 env steps x 2 cars were compared


def test_a_timeout_is_truncated_and_a_goal_terminated_in_the_sampled_episodes():
    """Both backends flag a timeout so that RLlib keeps it truncated: had every car its own truncated flag, RLlib
    2.60 would call the episode terminated and GAE would drop the value of the last observation."""
    import gymnasium as gym
    from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

    from rl_bot.env.rllib_env import done_dicts, episode_summary

    for backend in ("batched", "rlgym"):
        runner = make_runner(backend)
        try:
            ended = [e for e in runner.sample(num_timesteps=300, explore=True) if e.is_done]
            timeouts = [e for e in ended if episode_summary(e)["end"] in ("no_touch", "time")]
            assert timeouts, backend  # 1 s without a touch ends a game
            for e in timeouts:
                assert e.is_truncated and not e.is_terminated, backend
                for a, sa in e.agent_episodes.items():
                    assert sa.is_truncated and not sa.is_terminated, (backend, a)
        finally:
            runner.stop()

    # a goal ends the game for every car: terminated
    agents = ["blue-0", "orange-0"]
    box, disc = gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3)
    e = MultiAgentEpisode(observation_space=dict.fromkeys(agents, box), action_space=dict.fromkeys(agents, disc))
    obs = {a: np.zeros(2, np.float32) for a in agents}
    e.add_env_reset(observations=obs)
    terms, truncs = done_dicts(agents, True, False)
    e.add_env_step(
        observations=obs,
        actions=dict.fromkeys(agents, 0),
        rewards=dict.fromkeys(agents, 1.0),
        terminateds=terms,
        truncateds=truncs,
    )
    assert e.is_terminated and all(sa.is_terminated and not sa.is_truncated for sa in e.agent_episodes.values())
