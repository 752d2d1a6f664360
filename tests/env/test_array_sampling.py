"""The array sampler (``resources.sampler=array``, rl_bot.compat.ArraySampling) against RLlib's own sampling path:
with the same seeds both must hand the learner the same data: every discrete value (actions, flags, lengths,
counts, ids) exactly, every float within the tolerance of tests/support/compare.py (the two paths run the modules on
differently shaped batches, so BLAS may round differently in the last bits on another CPU).

Compared: every sampled episode whole (observations, actions, rewards, infos, terminated/truncated flags, extra
model outputs with LSTM states, step bookkeeping) over several ``sample()`` calls (so episodes continue across calls),
the learner connector's batch for the last call (state-in at sequence starts, advantages and value targets after
GAE), and the league's game records. Cases: 1v1 and 2v2, LSTM and feed-forward, with and without the league (rule
bot and a snapshot slot drawn per round, self-play share), and greedy actions (``explore=False``).
"""

import copy

import numpy as np
import pytest
from compare import assert_same
from ray.rllib.utils.metrics import (
    NUM_AGENT_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED,
    NUM_EPISODES,
    NUM_MODULE_STEPS_SAMPLED,
)

from rl_bot import compat
from rl_bot.algo import build_ppo_config
from rl_bot.config import ConfigError, load_config
from rl_bot.env.batched import BatchedGame
from rl_bot.env.rllib_env import episode_summary
from rl_bot.runner import RLBotEnvRunner

TINY = [
    "resources.num_env_runners=0",
    "resources.num_envs_per_env_runner=3",
    "model.use_lstm=true",
    "curriculum.enabled=false",
    "model.fcnet_hiddens=[16]",
    "model.lstm_cell_size=8",
    "model.max_seq_len=5",
    "env.no_touch_timeout_s=1",
    "env.game_timeout_s=2",
    "run.seed=4",
    "ppo.train_batch_size=60",
    "ppo.minibatch_size=30",
]
LEAGUE = ["league.enabled=true", "league.opponents=[rule]"]
SKIP = {"id_", "_start_time", "_last_step_time", "multi_agent_episode_id", "agent_to_module_mapping_fn"}


def prune(x):
    """An episode state / batch without what differs between any two runs (ids, wall-clock times, the mapping
    function object)."""
    if isinstance(x, dict):
        return {k: prune(v) for k, v in x.items() if k not in SKIP}
    if isinstance(x, list | tuple):
        return type(x)(prune(v) for v in x)
    return x


def episode_state(e):
    state = e.get_state()
    state["agent_episodes"] = {a: sa.get_state() for a, sa in e.agent_episodes.items()}
    state["env_t_to_agent_t"] = {a: b.get_state() for a, b in e.env_t_to_agent_t.items()}
    return prune(state)


@pytest.fixture
def goals_now_and_then(monkeypatch):
    """Random play scores almost never: end a game as a goal every 23rd step of the batched game (both paths see
    the same), so terminated episodes are compared too, not only timeouts."""
    real = BatchedGame.step

    def step(self, actions, active=None):
        rewards, terminated, truncated = real(self, actions, active)
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls % 23 == 0:
            i = int(np.flatnonzero(active if active is not None else np.ones(self.n, bool))[0])
            terminated[i], truncated[i] = True, False
            self.stats[i].end = "goal"
        return rewards, terminated, truncated

    monkeypatch.setattr(BatchedGame, "step", step)


def sample_with(sampler, overrides, league_plan, calls=3, timesteps=120, explore=True):
    cfg = load_config(None, [*TINY, *overrides, f"resources.sampler={sampler}"])
    ppo = build_ppo_config(cfg)
    runner = RLBotEnvRunner(config=ppo)  # seeds torch and the envs the same way each time
    assert runner.use_array_sampling() == (sampler == "array")
    games = []
    try:
        if league_plan:
            # what set_league_plan does, with the snapshot's weights from here instead of the league actor:
            # main's initial weights, jittered
            side = runner.league
            main_state = runner.module["main"].get_state()
            weights = {k: (a := np.asarray(v)) + 0.05 * np.sign(a) for k, v in main_state.items()}
            side.book.set_plan(league_plan, lambda member: weights)
            side.book.load_idle(runner._load_slot)

            def flush():  # the league actor's part: keep the records here
                games.extend([*side.games, ("self-play", side.selfplay)])
                side.games, side.selfplay = [], 0

            side.flush = flush
        samples = [runner.sample(num_timesteps=timesteps, explore=explore) for _ in range(calls)]
        counts = {
            key: runner.metrics.peek(key, default=None)
            for key in (NUM_ENV_STEPS_SAMPLED, NUM_EPISODES, (NUM_AGENT_STEPS_SAMPLED, "blue-0"))
        }
        counts["modules"] = runner.metrics.peek(NUM_MODULE_STEPS_SAMPLED, default={})
        learner = ppo.build_learner(spaces=runner.get_spaces())
        batch = learner._learner_connector(
            rl_module=learner.module,
            batch={},
            episodes=copy.deepcopy(samples[-1]),
            shared_data={},
            metrics=learner.metrics,
        )
    finally:
        runner.stop()
    return samples, batch, games, counts


