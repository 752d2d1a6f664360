"""League core: sampling distributions on a fixed pool, game records and rating fits, snapshots and slots, pruning,
state round trip."""

import json
import math

import numpy as np
import pytest

from rl_bot.config import LeagueConfig
from rl_bot.league.league import MAIN, League, strategy_weights
from rl_bot.league.ratings import main_player

ANCHORS = {"random": 700.0, "rule-basic": 1100.0, "rule": 1500.0}


def make_league(**kw) -> League:
    """A league with the rule anchor and two snapshots rated 1700 and 1100; main at 1500."""
    kw.setdefault("opponents", ("rule",))
    kw.setdefault("pfsp_weighting", "hard")
    cfg = LeagueConfig(enabled=True, prior_games=0, **kw)
    lg = League(cfg, ANCHORS)
    a, _ = lg.add_snapshot(iteration=1, env_steps=100)
    b, _ = lg.add_snapshot(iteration=2, env_steps=200)
    a.rating, b.rating = 1700.0, 1100.0
    lg.main_rating = 1500.0
    return lg


def probs(lg: League) -> list[float]:
    p = lg.probabilities()
    return [p["rule"], p["snap-0001"], p["snap-0002"]]


def normalised(*w: float) -> list[float]:
    return list(np.array(w) / sum(w))


def test_uniform():
    assert probs(make_league(strategy="uniform")) == pytest.approx([1 / 3] * 3)


def test_elo_weighted_uses_rating_gap_and_temperature():
    # gaps 0, 200, 400 with a 200 window: weights 1, e^-1, e^-2
    assert probs(make_league(strategy="elo_weighted", elo_window=200)) == pytest.approx(
        normalised(1, math.exp(-1), math.exp(-2))
    )
    # temperature 0.5 squares every weight
    assert probs(make_league(strategy="elo_weighted", elo_window=200, temperature=0.5)) == pytest.approx(
        normalised(1, math.exp(-2), math.exp(-4))
    )


def test_recent_weighted_prefers_new_snapshots_and_anchor_counts_as_oldest():
    assert probs(make_league(strategy="recent_weighted", recency_decay=0.5)) == pytest.approx(
        normalised(0.25, 0.5, 1.0)
    )


def with_results(lg: League, results: dict[str, list[float]]) -> League:
    for mid, scores in results.items():
        lg.find(mid).recent = list(scores)
    return lg


RESULTS = {"rule": [1, 1, 1, 0], "snap-0001": [0, 0, 0.5, 1], "snap-0002": [1, 1, 1, 1]}  # p = .75, .375, 1


def test_pfsp_hard_and_variance():
    hard = with_results(make_league(strategy="pfsp", pfsp_weighting="hard"), RESULTS)
    assert probs(hard) == pytest.approx(normalised(0.25**2, 0.625**2, 0.0))
    var = with_results(make_league(strategy="pfsp", pfsp_weighting="variance"), RESULTS)
    assert probs(var) == pytest.approx(normalised(0.75 * 0.25, 0.375 * 0.625, 0.0))


def test_pfsp_falls_back_to_uniform_when_main_beats_everyone():
    lg = with_results(make_league(strategy="pfsp"), {m: [1, 1] for m in ("rule", "snap-0001", "snap-0002")})
    assert probs(lg) == pytest.approx([1 / 3] * 3)


def test_difficulty_adjusted_aims_at_target():
    lg = with_results(make_league(strategy="difficulty_adjusted", target_win_rate=0.4, difficulty_width=0.2), RESULTS)
    w = [math.exp(-0.5 * ((p - 0.4) / 0.2) ** 2) for p in (0.75, 0.375, 1.0)]
    assert probs(lg) == pytest.approx(normalised(*w))
    assert max(lg.probabilities(), key=lg.probabilities().get) == "snap-0001"  # p closest to 0.4


def test_prior_blends_elo_expectation_into_p():
    lg = make_league(strategy="pfsp")
    lg.cfg = lg.cfg.model_copy(update={"prior_games": 4})
    m = lg.find("snap-0001")  # rated 1700 vs main 1500: expectation 1/(1+10^0.5)
    e = 1 / (1 + 10**0.5)
    assert lg.p_estimate(m) == pytest.approx(e)
    m.recent = [1, 1, 1, 1]
    assert lg.p_estimate(m) == pytest.approx((4 + 4 * e) / 8)


