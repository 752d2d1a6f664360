"""The per-episode opponent draw in env runners: one module per episode, distributed as the plan says, and only
modules whose weights are ready."""

import pickle
from collections import Counter

import numpy as np
import pytest

from rl_bot.league.assignment import OpponentBook, draw_pool_module
from rl_bot.league.runner import OrangeAssignment


def test_every_orange_car_gets_the_episode_module_and_blue_plays_main():
    m = OrangeAssignment("opp_1")
    assert {m(f"orange-{k}") for k in range(3)} == {"opp_1"}
    assert {m(f"blue-{k}") for k in range(3)} == {"main"}
    assert pickle.loads(pickle.dumps(m))("orange-0") == "opp_1"  # episodes carry it to the learner


def rounds(book, n=40000, seed=0, games_per_round=2):
    """Module counts of ``n`` games, ``games_per_round`` games started per round."""
    rng = np.random.default_rng(seed)
    counts = Counter()
    for k in range(n):
        if k % games_per_round == 0:
            book.new_round(float(rng.random()))
        counts[book.start(f"g{k}", float(rng.random()))] += 1
        book.finish(f"g{k}")
    return counts, n


def test_golden_ratio_draws_keep_every_run_of_games_at_the_league_share():
    book = OpponentBook(first_u=0.123)
    book.set_plan({"module_probs": {"main": 0.8, "rule": 0.2}, "module_members": {"rule": "rule"}}, fetch=None)
    book.new_round(0.5)
    modules = [book.start(f"g{k}", book.next_u()) for k in range(5000)]
    league = np.array([m == "rule" for m in modules])
    assert league.mean() == pytest.approx(0.2, abs=0.001)
    for n in (5, 16, 64):  # every window of n games: 0.2 n league games within two
        counts = np.convolve(league, np.ones(n), mode="valid")
        assert np.abs(counts - 0.2 * n).max() <= 2.0
    # independent draws scatter the same count: some window of 16 games holds none or at least 7
    rng = np.random.default_rng(0)
    iid = np.convolve(rng.random(5000) >= 0.8, np.ones(16), mode="valid")
    assert iid.min() == 0 or iid.max() >= 7


def test_games_follow_the_plan_probabilities_with_one_pool_member_per_round():
    probs = {"main": 0.2, "rule": 0.5, "opp_0": 0.3, "opp_1": 0.0}
    book = OpponentBook()
    book.set_plan({"module_probs": probs, "module_members": {"rule": "rule", "opp_0": "s1", "opp_1": "s2"}}, str)
    book.load_idle(lambda s, w: None)
    counts, n = rounds(book)
    for module, p in probs.items():
        assert counts[module] / n == pytest.approx(p, abs=0.015)
    # within a round every league game plays the same member
    assert book.new_round(0.9) == "opp_0"
    assert {book.start(f"r{k}", 0.2 + k / 50) for k in range(40)} == {"opp_0"}


def test_a_slot_that_is_not_ready_gives_its_share_to_the_other_members_not_to_main():
    probs = {"main": 0.2, "rule": 0.2, "opp_0": 0.6}
    assert draw_pool_module(probs, {"rule"}, 0.99) == "rule"  # opp_0 waits for its running games to end
    assert draw_pool_module(probs, set(), 0.5) is None
    book = OpponentBook()
    book.set_plan({"module_probs": probs, "module_members": {"rule": "rule", "opp_0": "s"}}, lambda m: None)
    book.games["old"] = ("opp_0", "older")  # a running game blocks the slot: no load
    book.loaded["opp_0"] = "older"
    counts, n = rounds(book, n=5000, games_per_round=1)
    assert counts["opp_0"] == 0
    assert counts["main"] / n == pytest.approx(0.2, abs=0.02)
    assert counts["rule"] / n == pytest.approx(0.8, abs=0.02)


WEIGHTS = {f"snap-{k:04d}": {"w": k} for k in range(1, 10)}


def plan(members: dict[str, str], share: float = 0.0) -> dict:
    """A plan whose pool is ``members`` (module -> member), equally likely."""
    probs = {"main": share, **{m: (1 - share) / len(members) for m in members}}
    return {"module_probs": probs, "module_members": dict(members)}


