"""Return standardization (ppo.standardize_returns): the learner divides main's rewards by the running std of its
discounted returns before GAE, keeps the statistics across batches and in its saved state."""

import copy

import numpy as np
import pytest
from compare import assert_same

from rl_bot.return_scaling import STATE_KEY, ReturnStandardizer, RunningMoments, discounted_returns


def test_running_moments_merge_batches_into_the_whole_streams_moments():
    rng = np.random.default_rng(0)
    parts = [rng.normal(3.0, 2.0, size=n) for n in (1, 7, 300, 2)]
    m = RunningMoments()
    assert m.std == 1.0  # nothing seen: no scaling
    for p in parts:
        m.update(p)
    whole = np.concatenate(parts)
    assert m.count == whole.size
    assert m.mean == pytest.approx(whole.mean(), rel=1e-12)
    assert m.std == pytest.approx(whole.std(), rel=1e-12)
    again = RunningMoments()
    again.set_state(copy.deepcopy(m.get_state()))
    assert (again.count, again.mean, again.std) == (m.count, m.mean, m.std)


def test_discounted_returns_within_a_chunk():
    assert_same(discounted_returns(np.array([1.0, 0.0, 2.0]), 0.5), np.array([1.5, 1.0, 2.0]))


def _learner_batch(standardize: bool):
    from rl_bot.algo import build_ppo_config
    from rl_bot.config import load_config
    from rl_bot.runner import RLBotEnvRunner

    cfg = load_config(
        None,
        [
            "league.enabled=true",
            "league.opponents=[rule]",
            "resources.num_env_runners=0",
            "resources.num_envs_per_env_runner=2",
            "model.fcnet_hiddens=[16]",
            "model.lstm_cell_size=8",
            "model.max_seq_len=5",
            "ppo.train_batch_size=100",
            "ppo.minibatch_size=50",
            "env.no_touch_timeout_s=1",
            "env.game_timeout_s=2",
            f"ppo.standardize_returns={str(standardize).lower()}",
            "ppo.return_clip=3",
        ],
    )
    ppo = build_ppo_config(cfg)
    runner = RLBotEnvRunner(config=ppo)
    try:
        plan = {"module_probs": {"main": 0.5, "rule": 0.5}, "module_members": {"rule": "rule"}}
        runner.set_league_plan({**plan, "actor": "-", "namespace": "-"})
        runner.league.flush = lambda: None  # the league actor's part (recording games) is not under test
        episodes = runner.sample(num_timesteps=100, explore=True)
        spaces = runner.get_spaces()
        learner = ppo.build_learner(spaces=spaces)
    finally:
        runner.stop()
    return ppo, learner, episodes, spaces


@pytest.fixture(scope="module")
def sampled():
    return {flag: _learner_batch(flag) for flag in (False, True)}


def _rewards(learner, episodes):
    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data={}, metrics=learner.metrics
    )
    return batch["main"]["rewards"].numpy(), batch


def test_main_rewards_are_divided_by_the_std_of_its_returns_and_clipped(sampled):
    _, plain, episodes, _ = sampled[False]
    _, scaled, _, _ = sampled[True]
    kinds = [type(c).__name__ for c in scaled._learner_connector.connectors]
    assert kinds[-2:] == ["ReturnStandardizer", "NoGradGAE"] and "ReturnStandardizer" not in [
        type(c).__name__ for c in plain._learner_connector.connectors
    ]
    raw, _ = _rewards(plain, episodes)
    out, batch = _rewards(scaled, episodes)
    assert set(batch) == {"main"}  # the rule bot is not trained: neither scaled nor in the batch
    # by hand: every chunk main played, its discounted returns (with RLlib's added last step, reward 0)
    returns = [
        discounted_returns(np.append(sa.get_rewards(), 0.0), 0.99)
        for e in episodes
        for sa in e.agent_episodes.values()
        if sa.module_id == "main"
    ]
    std = np.concatenate(returns).std()
    assert std > 0 and scaled.return_standardizer().stats["main"].count == sum(len(r) for r in returns)
    assert_same(out, np.clip(raw / np.float32(std), -3, 3).astype(np.float32))


def test_the_statistics_accumulate_and_live_in_the_learners_saved_state(sampled, tmp_path):
    ppo, scaled, episodes, spaces = sampled[True]
    stats = scaled.return_standardizer().stats["main"]
    before = stats.count
    _rewards(scaled, episodes)
    n = stats.count - before
    _rewards(scaled, episodes)
    assert n > 0 and stats.count == before + 2 * n  # running: every batch counted
    state = scaled.get_state()
    assert state[STATE_KEY]["main"] == stats.get_state()
    scaled.save_to_path(str(tmp_path / "learner"))
    fresh = ppo.build_learner(spaces=spaces)
    assert fresh.return_standardizer().stats["main"].count == 0
    fresh.restore_from_path(str(tmp_path / "learner"))
    assert fresh.return_standardizer().stats["main"].get_state() == stats.get_state()
    assert isinstance(fresh.return_standardizer(), ReturnStandardizer)