def test_no_touch_discount_moves_games_away_from_members_that_give_ball_less_draws():
    lg = make_league(strategy="uniform")
    for _ in range(3):  # three no-touch timeouts against snap-0001: touch rate (0 + 1) / (3 + 1)
        lg.record_game("snap-0001", 0, 0, "no_touch")
    lg.record_game("rule", 0, 1, "goal")  # touched: (1 + 1) / (1 + 1)
    lg.record_game("snap-0002", 0, 0, "no_touch")  # (0 + 1) / (1 + 1); then one touched game: (1 + 1) / (2 + 1)
    lg.record_game("snap-0002", 1, 0, "goal")
    assert [lg.find(m).touch_rate() for m in ("rule", "snap-0001", "snap-0002")] == pytest.approx([1, 1 / 4, 2 / 3])
    assert probs(lg) == pytest.approx(normalised(1, 1 / 4, 2 / 3))
    lg.cfg = lg.cfg.model_copy(update={"no_touch_discount": False})
    assert probs(lg) == pytest.approx([1 / 3] * 3)
    # the window is win_rate_window games, rated or not
    lg.cfg = lg.cfg.model_copy(update={"win_rate_window": 2})
    for _ in range(2):
        lg.record_game("snap-0001", 0, 1, "goal")
    assert lg.find("snap-0001").recent_touched == [1, 1]


def test_plan_splits_main_share_and_sampling_matches_it():
    lg = make_league(strategy="elo_weighted", main_share=0.3)
    plan = lg.plan()
    assert plan["module_probs"][MAIN] == pytest.approx(0.3)
    assert sum(plan["module_probs"].values()) == pytest.approx(1.0)
    assert plan["module_members"] == {"rule": "rule", "opp_0": "snap-0001", "opp_1": "snap-0002"}
    expected = {MAIN: 0.3, **{m: 0.7 * p for m, p in lg.probabilities().items()}}
    modules = {v: k for k, v in plan["module_members"].items()} | {MAIN: MAIN}
    for mid, p in expected.items():
        assert plan["module_probs"][modules[mid]] == pytest.approx(p)


def test_weights_are_finite_for_an_empty_pool():
    cfg = LeagueConfig(enabled=True)
    assert strategy_weights(cfg, [], 1500.0, np.zeros(0)).size == 0


def test_games_are_recorded_and_no_touch_timeouts_are_not_rated():
    lg = make_league()
    rec = lg.record_game("rule", 1, 0, "goal")
    assert (rec.outcome, rec.rated, rec.end) == ("win", True, "goal")
    rec = lg.record_game("snap-0001", 0, 0, "time")  # the game clock ran out: a rated draw
    assert (rec.outcome, rec.rated) == ("draw", True)
    rec = lg.record_game("snap-0001", 0, 0, "no_touch")  # nobody touched the ball: recorded, not rated
    assert (rec.outcome, rec.rated) == ("draw", False)
    snap = lg.find("snap-0001")
    assert (snap.wins, snap.draws, snap.losses, snap.games, snap.unrated) == (0, 1, 0, 1, 1)
    assert snap.recent == [0.5]
    assert (lg.games, lg.unrated_games) == (2, 1)
    assert lg.results == {(0, "rule"): [1.0, 1.0], (0, "snap-0001"): [1.0, 0.5]}
    with pytest.raises(KeyError):
        lg.record_game("nobody", 1, 0, "goal")
    with pytest.raises(ValueError, match="unknown game end"):
        lg.record_game("rule", 1, 0, "overtime")


def test_games_against_a_retired_member_are_still_recorded_and_rated():
    lg = make_league(max_pool_size=2)
    lg.add_snapshot(iteration=3, env_steps=300)  # replaces snap-0001
    assert lg.find("snap-0001").removed_iteration == 3
    rec = lg.record_game("snap-0001", 2, 0, "goal")
    assert rec.rated and rec.opponent == "snap-0001" and lg.find("snap-0001").wins == 1
    lg.end_iteration(3)
    assert "snap-0001" in lg._fit.ratings


