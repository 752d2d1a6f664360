"""Typed, validated run configuration (pure: no Ray import).

YAML → frozen pydantic models with ``extra="forbid"``. ``load_config`` applies ``--set section.field=value``
overrides to the raw mapping *before* validation, so overrides are checked exactly like the file, and every
problem is reported at once in a :class:`ConfigError` with its dotted path and what was expected.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rl_bot.reward_catalog import BUILTIN_TERMS, CATEGORIES, MODE_CATEGORIES

BUILTIN_REWARDS = tuple(BUILTIN_TERMS)
START_STATES = ("kickoff", "random", "ground_ball", "aerial")
DEFAULT_CONFIG_NAME = "quickstart.yaml"


class ConfigError(ValueError):
    """Raised for every kind of bad user input; ``errors`` holds one line per problem."""

    def __init__(self, errors: Iterable[str], source: str = "config"):
        self.errors = list(errors)
        self.source = source
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{source}: {len(self.errors)} problem(s):\n{lines}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def import_object(path: str) -> Any:
    """Import ``package.module:Name`` (or ``package.module.Name``) and return the object."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"import path {path!r} must look like 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} from {path!r}: {e}") from e
    try:
        return getattr(module, attr)
    except AttributeError as e:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from e


class RewardTerm(_Section):
    """One weighted reward term (an rlgym v2 ``RewardFunction``); see docs/rewards.md for every built-in."""

    name: str = Field(
        description="Built-in term (goal, concede, touch, advanced_touch, shot, save, demo, ball_travel, "
        "aerial_distance, velocity_player_to_ball, velocity_ball_to_goal, face_ball, goal_prob, boost_change, "
        "boost_keep) or an import path 'package.module:Class' of an rlgym v2 RewardFunction."
    )
    weight: float = Field(1.0, description="Multiplier applied to this term's per-agent reward.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the constructor.")
    category: Literal["outcome", "event", "shaping"] | None = Field(
        None,
        description="Category deciding the reward modes that compute the term; built-ins have their own (an "
        "override is an error). An imported term without one is computed in every mode.",
    )

    @field_validator("name")
    @classmethod
    def _known_or_importable(cls, v: str) -> str:
        if v in BUILTIN_REWARDS:
            return v
        if ":" not in v and "." not in v:
            close = difflib.get_close_matches(v, BUILTIN_REWARDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown reward {v!r}{hint}; use one of {list(BUILTIN_REWARDS)} or 'package.module:Class'"
            )
        obj = import_object(v)
        from rlgym.api import RewardFunction

        if not (isinstance(obj, type) and issubclass(obj, RewardFunction)):
            raise ValueError(f"{v!r} is not an rlgym.api.RewardFunction subclass")
        return v

    @model_validator(mode="after")
    def _builtin_category(self) -> RewardTerm:
        info = BUILTIN_TERMS.get(self.name)
        if info is not None and self.category is not None and self.category != info.category:
            raise ValueError(
                f"reward {self.name!r} is a built-in {info.category!r} term; remove category={self.category!r}"
            )
        return self

    @property
    def effective_category(self) -> str | None:
        """The built-in's category, else the configured one (None: computed in every mode)."""
        info = BUILTIN_TERMS.get(self.name)
        return info.category if info is not None else self.category

    @property
    def metric_name(self) -> str:
        """The name in ``env/reward/<name>``: the built-in name, or the imported class's name."""
        return self.name if self.name in BUILTIN_TERMS else self.name.replace(":", ".").rsplit(".", 1)[-1]

    @property
    def batched_ok(self) -> bool:
        """Whether the batched backend has a kernel for this term with these kwargs."""
        info = BUILTIN_TERMS.get(self.name)
        return info is not None and info.batched_kwargs is not None and set(self.kwargs) <= info.batched_kwargs