CASES = {
    "1v1-lstm-self-play": ([], None),
    "1v1-lstm-greedy-actions": (["explore=false"], None),
    "2v2-lstm-league": (
        ["env.team_size=2", *LEAGUE],
        {
            "module_probs": {"main": 0.3, "rule": 0.35, "opp_0": 0.35},
            "module_members": {"rule": "rule", "opp_0": "snap-1"},
            "round_steps": 1,
            "actor": "-",
            "namespace": "-",
        },
    ),
    "2v2-feedforward-self-play": (["env.team_size=2", "model.use_lstm=false"], None),
    "1v1-feedforward-league": (
        ["model.use_lstm=false", *LEAGUE],
        {
            "module_probs": {"main": 0.5, "rule": 0.5},
            "module_members": {"rule": "rule"},
            "actor": "-",
            "namespace": "-",
        },
    ),
}


@pytest.fixture
def fast_paths(monkeypatch):
    """Counts what the array path's shortcuts did: modules given a direct forward, columns finalized from the
    call's arrays (so the comparison below covers them, not a fallback)."""
    seen = {"direct": 0, "chunked": 0}
    real_direct, real_stacked = compat.direct_forward, compat._stacked

    def direct_forward(module):
        fwd = real_direct(module)
        seen["direct"] += fwd is not None
        return fwd

    def stacked(items, buf, chunks, key=None):
        known = chunks.get(id(buf)) if chunks else None
        seen["chunked"] += known is not None and known[0] is buf
        return real_stacked(items, buf, chunks, key)

    monkeypatch.setattr(compat, "direct_forward", direct_forward)
    monkeypatch.setattr(compat, "_stacked", stacked)
    return seen


@pytest.mark.parametrize("case", list(CASES))
def test_array_sampler_hands_the_learner_exactly_what_rllibs_sampler_does(case, goals_now_and_then, fast_paths):
    overrides, plan = CASES[case]
    explore = "explore=false" not in overrides
    overrides = [o for o in overrides if o != "explore=false"]
    stock, stock_batch, stock_games, stock_counts = sample_with("rllib", overrides, plan, explore=explore)
    assert fast_paths == {"direct": 0, "chunked": 0}
    array, array_batch, array_games, array_counts = sample_with("array", overrides, plan, explore=explore)
    assert fast_paths["direct"] >= 1 and fast_paths["chunked"] > 0

    ends = {episode_summary(e)["end"] for call in stock for e in call if e.is_done}
    assert {"goal", "no_touch"} <= ends  # terminated and truncated games both compared
    assert sum(e.env_t_started > 0 for e in stock[-1]) > 0  # episodes continued from an earlier call
    for n, (mine, theirs) in enumerate(zip(array, stock, strict=True)):
        assert len(mine) == len(theirs), f"call {n}"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_same(episode_state(a), episode_state(b), f"call {n} episode {i}")
    assert_same(prune(array_batch), prune(stock_batch), "learner batch")
    assert {"advantages", "value_targets"} <= set(stock_batch["main"])
    assert_same(array_games, stock_games, "league games")
    assert_same(array_counts, stock_counts, "counts")
    if plan:
        played = {e.module_for(a) for call in stock for e in call for a in e.agent_episodes}
        assert played == set(plan["module_probs"])  # main, the rule bot and the snapshot slot all played
        assert any(isinstance(g, dict) for g in stock_games)


def test_the_batched_backend_samples_through_arrays_by_default_and_rlgym_through_rllib():
    for backend, array in (("batched", True), ("rlgym", False)):
        cfg = load_config(None, [*TINY, f"env.backend={backend}"])
        runner = RLBotEnvRunner(config=build_ppo_config(cfg))
        try:
            assert runner.use_array_sampling() is array
            episodes = runner.sample(num_timesteps=30, explore=True)
            assert sum(e.env_steps() for e in episodes) >= 30
        finally:
            runner.stop()


def test_the_array_sampler_with_the_rlgym_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="resources.sampler=array needs the batched env backend"):
        load_config(None, ["resources.sampler=array", "env.backend=rlgym"])


