"""The RLlib internals rl-bot relies on (rl_bot/compat.py) still behave as assumed with the installed versions."""

import copy

import numpy as np
import pytest
from compare import assert_same

from rl_bot.compat import CHECKED_VERSIONS, version_problems


def test_installed_versions_are_the_checked_ones():
    assert version_problems() == [], (
        f"re-check rl_bot/compat.py against the new versions, then update {CHECKED_VERSIONS}"
    )


def _sample(league: bool, lstm: bool):
    from rl_bot.algo import build_ppo_config
    from rl_bot.config import load_config
    from rl_bot.runner import RLBotEnvRunner

    cfg = load_config(
        None,
        [
            f"league.enabled={str(league).lower()}",
            "curriculum.enabled=false",
            "league.opponents=[rule]",
            f"model.use_lstm={str(lstm).lower()}",
            "resources.num_env_runners=0",
            "resources.num_envs_per_env_runner=2",
            "model.fcnet_hiddens=[16]",
            "model.lstm_cell_size=8",
            "model.max_seq_len=5",
            "ppo.train_batch_size=60",
            "ppo.minibatch_size=30",
        ],
    )
    ppo = build_ppo_config(cfg)
    runner = RLBotEnvRunner(config=ppo)
    if league:
        runner.set_league_plan(
            {
                "module_probs": {"main": 0.0, "rule": 1.0},
                "module_members": {"rule": "rule"},
                "actor": "-",
                "namespace": "-",
            }
        )
    episodes = runner.sample(num_timesteps=60, explore=True)
    learner = ppo.build_learner(spaces=runner.get_spaces())  # built already
    runner.stop()
    return ppo, learner, episodes


@pytest.fixture(scope="module")
def league_episodes():
    """Episodes sampled by a real env runner with the league on: blue is main (LSTM), orange the rule bot."""
    return _sample(league=True, lstm=True)


@pytest.fixture(scope="module")
def feed_forward_episodes():
    """Self-play episodes of a feed-forward main (no sequences, no zero-padding)."""
    return _sample(league=False, lstm=False)


def test_league_episodes_hold_frozen_agents(league_episodes):
    _, _, episodes = league_episodes
    modules = {e.module_for(a) for e in episodes for a in e.agent_episodes}
    assert modules == {"main", "rule"}


def test_the_learner_batch_holds_only_trained_modules(league_episodes):
    """DropUntrainedAgents: the learner connector (PPO's AddOneTs piece first, then ours, then RLlib's defaults and
    GAE) builds a batch for main only; without it the rule bot's data would be there too."""
    _, learner, episodes = league_episodes
    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data={}, metrics=learner.metrics
    )
    assert set(batch) == {"main"}
    n_main = sum(len(e.agent_episodes[a]) for e in episodes for a in e.agent_episodes if e.module_for(a) == "main")
    assert batch["main"]["loss_mask"].sum() == n_main  # every main step, no frozen one


def _flat(batch):
    import tree

    return {k: v for k, v in tree.flatten_with_path(batch)}


@pytest.mark.parametrize("sampled", ["league_episodes", "feed_forward_episodes"])
def test_the_learners_fast_pieces_build_rllibs_own_batch(sampled, request, monkeypatch):
    """ArrayAddOneTs, ArrayTimeDimZeroPad and NoGradGAE replace RLlib's AddOneTsToEpisodesAndTruncate,
    AddTimeDimToBatchAndZeroPad and GeneralAdvantageEstimation in the learner (an LSTM main beside the non-stateful
    rule bot, episodes not a multiple of max_seq_len; a feed-forward main): the batch is the one RLlib's pieces
    build, column for column, and the value pass for GAE runs without autograd."""
    import torch
    from ray.rllib.connectors.common.add_time_dim_to_batch_and_zero_pad import AddTimeDimToBatchAndZeroPad
    from ray.rllib.connectors.learner.add_one_ts_to_episodes_and_truncate import AddOneTsToEpisodesAndTruncate
    from ray.rllib.connectors.learner.general_advantage_estimation import GeneralAdvantageEstimation

    from rl_bot.compat import ArrayAddOneTs, ArrayTimeDimZeroPad, NoGradGAE

    _, learner, episodes = request.getfixturevalue(sampled)
    lstm = sampled == "league_episodes"
    ours = learner._learner_connector
    kinds = [type(c) for c in ours.connectors]
    assert kinds[0] is ArrayAddOneTs and kinds[-1] is NoGradGAE and kinds.count(ArrayTimeDimZeroPad) == 1
    originals = {
        ArrayAddOneTs: lambda c: AddOneTsToEpisodesAndTruncate(),
        ArrayTimeDimZeroPad: lambda c: AddTimeDimToBatchAndZeroPad(as_learner_connector=True),
        NoGradGAE: lambda c: GeneralAdvantageEstimation(gamma=c.gamma, lambda_=c.lambda_),
    }
    rllib = copy.deepcopy(ours)
    rllib.connectors = [originals[type(c)](c) if type(c) in originals else c for c in rllib.connectors]
    main = learner.module["main"]
    grad_enabled = []
    compute_values = main.compute_values

    def spy(*args, **kwargs):
        grad_enabled.append(torch.is_grad_enabled())
        return compute_values(*args, **kwargs)

    monkeypatch.setattr(main, "compute_values", spy)

    def run(pipeline):
        return _flat(
            pipeline(
                rl_module=learner.module,
                batch={},
                episodes=copy.deepcopy(episodes),
                shared_data={},
                metrics=learner.metrics,
            )
        )

    a, b = run(ours), run(rllib)
    assert grad_enabled == [False, True]
    assert a.keys() == b.keys() and {("main", "loss_mask"), ("main", "advantages")} <= a.keys()
    assert (("main", "seq_lens") in a) == lstm
    assert not a[("main", "loss_mask")].all()  # the bootstrap steps (and with the LSTM the padding) are masked
    assert_same(a, b, "learner batch")


