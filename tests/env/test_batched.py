"""The batched game and the rlgym component game agree on observations, rewards and done flags."""

import driving
import numpy as np
import pytest
import RocketSim as rsim
from compare import assert_same

from rl_bot.config import EnvConfig, RewardTerm
from rl_bot.env.batched import BatchedGame
from rl_bot.env.game import NUM_ACTIONS, RLGymGame


def f32(x) -> np.ndarray:
    """Rewards and their sums, compared at float32: both paths start from RocketSim's float32 state, then one
    computes in float64 and the other partly in float32."""
    return np.asarray(x, dtype=np.float32)


def put_ball_in_front_of_orange_goal(arena) -> None:
    bs = rsim.BallState()
    bs.pos = rsim.Vec(0, 5000, 100)
    bs.vel = rsim.Vec(0, 2000, 0)
    arena.ball.set_state(bs)


#: Every term with a batched kernel (non-default kwargs where it has any), plus team spirit, opponent penalty, clip
#: and all start states.
ALL_TERMS = dict(
    rewards=(
        RewardTerm(name="goal", weight=10.0),
        RewardTerm(name="concede", weight=3.0),
        RewardTerm(name="touch", weight=2.0),
        RewardTerm(name="advanced_touch", weight=1.0, kwargs={"acceleration_reward": 2.0, "use_touch_count": False}),
        RewardTerm(name="shot", weight=1.5, kwargs={"horizon_s": 3.0}),
        RewardTerm(name="save", weight=1.5),
        RewardTerm(name="velocity_player_to_ball", weight=1.0, kwargs={"include_negative_values": False}),
        RewardTerm(name="velocity_ball_to_goal", weight=1.0),
        RewardTerm(name="face_ball", weight=0.5),
        RewardTerm(name="boost_change", weight=1.0, kwargs={"gain_weight": 2.0}),
        RewardTerm(name="boost_keep", weight=0.3, kwargs={"reward_per_second": 2.0}),
    ),
    reward_category_weights={"event": 0.5},
    team_spirit=0.3,
    opponent_penalty=0.2,
    reward_clip=12.0,
    start_states={"kickoff": 1.0, "random": 1.0, "ground_ball": 1.0, "aerial": 1.0},
)


@pytest.mark.parametrize(("team_size", "extra"), [(1, {}), (2, {}), (3, {}), (1, ALL_TERMS), (2, ALL_TERMS)])
def test_batched_and_component_readings_of_the_same_arena_agree(team_size, extra):
    """rlgym steps one arena with its components; the batched game reads that very arena after every step.

    (Two arenas in lock-step are no reference: with several bodies in contact RocketSim's results depend on
    memory layout, so two arenas drift apart by ~1e-4 and then chaotically.)
    """
    cfg = EnvConfig(team_size=team_size, no_touch_timeout_s=4.0, game_timeout_s=12.0, **extra)
    ref = RLGymGame(cfg)
    batched = BatchedGame(cfg, num_arenas=1, games=[ref])
    ref.seed(11)
    rng = np.random.default_rng(team_size)
    ref_obs = ref.reset()
    batched.start_episode(0)
    arena = ref.gym.transition_engine._arena
    seen = {"touch": 0, "goal": 0, "truncated": 0, "nonzero": set(), "starts": set()}
    for t in range(900):
        assert_same(batched.observations()[0], np.stack([ref_obs[a] for a in ref.agents]), f"observations, step {t}")
        if t % 150 == 100:
            put_ball_in_front_of_orange_goal(arena)
        chase = driving.steer_at_ball(ref.state, ref.agents)
        acts = [chase[a] if rng.random() < 0.7 else rng.integers(NUM_ACTIONS) for a in ref.agents]
        ref_obs, ref_rew, term, trunc = ref.step({a: np.array([x]) for a, x in zip(ref.agents, acts, strict=True)})
        # rlgym's engine consumed the touch counts; hand them to the batched reading
        batched._read(0)
        batched.touches[0] = [ref.state.cars[a].ball_touches for a in ref.agents]
        batched.ticks[0] += cfg.tick_skip
        rew, b_term, b_trunc = batched._outcomes(np.ones(1, bool))
        assert set(batched.last_terms) == set(ref.reward.last_terms)
        for name, values in ref.reward.last_terms.items():
            assert_same(f32(batched.last_terms[name][0]), f32(values[0]), f"term {name}, step {t}")
            if np.any(values != 0):
                seen["nonzero"].add(name)
        assert_same(f32(rew[0]), f32([ref_rew[a] for a in ref.agents]), f"rewards, step {t}")
        assert (bool(b_term[0]), bool(b_trunc[0])) == (term, trunc), f"done flags differ at step {t}"
        seen["touch"] += any(c.ball_touches for c in ref.state.cars.values())
        if term or trunc:
            b, r = batched.stats[0], ref.stats
            assert (b.length, b.touches, b.goals_blue, b.goals_orange, b.touches_by_agent) == (
                r.length,
                r.touches,
                r.goals_blue,
                r.goals_orange,
                r.touches_by_agent,
            )
            assert_same(f32([b.return_blue, b.return_orange]), f32([r.return_blue, r.return_orange]), "returns")
            seen["goal"] += term
            seen["truncated"] += trunc
            assert_same(
                {k: f32(v) for k, v in b.reward_terms.items()}, {k: f32(v) for k, v in r.reward_terms.items()}, "sums"
            )
            ref_obs = ref.reset()
            batched.start_episode(0)
            seen["starts"].add(ref.stats.start)
    # the comparison covered touches, goals and truncations, and every term was non-zero at some step
    assert seen["touch"] > 0 and seen["goal"] > 0 and seen["truncated"] > 0, seen
    missing = {t.metric_name for t in cfg.rewards} - seen["nonzero"]
    # (a save needs a defender's touch at the right moment: tests/env/test_rewards.py builds one)
    assert not missing - {"save"}, f"terms never exercised: {missing}"
    assert len(seen["starts"]) == (4 if extra else 1), seen["starts"]


