"""Benchmark peer: rlgym-learn 2.0.0 + rlgym-learn-algos 0.4.2 PPO, at the peer's own defaults, on rl-bot's game.

The game is rl-bot's ``1v1-score`` curriculum stage (``load_config(None, []).stage_env(1)``) built by rl-bot's own
``RLGymGame``; one PPO policy drives both cars (self-play). Everything the peer lets us leave at its defaults is
left there: ``PPOLearnerConfigModel()``, ``PPOAgentControllerConfigModel`` (50,000 timesteps per iteration),
``ExperienceBufferConfigModel`` with ``GAETrajectoryProcessorConfigModel()``, a ``DiscreteFF`` actor and a
``BasicCritic`` of 2x256, Adam per network. Training stops after ``--minutes`` of wall time (counted from the
script's start), then a final checkpoint is saved. Its ``ppo_learner/actor_critic.pt`` plays in rl-bot as
``rl-bot eval --opponent ff:DIR``. Run with the peer venv (bench/peer/README.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the peer's examples do: keep numpy single-threaded

import argparse
import threading
import time
from pathlib import Path

import numpy as np

STAGE = 1  # rl-bot's curriculum stage "1v1-score"
HIDDEN = (256, 256)


def build_env():
    """One rl-bot game as an rlgym v2 ``RLGym`` (runs inside each env process)."""
    from rl_bot.config import load_config
    from rl_bot.env.game import RLGymGame

    game = RLGymGame(load_config(None, []).stage_env(STAGE))
    # rlgym-learn seeds numpy's global generator per env process (seed + process index) before calling us.
    game.seed(int(np.random.randint(2**31)))
    return game.gym


def actor_critic_factory(obs_space, action_space, dtype, device, name):
    from rlgym_learn_algos.ppo import BasicCritic, DiscreteFF, SeparateActorCritic

    actor = DiscreteFF(obs_space[1], action_space[1], HIDDEN, dtype, device)
    critic = BasicCritic(obs_space[1], HIDDEN, dtype, device)
    return SeparateActorCritic(actor, critic)


def optimizers_factory(actor_critic, group_kwargs, name):
    from torch.optim import Adam

    return [
        Adam(actor_critic.actor.parameters(), **group_kwargs["actor"]),
        Adam(actor_critic.critic.parameters(), **group_kwargs["critic"]),
    ]


def allow_cpu_only_torch() -> None:
    """rlgym-learn-algos 0.4.2 allocates its experience tensors with ``pin_memory=True`` on CPU, which a CPU-only
    torch build refuses; pinning only speeds up copies to a GPU, so drop it when there is none."""
    import torch
    from rlgym_learn_algos.util import circular_buffers

    if torch.cuda.is_available():
        return
    cls = circular_buffers.TensorCircularBuffer
    init = cls.__init__

    def init_unpinned(self, capacity, device, pin_memory, forced_dtype):
        init(self, capacity, device, False, forced_dtype)

    cls.__init__ = init_unpinned


def newest_checkpoint(root: Path) -> Path | None:
    """The newest folder under ``root`` holding an ``actor_critic.pt``."""
    files = sorted(root.glob("*/*/ppo_learner/actor_critic.pt"), key=lambda p: p.stat().st_mtime)
    return files[-1].parent if files else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, required=True, help="wall time to train, from the script's start")
    ap.add_argument("--out", type=Path, required=True, help="folder for the peer's checkpoints")
    ap.add_argument("--n-proc", type=int, default=4, help="env processes (default 4, for a 2-core machine)")
    ap.add_argument("--seed", type=int, default=123, help="the peer's random_seed (its default, 123)")
    args = ap.parse_args()
    deadline = time.monotonic() + args.minutes * 60

    from rlgym_learn import (
        BaseConfigModel,
        LearningCoordinator,
        LearningCoordinatorConfigModel,
        ProcessConfigModel,
        SerdeTypesModel,
    )
    from rlgym_learn.pyany_serde import NumpySerdeConfig, PyAnySerdeType
    from rlgym_learn_algos.ppo import (
        ExperienceBufferConfigModel,
        GAETrajectoryProcessor,
        GAETrajectoryProcessorConfigModel,
        NumpyExperienceBuffer,
        PPOAgentController,
        PPOAgentControllerConfigModel,
        PPOMetricsLogger,
    )

    from rl_bot.env.components import PaddedDefaultObs

    allow_cpu_only_torch()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    obs_len = PaddedDefaultObs().size  # 172

    def static(shape):
        # An iteration keeps its 50,000 observations alive: no warning per 100 pooled arrays past 10,000.
        return NumpySerdeConfig.STATIC(shape=shape, allocation_pool_warning_size=None)

    space = PyAnySerdeType.TUPLE((PyAnySerdeType.STRING(), PyAnySerdeType.INT()))  # ("real", 172), ("discrete", 90)
    config = LearningCoordinatorConfigModel(
        base_config=BaseConfigModel(
            serde_types=SerdeTypesModel(
                agent_id_serde_type=PyAnySerdeType.STRING(),
                obs_serde_type=PyAnySerdeType.NUMPY(np.float32, config=static((obs_len,))),
                action_serde_type=PyAnySerdeType.NUMPY(np.int64, config=static((1,))),
                reward_serde_type=PyAnySerdeType.FLOAT(),
                obs_space_serde_type=space,
                action_space_serde_type=space,
            ),
            random_seed=args.seed,
            flinks_folder=str(out / "shmem_flinks"),
        ),
        process_config=ProcessConfigModel(n_proc=args.n_proc),
        agent_controller_config=PPOAgentControllerConfigModel(
            random_seed=args.seed,
            experience_buffer_config=ExperienceBufferConfigModel(
                trajectory_processor_config=GAETrajectoryProcessorConfigModel()
            ),
        ),
        agent_controller_save_folder=str(out),
    )
    controller = PPOAgentController(
        actor_critic_factory,
        optimizers_factory,
        NumpyExperienceBuffer(GAETrajectoryProcessor()),
        metrics_logger=PPOMetricsLogger(),  # prints each iteration's metrics; no wandb
    )
    coordinator = LearningCoordinator(build_env, controller, config=config)

    def stop() -> None:
        # The coordinator's loop ends by itself once its timestep limit is reached: lower it to now.
        print(f"\n{args.minutes:g} min of wall time reached: stopping after this collection...", flush=True)
        coordinator.config.base_config.timestep_limit = 0

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), stop)
    timer.daemon = True
    train_start = time.monotonic()
    timer.start()
    coordinator.start()  # returns after cleaning up the env processes
    timer.cancel()
    train_s = time.monotonic() - train_start
    controller.save_checkpoint()

    steps = controller.cumulative_timesteps
    print(f"iterations: {controller.cur_iteration}")
    print(f"total timesteps: {steps} ({steps / train_s:.0f} per second over {train_s:.0f} s of training)")
    print(f"newest checkpoint: {newest_checkpoint(out)}")


if __name__ == "__main__":
    main()