@pytest.mark.parametrize(
    "items",
    [
        [True, False, True, True, False, False, True],  # one item per step, 7 steps
        [np.float32(1.5)] * 10,  # exactly two rows
        "batched",  # per-episode arrays, rows crossing array bounds
    ],
)
def test_splitting_into_rows_matches_rllibs_split_and_zero_pad(items):
    from ray.rllib.utils.postprocessing.zero_padding import split_and_zero_pad
    from ray.rllib.utils.spaces.space_utils import BatchedNdArray

    from rl_bot.compat import split_into_rows

    if items == "batched":
        rng = np.random.default_rng(0)
        items = [BatchedNdArray(rng.normal(size=(n, 3)).astype(np.float32)) for n in (4, 7, 1)]
    ours, theirs = split_into_rows(items, 5), split_and_zero_pad(items, max_seq_len=5)
    assert len(ours) == len(theirs)
    assert_same(ours, theirs, "rows")


def test_splitting_into_rows_leaves_nested_and_empty_columns_to_rllib():
    from rl_bot.compat import split_into_rows

    assert split_into_rows([], 5) is None
    assert split_into_rows([{"a": np.zeros(2)}], 5) is None


def test_learner_results_name_only_trained_modules(league_episodes):
    """PPO syncs to the env runners the modules named in the learner results: frozen slots must not be there."""
    _, learner, episodes = league_episodes
    results = learner.update(episodes=copy.deepcopy(episodes))
    assert "main" in results and "rule" not in results


def test_ppo_timers_report_each_iteration_not_an_ema_of_the_first():
    import time
    from types import SimpleNamespace

    from ray.rllib.utils.metrics import ENV_RUNNER_SAMPLING_TIMER, LEARNER_UPDATE_TIMER, TIMERS
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from rl_bot.compat import ITERATION_TIMERS, per_iteration_timers

    assert set(ITERATION_TIMERS) == {(TIMERS, ENV_RUNNER_SAMPLING_TIMER), (TIMERS, LEARNER_UPDATE_TIMER)}
    algo = SimpleNamespace(metrics=MetricsLogger(root=True))
    key = ITERATION_TIMERS[1]

    def iteration(seconds):  # what PPO.training_step does with its timers
        with algo.metrics.log_time(key):
            time.sleep(seconds)
        return algo.metrics.reduce()[key[0]][key[1]].peek()

    assert iteration(0.2) == pytest.approx(0.2, abs=0.05)
    assert iteration(0.01) > 0.15  # RLlib's default: an EMA (coefficient 0.01) that barely moves
    per_iteration_timers(algo)
    assert iteration(0.01) == pytest.approx(0.01, abs=0.05)
    assert iteration(0.2) == pytest.approx(0.2, abs=0.05)
    restored = SimpleNamespace(metrics=MetricsLogger(root=True))
    restored.metrics.set_state(algo.metrics.get_state())  # a checkpoint keeps the window-1 timer
    algo = restored
    assert iteration(0.01) == pytest.approx(0.01, abs=0.05)