def test_batched_control_path_matches_rlgym_engine_in_lockstep():
    """Two arenas, same kickoff, same random actions: the batched path (pre-built controls, 1 tick then
    tick_skip - 1 ticks for RLBot's delay) moves the cars exactly as rlgym's engine does. Random actions keep the
    cars apart, away from the multi-body contacts whose results depend on each arena's memory layout."""
    cfg = EnvConfig(team_size=1)
    ref = RLGymGame(cfg)
    batched = BatchedGame(cfg, num_arenas=1)
    ref.seed(3)
    batched.seed(0, 3)
    ref_obs = ref.reset()
    batched.reset(0)
    rng = np.random.default_rng(0)
    for t in range(300):
        assert_same(batched.observations()[0], np.stack([ref_obs[a] for a in ref.agents]), f"observations, step {t}")
        acts = rng.integers(NUM_ACTIONS, size=2)
        ref_obs, ref_rew, term, trunc = ref.step({a: np.array([x]) for a, x in zip(ref.agents, acts, strict=True)})
        rew, b_term, b_trunc = batched.step(acts[None, :])
        assert_same(f32(rew[0]), f32([ref_rew[a] for a in ref.agents]), f"rewards, step {t}")
        assert (bool(b_term[0]), bool(b_trunc[0])) == (term, trunc)
        if term or trunc:
            ref_obs = ref.reset()
            batched.reset(0)


def test_demolished_car_is_observed_like_rlgym_on_the_same_arena():
    cfg = EnvConfig(team_size=2)
    batched = BatchedGame(cfg, num_arenas=1)
    batched.seed(0, 3)
    batched.reset(0)
    engine = batched._engines[0]
    rng = np.random.default_rng(0)
    for t in range(60):
        if t == 10:
            next(iter(engine._cars.values())).demolish()  # blue-0
        batched.step(rng.integers(NUM_ACTIONS, size=(1, 4)))
        state = engine._get_state()  # rlgym's own reading of the very same arena
        ref = batched.games[0].gym.obs_builder.build_obs(batched.agents, state, {})
        assert_same(batched.observations()[0], np.stack([ref[a] for a in batched.agents]), f"observations, step {t}")
        if 10 <= t < 20:
            assert state.cars["blue-0"].is_demoed


def test_many_arenas_step_independently_and_reset_only_when_asked():
    cfg = EnvConfig(team_size=1)
    batched = BatchedGame(cfg, num_arenas=4)
    for i in range(4):
        batched.seed(i, i)
        batched.reset(i)
    active = np.array([True, False, True, True])
    ticks_before = batched.ticks.copy()
    rew, term, trunc = batched.step(np.zeros((4, 2), np.int64), active)
    assert (batched.ticks - ticks_before).tolist() == [8, 0, 8, 8]
    assert rew[1].tolist() == [0.0, 0.0] and not term[1] and not trunc[1]
    obs = batched.observations()
    assert obs.shape == (4, 2, 172) and obs.dtype == np.float32


def test_custom_components_are_refused_with_the_fix():
    cfg = EnvConfig(rewards=(RewardTerm(name="custom_reward:ConstantReward"),))
    assert "set env.backend=rlgym" in cfg.batched_problems()[0]
    with pytest.raises(ValueError, match="env.backend=rlgym"):
        BatchedGame(cfg, 1)


def test_multi_step_thread_pool_gives_the_same_games_as_the_loop():
    cfg = EnvConfig(team_size=1)  # random actions, cars apart: no multi-body contact (see above)
    games = [BatchedGame(cfg, num_arenas=3, multi_step=ms) for ms in (False, True)]
    for g in games:
        for i in range(3):
            g.seed(i, 100 + i)
            g.reset(i)
    rng = np.random.default_rng(0)
    for _ in range(60):
        acts = rng.integers(NUM_ACTIONS, size=(3, 2))
        outs = [g.step(acts) for g in games]
        assert_same(games[1].observations(), games[0].observations(), "observations")
        assert_same(outs[1], outs[0], "rewards and done flags")