def test_a_slot_takes_new_weights_only_once_its_games_have_ended():
    book, loaded, fetched = OpponentBook(), {}, []

    def fetch(member):
        fetched.append(member)
        return WEIGHTS[member]

    def load(slot, weights):
        loaded[slot] = weights

    book.set_plan(plan({"opp_0": "snap-0001"}), fetch)
    book.load_idle(load)
    assert loaded == {"opp_0": {"w": 1}} and book.ready() == {"opp_0"}
    assert book.new_round(0.5) == "opp_0"
    assert book.start("g1", 0.5) == "opp_0"
    assert book.start("g2", 0.5) == "opp_0"

    # snap-0002 replaces snap-0001 in the same slot while g1 and g2 still play
    book.set_plan(plan({"opp_0": "snap-0002", "rule": "rule"}), fetch)
    assert book.load_idle(load) == [] and loaded["opp_0"] == {"w": 1}  # g1, g2 keep their opponent's weights
    assert "opp_0" not in book.ready()
    assert {book.start("n", 0.5)} == {"main"}  # the round's member left the plan: no league game until a new round
    book.finish("n")
    assert {book.new_round(k / 50) for k in range(50)} == {"rule"}  # new rounds avoid the busy slot
    assert book.finish("g1") == ("opp_0", "snap-0001")  # recorded against the member it started with
    assert book.load_idle(load) == []  # g2 still plays
    assert book.finish("g2") == ("opp_0", "snap-0001")
    assert book.load_idle(load) == ["opp_0"] and loaded["opp_0"] == {"w": 2}
    assert book.new_round(0.25) == "opp_0"
    assert book.start("g3", 0.5) == "opp_0" and book.finish("g3") == ("opp_0", "snap-0002")
    assert fetched == ["snap-0001", "snap-0002"]  # each snapshot's weights fetched once


def test_a_member_pruned_while_its_games_run_is_still_the_recorded_opponent():
    book = OpponentBook()
    book.set_plan(plan({"opp_1": "snap-0003"}), WEIGHTS.get)
    book.load_idle(lambda s, w: None)
    book.new_round(0.5)
    assert book.start("g", 0.5) == "opp_1"
    book.set_plan(plan({"rule": "rule"}), WEIGHTS.get)  # snap-0003 retired: its slot leaves the plan
    assert book.ready() == {"rule"}
    assert book.finish("g") == ("opp_1", "snap-0003")
    assert book.finish("g") is None  # once


def test_games_dropped_by_a_reset_are_forgotten_and_free_their_slot():
    book, loaded = OpponentBook(), {}
    book.set_plan(plan({"opp_0": "snap-0001"}), WEIGHTS.get)
    book.load_idle(loaded.__setitem__)
    book.new_round(0.5)
    assert book.start("lost", 0.5) == "opp_0"
    book.set_plan(plan({"opp_0": "snap-0002"}), WEIGHTS.get)
    assert book.load_idle(loaded.__setitem__) == []
    book.forget_all_but(["other"])
    assert book.load_idle(loaded.__setitem__) == ["opp_0"] and loaded["opp_0"] == {"w": 2}
    status = book.status()
    assert (status["loaded"], status["pending"], status["in_flight"]) == ({"opp_0": "snap-0002"}, [], {})


def test_without_a_plan_nothing_is_drawn():
    assert OpponentBook().start("g", 0.5) is None


def test_a_round_lasts_round_steps_env_steps_or_until_its_member_is_not_ready():
    book = OpponentBook()
    probs = {"main": 0.5, "rule": 0.25, "opp_0": 0.25}
    book.set_plan(
        {"module_probs": probs, "module_members": {"rule": "rule", "opp_0": "snap-0001"}, "round_steps": 100},
        WEIGHTS.get,
    )
    assert book.round_over()  # nothing drawn yet
    book.load_idle(lambda s, w: None)
    assert book.new_round(0.9) == "opp_0" and not book.round_over()
    book.advance(60)
    assert not book.round_over()  # 60 of 100 env steps
    book.advance(40)
    assert book.round_over()
    book.new_round(0.9)
    assert book.start("g", 0.9) == "opp_0"  # a game against snap-0001 runs in opp_0
    book.set_plan(
        {"module_probs": probs, "module_members": {"rule": "rule", "opp_0": "snap-0002"}, "round_steps": 100},
        WEIGHTS.get,
    )
    assert book.round_over()  # opp_0 waits for its game to end: the round's member is not ready
    assert book.new_round(0.9) == "rule" and not book.round_over()