class EnvConfig(_Section):
    """The RocketSim game each env runner plays (rlgym v2 components)."""

    team_size: int = Field(1, ge=1, le=3, description="Cars per team: 1 (1v1), 2 (2v2) or 3 (3v3).")
    tick_skip: int = Field(8, ge=1, le=120, description="Physics ticks (120 Hz) per agent action.")
    no_touch_timeout_s: float = Field(
        10.0, gt=0, description="Truncate the episode after this many game seconds without a ball touch."
    )
    game_timeout_s: float = Field(60.0, gt=0, description="Truncate the episode after this many game seconds.")
    rlbot_delay: bool = Field(True, description="Apply actions one tick late, as RLBot does (RocketSimEngine).")
    rewards: tuple[RewardTerm, ...] = Field(
        (
            RewardTerm(name="goal", weight=10.0),
            RewardTerm(name="touch", weight=2.0),
            RewardTerm(name="velocity_player_to_ball", weight=1.5),
        ),
        min_length=1,
        description="Weighted reward terms summed per car (the ones reward_mode computes).",
    )
    reward_mode: Literal["sparse", "hybrid", "dense"] = Field(
        "dense",
        description="Which term categories are computed: sparse = outcome (goals); hybrid = outcome + event "
        "(touches, shots, saves, ...); dense = all, including per-step shaping.",
    )
    reward_category_weights: dict[Literal["outcome", "event", "shaping"], float] = Field(
        default_factory=dict, description="Extra multiplier per category (missing: 1)."
    )
    reward_clip: float | None = Field(None, gt=0, description="Clip each car's step reward to [-clip, clip].")
    team_spirit: float = Field(
        0.0, ge=0, le=1, description="Share of each car's reward replaced by its team's mean reward."
    )
    opponent_penalty: float = Field(
        0.0, ge=0, le=1, description="Subtract this times the opponents' mean reward from each car's reward."
    )
    start_states: dict[Literal["kickoff", "random", "ground_ball", "aerial"], float] = Field(
        default_factory=lambda: {"kickoff": 1.0},
        description="Weights of the episode start states (kickoff, random ball and cars, ground ball, aerial ball); "
        "each episode draws one.",
    )

    @field_validator("start_states")
    @classmethod
    def _start_weights(cls, v: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError(f"start_states weights must be >= 0 with a positive sum, got {v}")
        return v

    @model_validator(mode="after")
    def _some_reward(self) -> EnvConfig:
        cats = MODE_CATEGORIES[self.reward_mode]
        if not any(t.effective_category in (None, *cats) for t in self.rewards):
            raise ValueError(
                f"reward_mode={self.reward_mode!r} computes only {list(cats)} terms and env.rewards has none: add "
                f"one (goal is an outcome term) or choose another mode; categories are {list(CATEGORIES)}"
            )
        return self

    obs_builder: str | None = Field(
        None,
        description="Import path of an rlgym v2 ObsBuilder class to use instead of the built-in padded "
        "DefaultObs. Its observation size must not depend on the team size.",
    )
    obs_builder_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the obs builder (for the built-in one: DefaultObs's coefficients).",
    )

    @field_validator("obs_builder")
    @classmethod
    def _importable_obs(cls, v: str | None) -> str | None:
        if v is None:
            return v
        obj = import_object(v)
        from rlgym.api import ObsBuilder

        if not (isinstance(obj, type) and issubclass(obj, ObsBuilder)):
            raise ValueError(f"{v!r} is not an rlgym.api.ObsBuilder subclass")
        return v

    backend: Literal["auto", "batched", "rlgym"] = Field(
        "auto",
        description="How env runners step games. batched: all of a runner's arenas in one object, numpy "
        "obs/rewards (built-in components only; same results as rlgym). rlgym: one rlgym v2 env per game (any "
        "component). auto: batched when the config allows it, else rlgym.",
    )
    multi_step: bool = Field(
        False,
        description="batched backend: step a runner's arenas with RocketSim's multi_step thread pool instead of a "
        "plain loop (on one core the loop measured faster; the pool only helps with spare cores).",
    )

    def batched_problems(self) -> list[str]:
        """Why this env cannot use the batched backend (custom rlgym components need the rlgym one)."""
        problems = []
        custom = [t.name for t in self.rewards if not t.batched_ok]
        if custom:
            kernels = [n for n, i in BUILTIN_TERMS.items() if i.batched_kwargs is not None]
            problems.append(
                f"env.backend=batched computes only the built-in rewards {kernels} (with the kwargs docs/rewards.md "
                f"lists); got {custom}: set env.backend=rlgym (or auto) to use rlgym components"
            )
        if self.obs_builder is not None or self.obs_builder_kwargs:
            problems.append(
                "env.backend=batched builds the padded DefaultObs only: set env.backend=rlgym (or auto) to use "
                "obs_builder / obs_builder_kwargs"
            )
        return problems

    @property
    def resolved_backend(self) -> str:
        """The backend ``auto`` picks."""
        if self.backend == "auto":
            return "rlgym" if self.batched_problems() else "batched"
        return self.backend

    @model_validator(mode="after")
    def _batched_ok(self) -> EnvConfig:
        if self.backend == "batched" and self.batched_problems():
            raise ValueError("; ".join(self.batched_problems()))
        return self

    @model_validator(mode="after")
    def _timeouts(self) -> EnvConfig:
        if self.no_touch_timeout_s > self.game_timeout_s:
            raise ValueError(
                f"no_touch_timeout_s={self.no_touch_timeout_s} exceeds game_timeout_s={self.game_timeout_s}; "
                "lower no_touch_timeout_s or raise game_timeout_s"
            )
        return self

    @property
    def step_seconds(self) -> float:
        """Game seconds that pass per env step."""
        return self.tick_skip / 120.0


class ModelConfig(_Section):
    """The RLModule for ``main`` (RLlib ``DefaultModelConfig``)."""

    use_lstm: bool = Field(True, description="LSTM after the dense layers (False: feed-forward).")
    fcnet_hiddens: tuple[int, ...] = Field((256, 256), description="Dense layer sizes before the LSTM/heads.")
    fcnet_activation: Literal["relu", "tanh", "silu", "swish"] = Field("relu", description="Dense activation.")
    lstm_cell_size: int = Field(128, ge=1, description="LSTM hidden/cell size.")
    max_seq_len: int = Field(20, ge=1, description="LSTM training sequence length (BPTT window).")
    vf_share_layers: bool = Field(True, description="Policy and value heads share the trunk.")

    @field_validator("fcnet_hiddens")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 for h in v):
            raise ValueError(f"every layer size must be >= 1, got {list(v)}")
        return v


