"""The per-episode opponent draw in env runners: one module per episode, distributed as the plan says, and only
modules whose weights are ready."""

import pickle
from collections import Counter

import numpy as np
import pytest

from rl_bot.league.runner import OrangeAssignment, draw_module


def test_every_orange_car_gets_the_episode_module_and_blue_plays_main():
    m = OrangeAssignment("opp_1")
    assert {m(f"orange-{k}") for k in range(3)} == {"opp_1"}
    assert {m(f"blue-{k}") for k in range(3)} == {"main"}
    assert pickle.loads(pickle.dumps(m))("orange-0") == "opp_1"  # episodes carry it to the learner


def draws(probs, ready, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    return Counter(draw_module(probs, ready, float(rng.random())) for _ in range(n)), n


def test_draws_follow_the_plan_probabilities():
    probs = {"main": 0.2, "rule": 0.5, "opp_0": 0.3, "opp_1": 0.0}
    counts, n = draws(probs, {"rule", "opp_0", "opp_1"})
    for module, p in probs.items():
        assert counts[module] / n == pytest.approx(p, abs=0.012)


def test_a_slot_that_is_not_ready_gives_its_share_to_the_other_members_not_to_main():
    probs = {"main": 0.2, "rule": 0.2, "opp_0": 0.6}
    counts, n = draws(probs, {"rule"})  # opp_0 waits for its running games to end
    assert counts["opp_0"] == 0
    assert counts["main"] / n == pytest.approx(0.2, abs=0.012)
    assert counts["rule"] / n == pytest.approx(0.8, abs=0.012)
    # nothing ready: every game is self-play
    counts, n = draws(probs, set(), n=2000)
    assert counts == Counter({"main": 2000})
