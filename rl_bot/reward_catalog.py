"""The built-in reward terms: name, category, the rlgym v2 component that computes it, and the keyword arguments the
batched backend's numpy kernel understands (pure, import-light: the config validates against this table).

Categories decide what each reward mode computes (``MODE_CATEGORIES``): ``outcome`` terms score the result of a
game, ``event`` terms score things a car does at one moment, ``shaping`` terms pay a little every step to guide
behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("outcome", "event", "shaping")
#: The categories each reward mode computes; terms of the other categories are not built at all.
MODE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "sparse": ("outcome",),
    "hybrid": ("outcome", "event"),
    "dense": ("outcome", "event", "shaping"),
}


@dataclass(frozen=True)
class TermInfo:
    """One built-in term."""

    category: str
    component: str  # import path of the rlgym v2 RewardFunction
    #: kwargs the batched kernel computes (None: no kernel, the term needs env.backend=rlgym)
    batched_kwargs: frozenset[str] | None
    doc: str


_OURS = "rl_bot.env.rewards"
_TOOLS = "rlgym_tools.rocket_league.reward_functions"

BUILTIN_TERMS: dict[str, TermInfo] = {
    "goal": TermInfo(
        "outcome",
        "rlgym.rocket_league.reward_functions:GoalReward",
        frozenset(),
        "+1 to every car of the scoring team, -1 to every car of the other team, on the step of a goal.",
    ),
    "concede": TermInfo(
        "outcome", f"{_OURS}:ConcedeReward", frozenset(), "-1 to every car of the team that conceded a goal."
    ),
    "touch": TermInfo(
        "event",
        "rlgym.rocket_league.reward_functions:TouchReward",
        frozenset(),
        "1 on a step the car touches the ball.",
    ),
    "advanced_touch": TermInfo(
        "event",
        f"{_TOOLS}.advanced_touch_reward:AdvancedTouchReward",
        frozenset({"touch_reward", "acceleration_reward", "use_touch_count"}),
        "touch_reward per touch (or per touching step) plus acceleration_reward x |ball velocity change| / "
        "BALL_MAX_SPEED (rlgym-tools).",
    ),
    "shot": TermInfo(
        "event",
        f"{_OURS}:ShotReward",
        frozenset({"horizon_s"}),
        "1 to a car whose touch turns the ball onto a path into the opponent goal within horizon_s.",
    ),
    "save": TermInfo(
        "event",
        f"{_OURS}:SaveReward",
        frozenset({"horizon_s"}),
        "1 to a car whose touch turns the ball off a path into its own goal within horizon_s.",
    ),
    "demo": TermInfo(
        "event",
        f"{_TOOLS}.demo_reward:DemoReward",
        None,
        "attacker_reward to a car that demolishes another, -victim_punishment to the victim (rlgym-tools).",
    ),
    "ball_travel": TermInfo(
        "event",
        f"{_TOOLS}.ball_travel_reward:BallTravelReward",
        None,
        "distance the ball travels between touches, weighted by who touched it (rlgym-tools; set its weights).",
    ),
    "aerial_distance": TermInfo(
        "event",
        f"{_TOOLS}.aerial_distance_reward:AerialDistanceReward",
        None,
        "height of a first aerial touch and distance flown between aerial touches (rlgym-tools).",
    ),
    "velocity_player_to_ball": TermInfo(
        "shaping",
        f"{_TOOLS}.velocity_player_to_ball_reward:VelocityPlayerToBallReward",
        frozenset({"include_negative_values"}),
        "(car velocity . unit(ball - car)) / CAR_MAX_SPEED x step seconds: 1 per second at full speed towards "
        "the ball (rlgym-tools).",
    ),
    "velocity_ball_to_goal": TermInfo(
        "shaping",
        f"{_OURS}:VelocityBallToGoalReward",
        frozenset(),
        "(ball velocity . unit(opponent goal - ball)) / BALL_MAX_SPEED x step seconds.",
    ),
    "face_ball": TermInfo(
        "shaping", f"{_OURS}:FaceBallReward", frozenset(), "car forward . unit(ball - car) x step seconds."
    ),
    "goal_prob": TermInfo(
        "shaping",
        f"{_TOOLS}.goal_prob_reward:GoalViewReward",
        None,
        "change of a goal-probability potential, 2p - 1 with p from how large each goal looks from the ball "
        "(potential-based shaping; rlgym-tools' GoalViewReward; kwarg gamma).",
    ),
    "boost_change": TermInfo(
        "shaping",
        f"{_TOOLS}.boost_change_reward:BoostChangeReward",
        frozenset({"gain_weight", "lose_weight"}),
        "change of sqrt(boost / 100) since the last step, gains x gain_weight, losses x lose_weight (rlgym-tools).",
    ),
    "boost_keep": TermInfo(
        "shaping",
        f"{_TOOLS}.boost_keep_reward:BoostKeepReward",
        frozenset({"reward_per_second"}),
        "sqrt(boost / 100) x reward_per_second x step seconds (rlgym-tools).",
    ),
}