class PPOSection(_Section):
    """PPO hyperparameters (RLlib ``PPOConfig.training``)."""

    lr: float = Field(3e-4, gt=0, description="Adam learning rate.")
    gamma: float = Field(0.99, gt=0, le=1, description="Discount factor.")
    lambda_: float = Field(0.95, ge=0, le=1, alias="lambda", description="GAE lambda.")
    entropy_coeff: float = Field(0.01, ge=0, description="Entropy bonus coefficient.")
    vf_loss_coeff: float = Field(0.5, ge=0, description="Value loss coefficient.")
    clip_param: float = Field(0.2, gt=0, description="PPO ratio clip.")
    grad_clip: float | None = Field(0.5, gt=0, description="Global gradient-norm clip (null: none).")
    kl_coeff: float = Field(0.0, ge=0, description="Initial KL penalty coefficient (0: off).")
    vf_clip_param: float | None = Field(
        10.0,
        gt=0,
        description="Squared value error above which a sample gives the critic no gradient (RLlib's vf_clip_param; "
        "null: never).",
    )
    standardize_returns: bool = Field(
        False,
        description="Divide the trained policy's rewards by the running std of its discounted returns, then clip "
        "to +-return_clip, before GAE (the statistics are saved in checkpoints).",
    )
    return_clip: float = Field(10.0, gt=0, description="Clip of the standardized rewards (standardize_returns).")
    train_batch_size: int = Field(
        16000, ge=1, description="Env steps per iteration per learner (each step has one sample per car)."
    )
    minibatch_size: int | None = Field(
        4000,
        ge=1,
        description=(
            "SGD minibatch size in samples of the trained policy (one per car it drives per env step: a 1v1 "
            "self-play step gives 2); RLlib fills the last minibatch of an epoch from the batch's start. "
            "null: the whole batch as one minibatch (needs num_epochs=1)."
        ),
    )
    num_epochs: int = Field(3, ge=1, description="Passes over each train batch.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, validate_default=True)

    @model_validator(mode="after")
    def _batch(self) -> PPOSection:
        if self.minibatch_size is None and self.num_epochs > 1:
            raise ValueError(
                f"minibatch_size=null (the whole batch as one minibatch) with num_epochs={self.num_epochs}; "
                "set ppo.num_epochs=1 or give ppo.minibatch_size a number"
            )
        if self.minibatch_size is not None and self.minibatch_size > self.train_batch_size:
            raise ValueError(
                f"minibatch_size={self.minibatch_size} > train_batch_size={self.train_batch_size}; "
                "lower ppo.minibatch_size or raise ppo.train_batch_size"
            )
        return self


class ResourcesConfig(_Section):
    """How RLlib spreads work over the Ray cluster."""

    num_env_runners: int = Field(2, ge=0, description="Remote env runner actors (0: sample in the driver).")
    num_envs_per_env_runner: int = Field(32, ge=1, description="Games each env runner steps in turn.")
    num_cpus_per_env_runner: float = Field(1, gt=0, description="CPUs Ray reserves per env runner.")
    sampler: Literal["auto", "array", "rllib"] = Field(
        "auto",
        description="How env runners sample: `array` (all cars of all arenas as arrays, one forward pass per module "
        "per step; batched backend only), `rllib` (RLlib's per-item connectors and episodes; same batches), `auto` "
        "(array wherever the env's backend is batched).",
    )
    num_learners: int = Field(0, ge=0, description="Remote learner actors (0: learn in the driver).")
    num_gpus_per_learner: float = Field(0, ge=0, description="GPUs per learner (0: CPU).")
    sample_timeout_s: float = Field(
        120.0, gt=0, description="Max seconds an env runner may take for its share of one batch."
    )
    env_runner_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources each env runner needs, to place runners on the nodes that offer them "
        "(e.g. {env_runner: 1} with `ray start --resources='{\"env_runner\": 16}'`; docs/running.md).",
    )
    learner_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources each learner actor needs (with num_learners >= 1), e.g. to pin the "
        "learner to a GPU node.",
    )

    @field_validator("env_runner_resources", "learner_resources")
    @classmethod
    def _custom_only(cls, v: dict[str, float]) -> dict[str, float]:
        builtin = sorted(k for k in v if k in ("CPU", "GPU", "memory", "object_store_memory"))
        if builtin:
            raise ValueError(
                f"{builtin} are not custom resources: use num_cpus_per_env_runner / num_gpus_per_learner instead"
            )
        bad = sorted(k for k, n in v.items() if n <= 0)
        if bad:
            raise ValueError(f"custom resource amounts must be > 0 (got {bad})")
        return v


class LearnerConfig(_Section):
    """Learner speed options for GPU learners (on CPU they stay off: the config refuses them)."""

    mixed_precision: bool = Field(
        False,
        description="Forward pass and loss in float16 autocast with a torch GradScaler (GPU learners only).",
    )
    torch_compile: bool = Field(
        False, description="torch.compile the module's forward_train on the learner (GPU learners only)."
    )


class StopConfig(_Section):
    """Training stops at whichever limit comes first (counted over the whole run, resumes included)."""

    iterations: int | None = Field(None, ge=1, description="Training iterations.")
    env_steps: int | None = Field(None, ge=1, description="Env steps sampled.")
    wall_time_s: float | None = Field(None, gt=0, description="Wall-clock seconds of training.")

    @model_validator(mode="after")
    def _any(self) -> StopConfig:
        if self.iterations is None and self.env_steps is None and self.wall_time_s is None:
            raise ValueError("no stop condition: set stop.iterations, stop.env_steps or stop.wall_time_s")
        return self


class CheckpointConfig(_Section):
    """When checkpoints are written (always also at the end of training)."""

    every_n_iterations: int = Field(10, ge=1, description="Write a checkpoint every N iterations.")
    keep_last: int = Field(3, ge=1, description="Checkpoints kept in the run directory (older ones deleted).")


