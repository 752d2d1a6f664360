"""The per-episode opponent draw in env runners: one module per episode, distributed as the plan says."""

import pickle
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest

from rl_bot.league.runner import OrangeMapping


def test_every_orange_car_of_an_episode_gets_one_module_and_blue_plays_main():
    m = OrangeMapping(3, (("main", 0.5), ("rule", 0.25), ("opp_0", 0.25)))
    for _ in range(200):
        ep = SimpleNamespace(id_=uuid.uuid4().hex)
        orange = {m(f"orange-{k}", ep) for k in range(3)}
        assert len(orange) == 1
        assert {m(f"blue-{k}", ep) for k in range(3)} == {"main"}


def test_draws_follow_the_plan_probabilities():
    probs = {"main": 0.2, "rule": 0.5, "opp_0": 0.3, "opp_1": 0.0}
    m = OrangeMapping(1, tuple(probs.items()))
    n = 20000
    counts = Counter(m("orange-0", SimpleNamespace(id_=uuid.uuid4().hex)) for _ in range(n))
    for module, p in probs.items():
        assert counts[module] / n == pytest.approx(p, abs=0.012)


def test_a_new_plan_version_redraws_and_the_mapping_pickles():
    ep = SimpleNamespace(id_="same-episode")
    draws = {OrangeMapping(v, (("main", 0.5), ("rule", 0.5)))("orange-0", ep) for v in range(40)}
    assert draws == {"main", "rule"}
    m = OrangeMapping(2, (("rule", 1.0),))
    assert pickle.loads(pickle.dumps(m))("orange-0", ep) == "rule"  # episodes carry it to the learner
