"""Frozen opponent RLModules: the rule-bot module returns exactly the numpy rule bot's actions on real observations;
the random module is uniform; the snapshot module samples from its own logits; all build from an RLModuleSpec like
the ones PPO's env runners use, and RLlib's GetActions connector takes their actions as they are."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rl_bot.config import EnvConfig
from rl_bot.env.game import RLGymGame
from rl_bot.evaluate import RandomPolicy
from rl_bot.league.modules import RandomModule, RuleBotModule, SnapshotModule
from rl_bot.league.rule_bot import RuleBot

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (172,), np.float32)
ACT_SPACE = gym.spaces.Discrete(90)


def build(module_class, **kw):
    return RLModuleSpec(module_class=module_class, observation_space=OBS_SPACE, action_space=ACT_SPACE, **kw).build()


@pytest.fixture(scope="module")
def real_obs() -> np.ndarray:
    """Every car's observation on every step of two 2v2 games: the rule bot (blue) against random (orange)."""
    game = RLGymGame(EnvConfig(team_size=2, no_touch_timeout_s=10, game_timeout_s=20))
    game.seed(5)
    bot, rnd = RuleBot(), RandomPolicy(seed=5)
    rows = []
    try:
        for _ in range(2):
            obs, done = game.reset(), False
            while not done:
                rows.extend(obs.values())
                acts = bot.act_obs({a: o for a, o in obs.items() if a.startswith("blue")})
                orange = [a for a in obs if a.startswith("orange")]
                random_acts = rnd.act(np.stack([obs[a] for a in orange]), np.arange(len(orange)))
                acts.update(zip(orange, random_acts.tolist(), strict=True))
                obs, _, term, trunc = game.step({a: np.array([x]) for a, x in acts.items()})
                done = term or trunc
    finally:
        game.close()
    return np.stack(rows)


def test_rule_bot_module_returns_the_rule_bot_actions(real_obs):
    from ray.rllib.connectors.module_to_env.get_actions import GetActions

    expected = RuleBot().actions(real_obs)
    assert len(real_obs) >= 400 and len(np.unique(expected)) >= 6  # many situations, many different actions
    module = build(RuleBotModule)
    obs = torch.from_numpy(real_obs)
    for forward in (module.forward_exploration, module.forward_inference):
        out = forward({Columns.OBS: obs})
        assert set(out) == {Columns.ACTIONS} and out[Columns.ACTIONS].dtype == torch.int64
        np.testing.assert_array_equal(out[Columns.ACTIONS].numpy(), expected)
    # what an env runner does with them: GetActions passes module-made actions through (no distribution, no logp)
    batch = {Columns.ACTIONS: out[Columns.ACTIONS]}
    GetActions()._get_actions(batch, module, explore=True)
    assert set(batch) == {Columns.ACTIONS}