class TrackingConfig(_Section):
    """MLflow tracking."""

    enabled: bool = Field(True, description="Log params, metrics and artifacts to MLflow.")
    mlflow_uri: str | None = Field(
        None,
        description="MLflow tracking URI. Default: sqlite store <project>/mlruns/mlflow.db (absolute path).",
    )
    experiment: str = Field("rl-bot", min_length=1, description="MLflow experiment name.")

    @field_validator("mlflow_uri")
    @classmethod
    def _absolute_sqlite(cls, v: str | None) -> str | None:
        if v and v.startswith("sqlite:///") and not v.startswith("sqlite:////"):
            raise ValueError(
                f"{v!r} is a relative sqlite path (it would land in Ray's temporary job copy); "
                "use an absolute one: sqlite:////abs/path/mlflow.db"
            )
        return v


BUILTIN_OPPONENTS = ("random", "rule-basic", "rule")


class LeagueConfig(_Section):
    """Opponent league: frozen snapshots of ``main`` and built-in opponents (fixed-rating anchors), ratings with
    intervals fitted from played games, opponent sampling."""

    enabled: bool = Field(
        False, description="Play the orange team with league opponents (off: main plays itself in every game)."
    )
    strategy: Literal["uniform", "elo_weighted", "recent_weighted", "difficulty_adjusted", "pfsp"] = Field(
        "pfsp", description="How pool opponents are sampled (formulas in docs/league.md)."
    )
    main_share: float = Field(
        0.8,
        ge=0,
        lt=1,
        description="Share of games in which orange is the current main (plain self-play).",
    )
    round_steps: int = Field(
        1000,
        ge=1,
        description="Env steps (per env) an env runner keeps the pool member it drew (a round): its new games "
        "that are not self-play play that member, so about one frozen network runs per step (docs/league.md).",
    )
    pfsp_weighting: Literal["hard", "variance"] = Field(
        "variance",
        description="pfsp: weight p(1-p) (variance: opponents main sometimes beats) or (1-p)^2 (hard: the ones it "
        "loses to), p = main's score rate vs the member (why variance is the default: docs/league.md).",
    )
    no_touch_discount: bool = Field(
        True,
        description="Scale each member's sampling weight by the share of main's recent games against it that did "
        "not end in a no-touch timeout (undecided, unrated), so members whose games mostly stall take fewer "
        "(docs/league.md).",
    )
    elo_window: float = Field(200.0, gt=0, description="elo_weighted: weight exp(-|rating gap| / elo_window).")
    recency_decay: float = Field(
        0.7, gt=0, le=1, description="recent_weighted: each older member weighs this times the next newer one."
    )
    target_win_rate: float = Field(
        0.5, gt=0, lt=1, description="difficulty_adjusted: main's score rate the sampling aims at."
    )
    difficulty_width: float = Field(
        0.15, gt=0, description="difficulty_adjusted: weight exp(-((p - target) / width)^2 / 2)."
    )
    temperature: float = Field(
        1.0, gt=0, description="Sharpens (<1) or flattens (>1) any strategy's weights: w ** (1 / temperature)."
    )
    opponents: tuple[Literal["random", "rule-basic", "rule"], ...] = Field(
        ("rule-basic", "rule"),
        description="Built-in opponents in the pool (fixed-rating anchors): random, rule-basic, rule.",
    )
    anchor_ratings: dict[str, float] | None = Field(
        None,
        description="Ratings of the built-in opponents (null: the shipped calibration for env.team_size, see "
        "docs/league.md; rerun `rl-bot calibrate` for another game).",
    )
    snapshot_every_n_iterations: int | None = Field(
        5, ge=1, description="Add a frozen snapshot of main to the pool every N iterations (null: never)."
    )
    snapshot_win_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Also snapshot when main's score rate over its last win_rate_window rated games against the pool "
        "reaches this (null: off).",
    )
    max_pool_size: int = Field(
        4,
        ge=1,
        le=32,
        description="Snapshots kept (built-in opponents not counted). Env runners hold max_pool_size + 1 snapshot "
        "slots, so a new snapshot never waits for games against the one it replaces to end.",
    )
    min_elo_diff: float | None = Field(
        400.0, gt=0, description="Prune snapshots rated this far or more below main (never an anchor; null: off)."
    )
    initial_rating: float | None = Field(
        None,
        description="Prior mean of main's rating at iteration 1 (null: the random policy's rating: an untrained "
        "policy plays about like it).",
    )
    rating_drift: float = Field(
        20.0,
        gt=0,
        description="How far main's rating may move per iteration (the sd of the random-walk prior of the fit).",
    )
    win_rate_window: int = Field(
        50, ge=1, description="Games per opponent in the rolling score rates (rated games) and touch rates (all)."
    )
    prior_games: float = Field(
        4.0, ge=0, description="pfsp/difficulty: the rating expectation counts as this many games in p."
    )
    eval_every_n_iterations: int | None = Field(
        10,
        ge=1,
        description="Every N iterations start eval_games real games of main vs eval_opponent in a background actor "
        "(training goes on) and log league/eval_* when they finish (null: off).",
    )
    eval_games: int = Field(10, ge=1, description="Games per periodic evaluation (played at once, batched).")
    eval_opponent: Literal["random", "rule-basic", "rule"] = Field(
        "rule", description="The built-in opponent of the periodic evaluation."
    )
    eval_record: bool = Field(
        True,
        description="Record the first game of every periodic evaluation as a top-down GIF with its replay "
        "(RUN_DIR/eval/clip-iterNNNN.gif and .replay.json; the newest is logged to MLflow under eval/).",
    )

    @field_validator("opponents")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"each built-in opponent may appear once, got {list(v)}")
        return v

    @field_validator("anchor_ratings")
    @classmethod
    def _known(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        unknown = sorted(set(v) - set(BUILTIN_OPPONENTS))
        if unknown:
            raise ValueError(f"unknown built-in opponent(s) {unknown}; the built-ins are {list(BUILTIN_OPPONENTS)}")
        missing = sorted(set(BUILTIN_OPPONENTS) - set(v))
        if missing:
            raise ValueError(
                f"give a rating for every built-in opponent (missing {missing}); `rl-bot calibrate` prints all three"
            )
        return v

    @model_validator(mode="after")
    def _snapshots(self) -> LeagueConfig:
        if self.enabled and self.snapshot_every_n_iterations is None and self.snapshot_win_rate is None:
            raise ValueError(
                "league.enabled with neither league.snapshot_every_n_iterations nor league.snapshot_win_rate: "
                "the pool would never get a snapshot of main; set one of them"
            )
        return self

    @property
    def num_slots(self) -> int:
        """Snapshot slots (RLModules ``opp_<k>``) in every env runner: the pool plus one spare."""
        return self.max_pool_size + 1


STAGE_OPPONENTS = ("self", *BUILTIN_OPPONENTS, "league")


class TransitionConfig(_Section):
    """When a stage ends: at max_env_steps, or after min_env_steps once every threshold set is met.

    With no threshold set the stage ends at ``min_env_steps``; the last stage never ends."""

    min_env_steps: int = Field(0, ge=0, description="Env steps the stage runs at least.")
    max_env_steps: int | None = Field(
        None, ge=1, description="Fallback: leave the stage after this many env steps even if thresholds are unmet."
    )
    win_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Score rate (wins + half the draws) against the stage's opponent whose 95 % Wilson lower bound "
        "must exceed this, over the stage's latest min_games games.",
    )
    min_games: int = Field(100, ge=1, description="Games the win-rate threshold needs (newest first).")
    rating: float | None = Field(None, description="league/elo_main must reach this (stages with opponents: league).")
    touches_per_minute: float | None = Field(
        None, gt=0, description="Touches per game minute over the last 5 iterations must reach this."
    )

    @model_validator(mode="after")
    def _order(self) -> TransitionConfig:
        if self.max_env_steps is not None and self.max_env_steps < self.min_env_steps:
            raise ValueError(
                f"max_env_steps={self.max_env_steps} < min_env_steps={self.min_env_steps}; raise max_env_steps"
            )
        return self

    @property
    def thresholds(self) -> list[str]:
        """The thresholds set."""
        return [k for k in ("win_rate", "rating", "touches_per_minute") if getattr(self, k) is not None]


