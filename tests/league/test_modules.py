"""Frozen opponent RLModules: the rule-bot module samples exactly the numpy rule bot's actions on real observations;
the random module is uniform; both build from an RLModuleSpec like the ones PPO's env runners use."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rl_bot.config import EnvConfig
from rl_bot.env.game import RLGymGame
from rl_bot.evaluate import RandomPolicy
from rl_bot.league.modules import OFF_LOGIT, RandomModule, RuleBotModule
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


def test_rule_bot_module_logits_put_all_mass_on_the_rule_bot_action(real_obs):
    expected = RuleBot().actions(real_obs)
    assert len(real_obs) >= 400 and len(np.unique(expected)) >= 6  # many situations, many different actions
    module = build(RuleBotModule)
    obs = torch.from_numpy(real_obs)
    for forward in (module.forward_exploration, module.forward_inference):
        logits = forward({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        assert logits.shape == (len(real_obs), 90) and logits.dtype == torch.float32
        np.testing.assert_array_equal(logits.argmax(-1).numpy(), expected)
        assert (logits.max(-1).values == 0).all() and ((logits == OFF_LOGIT).sum(-1) == 89).all()

    # what an env runner does with them: sample a TorchCategorical
    torch.manual_seed(0)
    logits = module.forward_exploration({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    sampled = TorchCategorical.from_logits(logits).sample()
    np.testing.assert_array_equal(sampled.numpy(), expected)


def test_rule_bot_module_handles_a_time_dimension(real_obs):
    n = len(real_obs) // 4 * 4
    expected = RuleBot().actions(real_obs[:n]).reshape(-1, 4)
    obs = torch.from_numpy(real_obs[:n]).reshape(-1, 4, 172)  # [B, T, 172]
    logits = build(RuleBotModule).forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    assert logits.shape == (n // 4, 4, 90)
    np.testing.assert_array_equal(logits.argmax(-1).numpy(), expected)


def test_random_module_logits_are_uniform(real_obs):
    module = build(RandomModule)
    logits = module.forward_exploration({Columns.OBS: torch.from_numpy(real_obs)})[Columns.ACTION_DIST_INPUTS]
    assert logits.shape == (len(real_obs), 90) and logits.dtype == torch.float32
    assert (logits == 0).all()
    torch.manual_seed(0)
    counts = np.bincount(TorchCategorical.from_logits(torch.zeros(90_000, 90)).sample().numpy(), minlength=90)
    assert counts.min() > 850 and counts.max() < 1150  # ~1000 each (sd ~31)


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
    assert isinstance(module.get_exploration_action_dist_cls()(logits=torch.zeros(1, 90)), TorchCategorical)


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
