"""A feed-forward actor's torch weights (rlgym-learn-algos' DiscreteFF layout) play inside rl-bot eval: its greedy
actions are the torch model's argmax, its sampled ones follow its softmax, bad files exit 2."""

import numpy as np
import pytest
import torch
from torch import nn

from rl_bot.cli import main as cli
from rl_bot.config import ConfigError
from rl_bot.env.batched import OBS_SIZE
from rl_bot.env.game import NUM_ACTIONS
from rl_bot.evaluate import FF_CHECKPOINT_FILE, feed_forward_policy


def peer_actor(seed=0, hidden=(32, 32)):
    """The peer's actor: Linear/ReLU layers, a last Linear to 90 actions, then Softmax."""
    torch.manual_seed(seed)
    sizes = [OBS_SIZE, *hidden]
    layers = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], NUM_ACTIONS), nn.Softmax(dim=-1))


def save_checkpoint_folder(tmp_path, model):
    """An rlgym-learn-algos PPO checkpoint folder: actor_critic.pt with actor.model.* and critic.* keys."""
    folder = tmp_path / "peer-ckpt"
    folder.mkdir()
    state = {f"actor.model.{k}": v for k, v in model.state_dict().items()}
    state["critic.model.0.weight"] = torch.zeros(4, OBS_SIZE)  # the critic is ignored
    torch.save(state, folder / FF_CHECKPOINT_FILE)
    return folder


def test_greedy_actions_are_the_torch_models_argmax_and_sampling_follows_its_softmax(tmp_path):
    model = peer_actor()
    folder = save_checkpoint_folder(tmp_path, model)
    obs = np.random.default_rng(0).normal(size=(1000, OBS_SIZE)).astype(np.float32)
    with torch.no_grad():
        probs = model(torch.from_numpy(obs)).numpy()
    greedy = feed_forward_policy(folder, explore=False)
    np.testing.assert_array_equal(greedy.act(obs, np.arange(1000)), probs.argmax(-1))  # discrete: exact
    # logits through softmax give the peer's probabilities (float32 kernels: tolerance, not bits)
    logits = greedy.logits(obs)
    mine = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(mine / mine.sum(-1, keepdims=True), probs, rtol=1e-4, atol=1e-6)
    # sampled: one observation many times; the action frequencies match the probabilities
    sampled = feed_forward_policy(folder, explore=True, seed=1)
    one = np.repeat(obs[:1] * 0.0, 20000, axis=0)
    freq = np.bincount(sampled.act(one, np.arange(20000)), minlength=NUM_ACTIONS) / 20000
    p = model(torch.from_numpy(one[:1])).detach().numpy()[0]
    assert np.abs(freq - p).max() < 0.02


def test_a_bare_state_dict_file_loads_too(tmp_path):
    model = peer_actor(hidden=(16,))
    torch.save(model.state_dict(), tmp_path / "actor.pt")
    policy = feed_forward_policy(tmp_path / "actor.pt", explore=False)
    assert [w.shape for w, _ in policy.layers] == [(16, OBS_SIZE), (NUM_ACTIONS, 16)]


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("not torch"), "is not a torch state dict"),
        (lambda p: torch.save({"x": torch.zeros(2)}, p), "no numbered linear layers"),
        (lambda p: torch.save(nn.Sequential(nn.Linear(10, NUM_ACTIONS)).state_dict(), p), "takes 10 inputs"),
        (lambda p: torch.save(nn.Sequential(nn.Linear(OBS_SIZE, 8)).state_dict(), p), "gives 8 outputs"),
    ],
)
def test_files_that_are_not_such_an_actor_are_one_clear_error(tmp_path, make, needle):
    path = tmp_path / "actor.pt"
    make(path)
    with pytest.raises(ConfigError, match=needle):
        feed_forward_policy(path)


def test_eval_plays_an_ff_actor_against_a_builtin_and_rejects_a_bad_one(tmp_path, capsys):
    folder = save_checkpoint_folder(tmp_path, peer_actor())
    assert cli(["eval", "--player", f"ff:{folder}", "--opponent", "random", "--games", "4", "--arenas", "4"]) == 0
    out = capsys.readouterr().out
    assert f"feed-forward actor {folder} (sampled actions)" in out and "vs random: 4 games" in out
    assert cli(["eval", "--player", "rule", "--opponent", f"ff:{folder}", "--games", "4", "--greedy"]) == 0
    assert "vs ff:" in capsys.readouterr().out
    assert cli(["eval", "--player", "rule", "--opponent", f"ff:{tmp_path / 'nope.pt'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli(["eval", "--player", "bogus"]) == 2
    assert "--player 'bogus'" in capsys.readouterr().err