def test_the_array_sampler_refuses_what_it_would_skip():
    """Custom connector pieces and per-step episode callbacks would silently not run on the array path."""
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.rllib.connectors.env_to_module import FlattenObservations

    from rl_bot.compat import array_sampling_problems

    class PerStep(RLlibCallback):
        def on_episode_step(self, **kwargs):
            pass

    runner = RLBotEnvRunner(config=build_ppo_config(load_config(None, TINY)))
    try:
        assert array_sampling_problems(runner) == []
        runner._callbacks.append(PerStep())
        runner._env_to_module.connectors.insert(0, FlattenObservations())
        problems = array_sampling_problems(runner)
        assert any("PerStep defines on_episode_step" in p for p in problems)
        assert any("FlattenObservations" in p for p in problems)
    finally:
        runner.stop()


@pytest.mark.parametrize("restart", [False, True])
def test_an_env_step_failure_on_the_array_path_is_handled_as_rllib_handles_it(restart, monkeypatch):
    """RLlib's rule: with restart_failed_sub_environments the env is re-created, the running games are dropped and
    sampling goes on (the failure counted); without it the runner fails (and RLlib's runner restarts take over)."""
    from ray.rllib.env.env_runner import NUM_ENV_STEP_FAILURES_LIFETIME

    from rl_bot.env.rllib_batched import BatchedRocketLeagueVectorEnv

    real, calls = BatchedRocketLeagueVectorEnv.step_arrays, []

    def flaky(self, actions):
        calls.append(1)
        if len(calls) == 5:
            raise OSError("arena crashed")
        return real(self, actions)

    monkeypatch.setattr(BatchedRocketLeagueVectorEnv, "step_arrays", flaky)
    ppo = build_ppo_config(load_config(None, TINY)).fault_tolerance(restart_failed_sub_environments=restart)
    runner = RLBotEnvRunner(config=ppo)
    try:
        assert runner.use_array_sampling()
        if not restart:
            with pytest.raises(RuntimeError, match="arena crashed"):
                runner.sample(num_timesteps=30, explore=True)
            return
        episodes = runner.sample(num_timesteps=30, explore=True)
        assert sum(e.env_steps() for e in episodes) >= 30  # counted again from the reset, as RLlib does
        assert all(e.env_t_started == 0 for e in episodes)  # the games before the failure were dropped
        assert runner.metrics.peek(NUM_ENV_STEP_FAILURES_LIFETIME) == 1
        runner.flush_sampled_counts()
        counted = runner.metrics.peek(NUM_ENV_STEPS_SAMPLED)
        assert counted > sum(e.env_steps() for e in episodes)  # the steps before the failure were counted too
        assert runner.metrics.peek((NUM_AGENT_STEPS_SAMPLED, "blue-0")) == counted
        assert len(calls) > 5
    finally:
        runner.stop()


@pytest.mark.parametrize("lstm", [True, False])
def test_the_direct_forward_gives_the_modules_own_outputs_and_only_for_the_default_module(lstm):
    import torch
    from ray.rllib.core.columns import Columns

    cfg = load_config(None, [*TINY, f"model.use_lstm={str(lstm).lower()}"])
    runner = RLBotEnvRunner(config=build_ppo_config(cfg))
    try:
        module = runner.module["main"]
        module.eval()
        obs = torch.randn(7, 1, 172) if lstm else torch.randn(7, 172)
        batch = {Columns.OBS: obs}
        if lstm:
            batch[Columns.STATE_IN] = {k: torch.randn(7, *v.shape) for k, v in module.get_initial_state().items()}
        direct = compat.direct_forward(module)
        assert direct is not None
        with torch.no_grad():
            mine, theirs = direct(batch), module._forward(batch)
        assert list(mine) == list(theirs)  # same keys, same order (the episodes store them in this order)
        assert_same(mine, theirs, "forward outputs")
        assert (Columns.STATE_OUT in mine) == lstm

        class Custom(type(module)):  # a module with its own forward keeps it
            def _forward(self, batch, **kwargs):
                return super()._forward(batch, **kwargs)

        module.__class__ = Custom
        assert compat.direct_forward(module) is None
    finally:
        runner.stop()


def test_finalizing_falls_back_to_the_items_when_the_appended_tail_was_changed():
    from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer

    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    for change, expected in ((None, rows), ("pop", rows[:3])):
        buf = InfiniteLookbackBuffer([rows[0]])
        chunks = {id(buf): (buf, 1, [rows[1:]])}
        buf.data.extend(rows[1:])
        if change == "pop":  # e.g. a callback edited the episode
            buf.data.pop()
        compat._finalize(buf, chunks)
        assert buf.finalized and buf.data.dtype == np.float32
        np.testing.assert_array_equal(buf.data, expected)