def test_rule_bot_module_handles_a_time_dimension(real_obs):
    n = len(real_obs) // 4 * 4
    expected = RuleBot().actions(real_obs[:n]).reshape(-1, 4)
    obs = torch.from_numpy(real_obs[:n]).reshape(-1, 4, 172)  # [B, T, 172]
    actions = build(RuleBotModule).forward_inference({Columns.OBS: obs})[Columns.ACTIONS]
    assert actions.shape == (n // 4, 4)
    np.testing.assert_array_equal(actions.numpy(), expected)


def test_random_module_actions_are_uniform():
    torch.manual_seed(0)
    actions = build(RandomModule).forward_exploration({Columns.OBS: torch.zeros(90_000, 172)})[Columns.ACTIONS]
    counts = np.bincount(actions.numpy(), minlength=90)
    assert counts.min() > 850 and counts.max() < 1150  # ~1000 each (sd ~31)


def test_snapshot_module_samples_from_its_logits_and_keeps_its_lstm_state():
    from rl_bot.algo import model_config
    from rl_bot.config import ModelConfig

    spec = dict(observation_space=OBS_SPACE, action_space=ACT_SPACE, inference_only=True)
    cfg = model_config(ModelConfig(fcnet_hiddens=[16], lstm_cell_size=8, max_seq_len=4))
    snap = RLModuleSpec(module_class=SnapshotModule, model_config=cfg, **spec).build()
    torch.manual_seed(0)
    obs = torch.randn(3, 1, 172)  # [B, T = 1, 172], as an env runner sends it
    state = {k: torch.stack([v] * 3) for k, v in snap.get_initial_state().items()}
    batch = {Columns.OBS: obs, Columns.STATE_IN: state}
    logits = snap._forward(batch)[Columns.ACTION_DIST_INPUTS]  # the same weights' distribution
    greedy = snap.forward_inference(batch)
    np.testing.assert_array_equal(greedy[Columns.ACTIONS].numpy(), logits.argmax(-1).numpy())
    assert Columns.STATE_OUT in greedy and Columns.ACTION_DIST_INPUTS not in greedy
    # sampling many times from one row: the action frequencies follow softmax(logits)
    many = {
        Columns.OBS: obs[:1].expand(20_000, 1, 172),
        Columns.STATE_IN: {k: v[:1].expand(20_000, *v.shape[1:]) for k, v in state.items()},
    }
    out = snap.forward_exploration(many)
    assert out[Columns.ACTIONS].shape == (20_000, 1) and Columns.STATE_OUT in out
    freq = np.bincount(out[Columns.ACTIONS].numpy().ravel(), minlength=90) / 20_000
    probs = torch.softmax(logits[0, 0], -1).detach().numpy()
    assert np.abs(freq - probs).max() < 0.02


@pytest.mark.parametrize("module_class", [RuleBotModule, RandomModule])
def test_frozen_modules_build_from_a_spec_with_empty_state(module_class):
    for inference_only in (False, True):  # learner copy / env runner copy
        module = build(module_class, inference_only=inference_only)
        assert module.get_state() == {} and not module.is_stateful() and module.get_initial_state() == {}
        module.set_state({})  # what a weight sync of a frozen module sends
        module.set_state(build(module_class).get_state())
        # learners must never compute values or train them
        assert not isinstance(module, ValueFunctionAPI)
        assert sum(p.numel() for p in module.parameters()) == 0


def test_frozen_modules_reject_other_spaces():
    spec = RLModuleSpec(
        module_class=RuleBotModule,
        observation_space=gym.spaces.Box(-1.0, 1.0, (89,), np.float32),
        action_space=gym.spaces.Discrete(8),
    )
    with pytest.raises(ValueError, match=r"observation_space shape \(89,\), expected \(172,\); action_space "):
        spec.build()


@pytest.mark.integration
def test_ppo_trains_main_against_the_frozen_modules_with_two_learners(ray_guard):
    """Env runners sample with both modules; two learners (DDP wraps every module) build them and train main;
    the frozen modules' agents never reach the learner batch."""
    import ray
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

    from rl_bot.algo import build_ppo_config, model_config
    from rl_bot.config import load_config

    cfg = load_config(
        None,
        [
            "env.team_size=2",
            "env.backend=rlgym",
            "resources.num_env_runners=0",
            "resources.num_envs_per_env_runner=2",
            "resources.num_learners=2",
            "ppo.train_batch_size=400",
            "ppo.minibatch_size=200",
            "ppo.num_epochs=1",
            "model.fcnet_hiddens=[32]",
            "model.lstm_cell_size=16",
            "model.max_seq_len=10",
        ],
    )
    seats = {"orange-0": "rule", "orange-1": "random"}
    ppo = (
        build_ppo_config(cfg)
        .env_runners(env_runner_cls=MultiAgentEnvRunner)
        .multi_agent(
            policies={"main", "rule", "random"},
            policy_mapping_fn=lambda agent_id, episode, **kw: seats.get(agent_id, "main"),
            policies_to_train=["main"],
        )
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={
                    "main": RLModuleSpec(model_config=model_config(cfg.model)),
                    "rule": RLModuleSpec(module_class=RuleBotModule),  # spaces come from the env
                    "random": RLModuleSpec(module_class=RandomModule),
                }
            )
        )
    )
    ray.init(num_cpus=4, include_dashboard=False)
    algo = ppo.build_algo()
    try:
        result = algo.train()
        steps = result["env_runners"]["num_module_steps_sampled"]
        assert steps["main"] >= 400 and steps["rule"] == steps["random"] >= 100
        assert np.isfinite(result["learners"]["main"]["policy_loss"])
        # frozen modules are neither trained nor reported, so PPO does not sync them to the env runners
        assert "rule" not in result["learners"] and "random" not in result["learners"]
    finally:
        algo.stop()
