"""PPOConfig mapping and the model: LSTM by default (state carried step to step), feed-forward as option."""

import numpy as np
import pytest
import torch
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rl_bot.algo import MAIN_MODULE, build_ppo_config, model_config
from rl_bot.config import load_config
from rl_bot.env.rllib_env import RocketLeagueEnv


def build_module(cfg):
    env = RocketLeagueEnv({"env": cfg.env.model_dump(mode="json")})
    spec = RLModuleSpec(
        module_class=None,
        observation_space=env.observation_spaces["blue-0"],
        action_space=env.action_spaces["blue-0"],
        model_config=model_config(cfg.model),
    )
    ppo = build_ppo_config(cfg)
    spec.module_class = ppo.get_default_rl_module_spec().module_class
    return spec.build(), env


def test_ppo_config_maps_every_section():
    cfg = load_config(
        None,
        [
            "model.use_lstm=true",
            "resources.num_env_runners=3",
            "resources.num_envs_per_env_runner=5",
            "ppo.lr=0.0007",
            "ppo.num_epochs=2",
            "ppo.train_batch_size=1000",
            "ppo.minibatch_size=250",
            "resources.num_learners=1",
            "resources.num_gpus_per_learner=0.5",
            "run.seed=9",
            "ppo.lambda=0.9",
        ],
    )
    ppo = build_ppo_config(cfg)
    assert ppo.enable_rl_module_and_learner and ppo.enable_env_runner_and_connector_v2
    assert (ppo.num_env_runners, ppo.num_envs_per_env_runner) == (3, 5)
    assert (ppo.num_learners, ppo.num_gpus_per_learner) == (1, 0.5)
    assert ppo.lr == pytest.approx(0.0007) and ppo.num_epochs == 2 and ppo.lambda_ == pytest.approx(0.9)
    assert ppo.train_batch_size_per_learner == 1000 and ppo.minibatch_size == 250
    assert ppo.seed == 9 and ppo.env_config["seed"] == 9
    assert ppo.policies_to_train == [MAIN_MODULE] or set(ppo.policies_to_train) == {MAIN_MODULE}
    assert ppo.policy_mapping_fn("orange-2", None) == MAIN_MODULE
    mc = ppo.rl_module_spec.rl_module_specs[MAIN_MODULE].model_config
    assert mc.use_lstm and mc.lstm_cell_size == 128 and list(mc.fcnet_hiddens) == [256, 256]


def test_lstm_state_is_carried_across_steps():
    cfg = load_config(None, ["model.use_lstm=true", "model.lstm_cell_size=16", "model.fcnet_hiddens=[32]"])
    module, env = build_module(cfg)
    assert module.is_stateful()
    obs, _ = env.reset(seed=0)
    x = torch.from_numpy(obs["blue-0"])[None, None]  # [B=1, T=1, obs]
    state0 = {k: v[None] for k, v in module.get_initial_state().items()}
    with torch.no_grad():
        out1 = module.forward_inference({"obs": x, "state_in": state0})
        out2 = module.forward_inference({"obs": x, "state_in": out1["state_out"]})
        again = module.forward_inference({"obs": x, "state_in": state0})
    assert all(not torch.equal(out1["state_out"][k], state0[k]) for k in state0)
    # same observation, different carried state -> different action distribution
    assert not torch.allclose(out1["action_dist_inputs"], out2["action_dist_inputs"])
    # the state is the only memory: same input and state give the same output
    assert torch.allclose(out1["action_dist_inputs"], again["action_dist_inputs"])
    assert out1["action_dist_inputs"].shape[-1] == 90


def test_feed_forward_option_has_no_state():
    cfg = load_config(None, ["model.use_lstm=false", "model.fcnet_hiddens=[32, 32]"])
    module, env = build_module(cfg)
    assert not module.is_stateful()
    obs, _ = env.reset(seed=0)
    with torch.no_grad():
        out = module.forward_inference({"obs": torch.from_numpy(np.stack([obs["blue-0"], obs["orange-0"]]))})
    assert out["action_dist_inputs"].shape == (2, 90)


@pytest.mark.parametrize(("minibatch", "sgd_steps"), [("null", 1), ("30", "several")])
def test_a_null_minibatch_trains_the_whole_batch_in_one_sgd_step(minibatch, sgd_steps):
    """`ppo.minibatch_size: null` (the peer trainers' one-minibatch setting): one optimizer step per epoch over
    every sample once; a number splits the batch into minibatches of that many samples of main."""
    import copy

    from rl_bot.runner import RLBotEnvRunner

    cfg = load_config(
        None,
        [
            "resources.num_env_runners=0",
            "resources.num_envs_per_env_runner=2",
            "model.fcnet_hiddens=[16]",
            "model.lstm_cell_size=8",
            "model.max_seq_len=5",
            "ppo.train_batch_size=60",
            f"ppo.minibatch_size={minibatch}",
            "ppo.num_epochs=1",
        ],
    )
    ppo = build_ppo_config(cfg)
    runner = RLBotEnvRunner(config=ppo)
    try:
        episodes = runner.sample(num_timesteps=60, explore=True)
        learner = ppo.build_learner(spaces=runner.get_spaces())
    finally:
        runner.stop()
    learner.update(episodes=copy.deepcopy(episodes), minibatch_size=ppo.minibatch_size, num_epochs=ppo.num_epochs)
    optimizer = learner.get_optimizer(MAIN_MODULE)
    steps = {int(state["step"]) for state in optimizer.state.values()}
    assert len(steps) == 1
    if sgd_steps == 1:
        assert ppo.minibatch_size is None and steps == {1}
    else:
        assert steps.pop() >= 4  # 120 samples of main in minibatches of 30


INITIAL_WEIGHTS = """
import hashlib, sys
import numpy as np
from rl_bot.algo import build_ppo_config
from rl_bot.config import load_config
from rl_bot.runner import RLBotEnvRunner
cfg = load_config(None, ["resources.num_env_runners=0", "resources.num_envs_per_env_runner=1",
                         "model.use_lstm=true", "curriculum.enabled=false", "model.fcnet_hiddens=[16]",
                         "model.lstm_cell_size=8", "league.enabled=true",
                         "league.opponents=[rule-basic, rule]", "league.max_pool_size=3", "run.seed=5"])
runner = RLBotEnvRunner(config=build_ppo_config(cfg))
print(list(runner.module.keys()))
for mid in runner.module.keys():
    for name, w in sorted(runner.module[mid].get_state().items()):
        print(mid, name, hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest())
runner.stop()
"""


def test_the_same_seed_builds_the_same_initial_weights_in_every_process_on_one_machine():
    """Same machine, same thread count: exact. The modules must be built in the config's order; built from a set
    of their ids (as RLlib does with ``policies=set(...)``), the order, and so which weights each module draws from
    the seeded generator, followed the string hash, which Python randomizes per process."""
    import os
    import subprocess
    import sys

    outs = []
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "RAY_AUTH_MODE": "disabled"}
        proc = subprocess.run(
            [sys.executable, "-c", INITIAL_WEIGHTS], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(proc.stdout.splitlines())
    assert outs[0][0].count("opp_") >= 1 and "main" in outs[0][0]  # several modules, snapshot slots among them
    assert len(outs[0]) > 10
    assert outs[1] == outs[0] and outs[2] == outs[0]