class StepBackConfig(_Section):
    """Go back one stage when results against this stage's opponent collapse."""

    win_rate_below: float = Field(
        gt=0, lt=1, description="Step back when the score rate's 95 % upper bound falls below this."
    )
    min_games: int = Field(100, ge=1, description="Games (newest first) the decision needs.")
    min_env_steps: int = Field(0, ge=0, description="Env steps in the stage before a step back is considered.")


class StageConfig(_Section):
    """One curriculum stage: the game it plays, who the orange team is, and when it ends."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Stage name (metrics, logs).")
    env: dict[str, Any] = Field(
        default_factory=dict,
        description="env fields this stage sets over the top-level env (team_size, rewards, reward_mode, "
        "start_states, timeouts, ...).",
    )
    opponents: Literal["self", "random", "rule-basic", "rule", "league"] = Field(
        "self",
        description="Who plays orange: self (main on both teams), a built-in bot, or the league's opponent mix "
        "(needs league.enabled).",
    )
    until: TransitionConfig = Field(default_factory=TransitionConfig, description="When the stage ends.")
    step_back: StepBackConfig | None = Field(None, description="Optional: when to return to the previous stage.")


#: Stage 1's rewards, after the rlgym-ppo guide's early stage: touching the ball dominates, with speed toward the
#: ball and facing it as per-second shaping and no goal reward (measured in docs/learning.md).
TOUCH_REWARDS = (
    {"name": "touch", "weight": 2.0},
    {"name": "velocity_player_to_ball", "weight": 3.0},
    {"name": "face_ball", "weight": 0.6},
)
#: Stage 2 on: the goal and the ball's speed toward the opponent goal join, the touch terms shrink.
SCORE_REWARDS = (
    {"name": "goal", "weight": 10.0},
    {"name": "velocity_ball_to_goal", "weight": 5.0},
    {"name": "touch", "weight": 1.0},
    {"name": "velocity_player_to_ball", "weight": 1.5},
    {"name": "face_ball", "weight": 0.3},
)


def _self_play_1v1(rewards: tuple[dict, ...]) -> dict[str, Any]:
    """The env of a 1v1 self-play stage: dense ``rewards``, kickoff and ground-ball starts 3 : 1."""
    return {
        "team_size": 1,
        "reward_mode": "dense",
        "rewards": list(rewards),
        "start_states": {"kickoff": 3.0, "ground_ball": 1.0},
    }


def _default_stages() -> tuple[StageConfig, ...]:
    return (
        StageConfig(
            name="1v1-touch",
            env=_self_play_1v1(TOUCH_REWARDS),
            opponents="self",
            until=TransitionConfig(min_env_steps=500_000, touches_per_minute=10.0, max_env_steps=5_000_000),
        ),
        StageConfig(
            name="1v1-score",
            env=_self_play_1v1(SCORE_REWARDS),
            opponents="self",
            until=TransitionConfig(min_env_steps=8_000_000),
        ),
        StageConfig(
            name="1v1-league",
            env={
                "team_size": 1,
                "reward_mode": "dense",
                "rewards": [*SCORE_REWARDS, {"name": "shot", "weight": 2.0}, {"name": "save", "weight": 2.0}],
            },
            opponents="league",
            # 1650: an expected score of 0.7 against rule (rated 1500), the 1v1 bot the run is for, before 2v2
            until=TransitionConfig(min_env_steps=2_000_000, rating=1650.0, max_env_steps=40_000_000),
        ),
        StageConfig(
            name="2v2-self",
            env={"team_size": 2, "reward_mode": "hybrid", "team_spirit": 0.3},
            opponents="self",
            until=TransitionConfig(min_env_steps=5_000_000, max_env_steps=20_000_000),
        ),
        StageConfig(
            name="2v2-league",
            env={"team_size": 2, "reward_mode": "hybrid", "team_spirit": 0.5},
            opponents="league",
            until=TransitionConfig(min_env_steps=10_000_000, rating=1400.0, max_env_steps=60_000_000),
        ),
        StageConfig(
            name="3v3-league",
            env={
                "team_size": 3,
                "reward_mode": "hybrid",
                "reward_category_weights": {"event": 0.2},
                "team_spirit": 0.6,
            },
            opponents="league",
        ),
    )


class CurriculumConfig(_Section):
    """Staged training: the run moves through ``stages`` in order (see docs/curriculum.md)."""

    enabled: bool = Field(False, description="Train in stages (off: the top-level env, self-play or league).")
    stages: tuple[StageConfig, ...] = Field(
        default_factory=_default_stages,
        min_length=1,
        description="The stages in order (default: six, 1v1 touch and score stages to a 3v3 league; "
        "docs/curriculum.md).",
    )

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, v: tuple[StageConfig, ...]) -> tuple[StageConfig, ...]:
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"stage names must be unique, repeated: {dup}")
        return v


class RunConfig(_Section):
    """Naming, seeding and where outputs go."""

    name: str = Field("quickstart", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Experiment name.")
    seed: int = Field(0, ge=0, description="Base seed; env runner and env seeds derive from it.")
    output_dir: str | None = Field(
        None,
        description="Parent folder of run directories. Default: <project>/runs. Relative paths "
        "resolve against the project folder, never the cwd (Ray jobs run in a temp copy).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("WARNING", description="Ray/RLlib log level.")


class TrainConfig(_Section):
    """The whole run."""

    run: RunConfig = Field(default_factory=RunConfig, description="Naming, seed, outputs.")
    env: EnvConfig = Field(default_factory=EnvConfig, description="The game.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The policy network.")
    ppo: PPOSection = Field(default_factory=PPOSection, description="PPO hyperparameters.")
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig, description="Cluster layout.")
    learner: LearnerConfig = Field(default_factory=LearnerConfig, description="Learner speed options (GPU).")
    stop: StopConfig = Field(default_factory=lambda: StopConfig(iterations=10), description="Stop limits.")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, description="Checkpointing.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow.")
    league: LeagueConfig = Field(default_factory=LeagueConfig, description="Opponent league.")
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig, description="Training stages.")

    @model_validator(mode="after")
    def _gpu_only(self) -> TrainConfig:
        on = [k for k in ("mixed_precision", "torch_compile") if getattr(self.learner, k)]
        if on and self.resources.num_gpus_per_learner == 0:
            raise ValueError(
                f"learner.{on[0]}=true needs a GPU learner: set resources.num_gpus_per_learner > 0 or turn it off "
                "(on CPU both stay off)"
            )
        return self

    @model_validator(mode="after")
    def _cross(self) -> TrainConfig:
        mb = self.ppo.minibatch_size
        if self.model.use_lstm and mb is not None and self.model.max_seq_len > mb:
            raise ValueError(
                f"model.max_seq_len={self.model.max_seq_len} > ppo.minibatch_size={self.ppo.minibatch_size}; "
                "a minibatch must hold at least one sequence"
            )
        return self

    @model_validator(mode="after")
    def _league_obs(self) -> TrainConfig:
        if self.league.enabled and (self.env.obs_builder is not None or self.env.obs_builder_kwargs):
            raise ValueError(
                "league.enabled needs the built-in observation (the rule-based bot reads it): unset "
                "env.obs_builder and env.obs_builder_kwargs, or turn the league off"
            )
        return self

    @model_validator(mode="after")
    def _stages(self) -> TrainConfig:
        if not self.curriculum.enabled:
            return self
        problems = []
        base = self.env.model_dump(mode="json")
        for i, st in enumerate(self.curriculum.stages):
            where = f"curriculum.stages[{i}] ({st.name})"
            unknown = sorted(set(st.env) - set(EnvConfig.model_fields))
            if unknown:
                problems.append(f"{where}.env: unknown env field(s) {unknown}; valid: {sorted(EnvConfig.model_fields)}")
                continue
            try:
                env = EnvConfig.model_validate({**base, **st.env})
            except ValidationError as e:
                problems.extend(f"{where}.env: {format_error(err, EnvConfig)}" for err in e.errors())
                continue
            if st.opponents != "self" and (env.obs_builder is not None or env.obs_builder_kwargs):
                problems.append(
                    f"{where}: opponents={st.opponents!r} needs the built-in observation; unset obs_builder"
                )
            if st.opponents == "league" and not self.league.enabled:
                problems.append(f"{where}: opponents='league' needs league.enabled=true (or pick self or a bot)")
            if st.until.win_rate is not None and st.opponents in ("self", "league"):
                problems.append(
                    f"{where}: until.win_rate needs a fixed opponent (random, rule-basic or rule); against "
                    f"{st.opponents!r} use until.rating or until.touches_per_minute"
                )
            if st.until.rating is not None and st.opponents != "league":
                problems.append(f"{where}: until.rating is the league's rating of main: set opponents='league'")
            if st.step_back is not None and (i == 0 or st.opponents in ("self", "league")):
                problems.append(
                    f"{where}: step_back needs an earlier stage and a fixed opponent to measure the collapse against"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _sampler(self) -> TrainConfig:
        if self.resources.sampler != "array":
            return self
        envs = [("env", self.env)]
        if self.curriculum.enabled:
            stages = self.curriculum.stages
            envs += [(f"curriculum.stages[{i}] ({st.name})", self.stage_env(i)) for i, st in enumerate(stages)]
        rlgym = [where for where, env in envs if env.resolved_backend != "batched"]
        if rlgym:
            raise ValueError(
                f"resources.sampler=array needs the batched env backend, but {', '.join(rlgym)} resolve(s) to the "
                "rlgym backend; set resources.sampler=auto (array where possible) or rllib"
            )
        return self

    def stage_env(self, index: int) -> EnvConfig:
        """The env of curriculum stage ``index``: the top-level env with the stage's fields set."""
        st = self.curriculum.stages[index]
        return EnvConfig.model_validate({**self.env.model_dump(mode="json"), **st.env})

    @property
    def builtin_modules(self) -> tuple[str, ...]:
        """The built-in bots that need an RLModule: the league's opponents and every stage's fixed opponent."""
        names = set(self.league.opponents) if self.league.enabled else set()
        if self.curriculum.enabled:
            names |= {s.opponents for s in self.curriculum.stages if s.opponents in BUILTIN_OPPONENTS}
        return tuple(n for n in BUILTIN_OPPONENTS if n in names)

    def to_plain(self) -> dict[str, Any]:
        """JSON/YAML-safe nested dict using the YAML key names (``ppo.lambda``)."""
        return json.loads(self.model_dump_json(by_alias=True))