def test_refit_rates_main_from_games_against_the_anchors():
    lg = League(LeagueConfig(enabled=True, opponents=("rule-basic", "rule"), rating_drift=1.0), ANCHORS)
    rng = np.random.default_rng(0)
    # main scores 76 % against rule-basic (1100) and 24 % against rule (1500): it is rated about 1300
    for it in range(1, 6):
        lg.iteration = it
        for _ in range(100):
            for opp, p in (("rule-basic", 0.76), ("rule", 0.24)):
                win = rng.random() < p
                lg.record_game(opp, int(win), int(not win), "goal")
        lg.end_iteration(it)
    lo, hi = lg.main_interval()
    assert lo < 1300 < hi and hi - lo < 80
    assert lg.metrics()["league/elo_main_low"] == lo
    assert lg.history[-1]["elo_main_high"] == hi
    assert main_player(5) in lg._fit.ratings


def test_snapshot_due_every_n_and_on_win_rate():
    cfg = LeagueConfig(
        enabled=True, opponents=("rule",), snapshot_every_n_iterations=3, snapshot_win_rate=0.8, win_rate_window=4
    )
    lg = League(cfg, ANCHORS)
    assert lg.snapshot_due(2) is None
    assert "every 3" in lg.snapshot_due(3)
    lg.add_snapshot(3, 0)
    for _ in range(4):
        lg.record_game("rule", 1, 0, "goal")
    assert "score rate" in lg.snapshot_due(4)
    lg.add_snapshot(4, 0)
    assert lg.snapshot_due(5) is None  # window cleared by the snapshot


def test_pruning_retires_weak_snapshots_but_never_the_anchor():
    lg = make_league(min_elo_diff=300)
    lg.main_rating = 1900.0  # rule is 400 below, snap-0002 800 below, snap-0001 200 below
    pruned = lg.prune(iteration=7)
    assert [m.id for m in pruned] == ["snap-0002"]
    assert {m.id for m in lg.members} == {"rule", "snap-0001"}
    assert lg.find("snap-0002").removed_iteration == 7
    assert "snap-0002" not in lg.probabilities()


def test_full_pool_replaces_oldest_snapshot_into_the_slot_freed_longest_ago():
    lg = make_league(max_pool_size=2)  # 3 slots: snap-0001 in opp_0, snap-0002 in opp_1, opp_2 never used
    new, evicted = lg.add_snapshot(iteration=3, env_steps=300)
    assert [m.id for m in evicted] == ["snap-0001"]
    # the new snapshot takes the spare slot: games still running against snap-0001 in opp_0 keep its weights
    assert new.module == "opp_2" and new.rating == lg.main_rating
    assert [m.id for m in lg.snapshots] == ["snap-0002", "snap-0003"]
    newer, evicted = lg.add_snapshot(iteration=5, env_steps=500)
    assert [m.id for m in evicted] == ["snap-0002"] and newer.module == "opp_0"  # freed at 3, before opp_1 at 5
    assert {m.module for m in lg.snapshots} == {"opp_2", "opp_0"}


def test_state_round_trip_through_json():
    lg = with_results(make_league(strategy="pfsp"), RESULTS)
    lg.record_game("snap-0002", 2, 1, "goal")
    lg.record_game("rule", 0, 0, "no_touch")
    lg.end_iteration(2)
    lg.prune(2)
    state = json.loads(json.dumps(lg.state()))
    back = League.from_state(lg.cfg, ANCHORS, state)
    assert back.state() == lg.state()
    assert back.probabilities() == lg.probabilities()
    assert back.plan() == lg.plan()
    # numbering continues after snapshot files a discarded later part of the run wrote
    later = League.from_state(lg.cfg, ANCHORS, state, min_snapshot_number=7)
    assert later.add_snapshot(3, 0)[0].id == "snap-0008"


def test_table_lists_main_pool_and_retired():
    lg = make_league(min_elo_diff=300)
    lg.main_rating = 1900.0
    lg.prune(3)
    rows = lg.table()
    assert [r[0] for r in rows] == [MAIN, "snap-0001", "rule", "snap-0002"]  # pool by rating, then retired
    assert all(len(r) == len(League.TABLE_FIELDS) for r in rows)
    col = {f: i for i, f in enumerate(League.TABLE_FIELDS)}
    assert rows[-1][col["in_pool"]] is False and rows[-1][col["removed_iteration"]] == 3
    assert rows[2][col["rating_low"]] == rows[2][col["rating_high"]] == 1500.0  # the anchor's rating is fixed