# --------------------------------------------------------------------------------------------- loading


def project_home() -> Path:
    """The project folder: ``$RL_BOT_HOME``, else the folder rl-bot was pip-installed from (editable), else cwd.

    Inside ``ray job submit`` the cwd is a temporary copy of the working dir, so outputs must never default to
    the cwd when the install location is known.
    """
    env = os.environ.get("RL_BOT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    # A source checkout on sys.path may carry an rl_bot.egg-info without direct_url.json: look at every match.
    for dist in metadata.distributions(name="rl-bot"):
        raw = dist.read_text("direct_url.json")
        url = json.loads(raw).get("url", "") if raw else ""
        if url.startswith("file://") and Path(url[len("file://") :]).is_dir():
            return Path(url[len("file://") :]).resolve()
    return Path.cwd().resolve()


def default_config_path() -> Path:
    """The embedded quickstart config shipped inside the package."""
    return Path(__file__).parent / "configs" / DEFAULT_CONFIG_NAME


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ValueError(f"--set {item!r}: expected section.field=value")
    key, _, raw = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if len(parts) < 2:
        raise ValueError(f"--set {item!r}: key must be dotted, like ppo.lr=0.001")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ValueError(f"--set {item!r}: value is not valid YAML: {e}") from e
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """Return a copy of ``raw`` with dotted overrides applied, plus the list of override syntax errors."""
    data = json.loads(json.dumps(raw))
    errors: list[str] = []
    for item in overrides:
        try:
            parts, value = _parse_override(item)
        except ValueError as e:
            errors.append(str(e))
            continue
        problem = set_dotted(data, parts, value)
        if problem:
            errors.append(f"--set {item!r}: {problem}")
    return data, errors


def set_dotted(data: dict[str, Any], parts: list[str], value: Any) -> str | None:
    """Set ``data[parts[0]]...[parts[-1]] = value`` in place, creating missing sections; the problem, if any."""
    node = data
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            return f"{p!r} is not a section"
        node = nxt
    node[parts[-1]] = value
    return None


def config_field_problem(key: str) -> str | None:
    """Why dotted ``key`` (``ppo.lr``, YAML names) does not name one field of a config section, or None."""
    parts = key.split(".")
    if len(parts) != 2:
        return f"{key!r} is not section.field (like ppo.lr)"
    section, name = parts
    if section not in TrainConfig.model_fields:
        close = difflib.get_close_matches(section, list(TrainConfig.model_fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{key!r}: no config section {section!r}{hint} (sections: {', '.join(TrainConfig.model_fields)})"
    valid = _valid_keys(TrainConfig, [section])
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f"; did you mean '{section}.{close[0]}'?" if close else ""
        return f"{key!r} names no config field{hint} (fields of {section}: {', '.join(valid)})"
    return None


def format_error(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    """One pydantic error of ``model`` as a line: the dotted path, what is wrong, the value given."""
    loc = [str(p) for p in err["loc"]]
    path = ".".join(loc) or "<root>"
    typ = err["type"]
    if typ == "extra_forbidden":
        valid = _valid_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{path}: unknown key{hint} (valid keys here: {', '.join(valid)})"
    msg = err["msg"].removeprefix("Value error, ")
    if typ in ("missing",):
        return f"{path}: required field is missing"
    got = err.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{path}: {msg}{got_s}"


def _valid_keys(model: type[BaseModel], loc: list[str]) -> list[str]:
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            for f in getattr(current, "model_fields", {}).values():
                if f.alias == part:
                    field = f
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return []
    return sorted(f.alias or name for name, f in current.model_fields.items())


def validate_config(raw: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Validate a raw mapping; raise :class:`ConfigError` listing every problem."""
    if not isinstance(raw, Mapping):
        raise ConfigError([f"<root>: expected a mapping of sections, got {type(raw).__name__}"], source)
    try:
        return TrainConfig.model_validate(dict(raw))
    except ValidationError as e:
        raise ConfigError([format_error(err, TrainConfig) for err in e.errors()], source) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax problems into :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"config file {str(p)!r} does not exist; pass an existing --config path"], str(p))
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            [f"not UTF-8 text (byte {e.start}: {e.reason}); save the config as UTF-8 YAML"], str(p)
        ) from None
    except OSError as e:
        raise ConfigError([f"cannot read the file: {e.strerror or e}"], str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError([f"not valid YAML: {e}"], str(p)) from None
    if data is None:
        raise ConfigError(
            [
                "the file is empty (no sections); write the fields to change, e.g. `ppo: {lr: 1.0e-4}`, or leave out "
                "--config to use the embedded default"
            ],
            str(p),
        )
    if not isinstance(data, dict):
        raise ConfigError(
            [f"<root>: expected a mapping of sections (like `ppo: {{lr: 1.0e-4}}`), got {type(data).__name__}"], str(p)
        )
    return data


#: The resolved config a run writes into its run folder.
CONFIG_FILE = "config.yaml"


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Load YAML (default: the embedded quickstart), apply ``--set`` overrides, validate everything at once."""
    src = Path(path) if path is not None else default_config_path()
    raw = read_yaml(src)
    data, errors = apply_overrides(raw, overrides)
    try:
        cfg = validate_config(data, str(src))
    except ConfigError as e:
        raise ConfigError(errors + e.errors, str(src)) from None
    if errors:
        raise ConfigError(errors, str(src))
    return cfg


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config (every field, defaults included) as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg.to_plain(), sort_keys=False))


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists of mappings get their index in the key."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list | tuple) and v and all(isinstance(x, Mapping) for x in v):
            for i, x in enumerate(v):
                out.update(flatten(x, f"{key}.{i}."))
        else:
            out[key] = v
    return out


def resolve_output_dir(cfg: TrainConfig) -> Path:
    """Absolute parent folder for run directories."""
    if cfg.run.output_dir is None:
        return project_home() / "runs"
    p = Path(cfg.run.output_dir).expanduser()
    return p if p.is_absolute() else (project_home() / p)


def resolve_mlflow_uri(cfg: TrainConfig) -> str:
    """Absolute MLflow tracking URI."""
    if cfg.tracking.mlflow_uri:
        return cfg.tracking.mlflow_uri
    return f"sqlite:///{project_home() / 'mlruns' / 'mlflow.db'}"


def config_reference_markdown() -> str:
    """The field table in docs/config.md, generated from the models (a test keeps the doc in sync)."""
    sections = [(name, f.annotation, f.description) for name, f in TrainConfig.model_fields.items()]
    out = []
    for name, model, desc in sections:
        out.append(f"### `{name}` — {desc}\n")
        out.append("| field | type | default | meaning |")
        out.append("|---|---|---|---|")
        default_obj = TrainConfig().__getattribute__(name)
        for fname, field in model.model_fields.items():
            key = field.alias or fname
            ann = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
            ann = ann.replace("rl_bot.config.", "").replace("|", "\\|")
            value = getattr(default_obj, fname)
            if isinstance(value, BaseModel):
                value = value.model_dump(mode="json", by_alias=True)
            elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
                value = [v.model_dump(mode="json", by_alias=True) for v in value]
            shown = json.dumps(value)
            if len(shown) > 300:  # the default stages: listed in docs/curriculum.md
                shown = f"{len(value)} entries"
            out.append(f"| `{name}.{key}` | `{ann}` | `{shown}` | {field.description} |")
        out.append("")
    for model in (StageConfig, TransitionConfig, StepBackConfig):
        out.append(f"### `{model.__name__}` — {model.__doc__.splitlines()[0]}\n")
        out.append("| field | type | default | meaning |")
        out.append("|---|---|---|---|")
        for fname, field in model.model_fields.items():
            ann = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
            ann = ann.replace("rl_bot.config.", "").replace("|", "\\|")
            if field.is_required():
                default = "required"
            else:
                value = field.get_default(call_default_factory=True)
                default = "{} (no thresholds)" if isinstance(value, BaseModel) else json.dumps(value)
            out.append(f"| `{fname}` | `{ann}` | `{default}` | {field.description} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m rl_bot.config > regenerates the table in docs/config.md
    # Import by name: run as __main__, the models would print as "__main__.RewardTerm".
    from rl_bot.config import config_reference_markdown as _ref

    print(_ref())
