"""One training step = ``Algorithm.train()``: :class:`RLBotPPO` is PPO with rl-bot's per-iteration work inside.

Around each of PPO's iterations it runs the league (:class:`~rl_bot.league_driver.LeagueDriver`: snapshots, plan,
periodic evaluation), the curriculum (:class:`~rl_bot.curriculum.Curriculum`: stage decisions and the switch of
every env runner at the iteration boundary) and the ``perf/…`` and rate metrics, and adds their metrics to the
result. Their state is written into every checkpoint folder by :meth:`RLBotPPO.save_to_path` and read back by
:meth:`RLBotPPO.restore_from_path`, so ``Algorithm.from_checkpoint(path)`` alone brings a run back whole; the CLI,
a ``ray job submit`` job and a Tune trial all run the same thing.

The run settings travel in ``config.env_config["rl_bot"]`` (the whole TrainConfig as plain data, the run folder
and name), which RLlib keeps in the algorithm's config and its checkpoints.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayActorError
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback

from rl_bot.algo import MAIN_MODULE, build_ppo_config
from rl_bot.checkpoints import CURRICULUM_STATE_FILE, LEAGUE_STATE_FILE
from rl_bot.compat import per_iteration_timers
from rl_bot.config import TrainConfig, validate_config
from rl_bot.curriculum import Curriculum, IterationResult, Transition
from rl_bot.env.guard import NonFiniteError, TrainingStopped

RL_BOT_KEY = "rl_bot"
CURRICULUM_DIR = "curriculum"
STAGES_CSV = "stages.csv"
#: Where the env runners run (node id and IP, pid per runner), rewritten when RLlib restarts one.
ENV_RUNNERS_FILE = "cluster/env_runners.json"


def algorithm_config(cfg: TrainConfig, run_dir: Path, run_name: str) -> PPOConfig:
    """The PPO config of a run, with :class:`RLBotPPO` as the algorithm and the run settings it reads."""
    ppo = build_ppo_config(cfg)
    ppo.algo_class = RLBotPPO
    env_config = dict(ppo.env_config)
    env_config[RL_BOT_KEY] = {"config": cfg.to_plain(), "run_dir": str(run_dir), "run_name": run_name}
    ppo.environment(env_config=env_config)
    ppo.callbacks([*ppo.callbacks_class, TrainingStepCallback])
    return ppo


def _sum(runners: dict[str, Any], key: str) -> float:
    """An iteration's sum metric from the env runners (RLlib reports NaN when nothing was logged under it)."""
    v = runners.get(key, 0.0)
    return 0.0 if v is None or v != v else float(v)


def _agent_steps(result: dict[str, Any]) -> int:
    per_agent = result.get("env_runners", {}).get("num_agent_steps_sampled_lifetime", {})
    if isinstance(per_agent, dict):
        return int(sum(per_agent.values()))
    return int(per_agent or 0)


class RLBotPPO(PPO):
    """PPO whose ``train()`` also runs the league, the curriculum and rl-bot's metrics (module docstring)."""

    def setup(self, config: Any) -> None:
        super().setup(config)
        spec = self.config.env_config[RL_BOT_KEY]
        self.rl_cfg: TrainConfig = validate_config(spec["config"])
        self.run_dir = Path(spec["run_dir"])
        self.run_name: str = spec["run_name"]
        per_iteration_timers(self)
        self._env_steps = 0
        self._agent_steps = 0
        self._empty_updates = 0
        self.league: Any = None
        if self.rl_cfg.league.enabled:
            from rl_bot.league_driver import LeagueDriver

            self.league = LeagueDriver(self.rl_cfg, self.run_dir, self.run_name, self)
        self.curriculum = Curriculum(self.rl_cfg.curriculum) if self.rl_cfg.curriculum.enabled else None
        self.install_stage()
        self.placement: list[dict[str, Any]] = []
        self.record_placement()

    # ------------------------------------------------------------------------------------------- stages

    def stage_spec(self) -> dict[str, Any] | None:
        """What env runners play in the current stage (None without a curriculum)."""
        if self.curriculum is None:
            return None
        i = self.curriculum.index
        st = self.curriculum.stage
        return {
            "index": i,
            "name": st.name,
            "env": self.rl_cfg.stage_env(i).model_dump(mode="json"),
            "opponents": st.opponents,
        }

    def install_stage(self, runner_ids: list[int] | None = None) -> None:
        """Send the current stage to the env runners (``runner_ids``: only those, e.g. recreated ones)."""
        spec = self.stage_spec()
        if spec is None:
            return
        self.env_runner_group.foreach_env_runner(
            lambda r: r.set_stage(spec),
            local_env_runner=runner_ids is None,
            remote_worker_ids=runner_ids,
        )

    def runner_status(self) -> list[dict[str, Any]]:
        """Every env runner's :meth:`~rl_bot.runner.RLBotEnvRunner.runner_status` (remote ones, else the local)."""
        remote = self.env_runner_group.num_remote_env_runners() > 0
        return self.env_runner_group.foreach_env_runner(lambda r: r.runner_status(), local_env_runner=not remote)

    def record_placement(self) -> None:
        """Where every env runner runs and the driver's node: ``RUN_DIR/cluster/env_runners.json``."""
        self.placement = sorted(
            (
                {k: s[k] for k in ("worker_index", "node_id", "node_ip", "pid")}
                for s in self.runner_status()
                if s is not None
            ),
            key=lambda s: s["worker_index"],
        )
        driver = {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}
        path = self.run_dir / ENV_RUNNERS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"driver": driver, "env_runners": self.placement}, indent=2))

    def on_runners_recreated(self, runner_ids: list[int]) -> None:
        """Env runners RLlib restarted start with the top-level env: give them the stage and the league plan."""
        self.install_stage(list(runner_ids))
        if self.league is not None:
            self.league.push_plan()
        self.record_placement()

    # ------------------------------------------------------------------------------------------- iteration

    def step(self) -> dict[str, Any]:
        iteration = self.iteration + 1
        if self.league is not None:
            self._league_call(self.league.before_iteration, iteration)
        t0 = time.perf_counter()
        result = super().step()
        dt = time.perf_counter() - t0
        self._perf(result, dt)
        runners = result.get("env_runners", {})
        if self.league is not None:
            # A league actor lost during sampling takes the env runners that report to it down too, and the
            # iteration's numbers with them: name that cause before judging the numbers.
            self._league_call(self.league.check_alive)
        self._check_finite(iteration, result)
        if self.league is not None:
            result.update(self._league_call(self.league.after_iteration, iteration, self._env_steps))
        if self.curriculum is not None:
            measured = IterationResult(
                iteration=iteration,
                env_steps=self._env_steps,
                games=int(_sum(runners, "curriculum/games_sum")),
                score=_sum(runners, "curriculum/score_sum"),
                touches=_sum(runners, "env/touches_sum"),
                game_seconds=_sum(runners, "env/game_seconds_sum"),
                rating=result.get("league/elo_main"),
            )
            # Metrics of the stage played in this iteration, then the decision for the next one.
            self.curriculum.record(measured)
            result.update(self.curriculum.metrics(self._env_steps))
            result["curriculum/stage_name"] = self.curriculum.stage.name
            change = self.curriculum.decide(measured)
            if change is not None:
                self._write_stage_history()
                self.install_stage()
                result["curriculum/transition"] = f"{change.from_stage} -> {change.to_stage} ({change.reason})"
            result["curriculum/transitions"] = float(len(self.curriculum.history))
        return result

    def _league_call(self, fn: Any, *args: Any) -> Any:
        # The league actor holds the pool and every rated game since the last checkpoint. Ray does not restart it
        # (a fresh one would silently start from nothing): the run stops and resumes from its last checkpoint.
        try:
            return fn(*args)
        except RayActorError as e:
            raise TrainingStopped(
                f"the league actor {self.league.name!r} died ({type(e).__name__}); the games it rated since the last "
                f"checkpoint are lost with it. Nothing more is saved: continue with `rl-bot train --resume "
                f"{self.run_dir}`, which restores the pool and ratings of the last checkpoint"
            ) from None

    def _check_finite(self, iteration: int, result: dict[str, Any]) -> None:
        """Stop (:class:`NonFiniteError`, before the iteration is checkpointed or its games reach the league) when
        the env runners replaced NaN/inf from the games or main's losses are not finite."""
        bad = {
            k: v
            for k, v in result.get("env_runners", {}).items()
            if k.startswith("env/non_finite/") and isinstance(v, int | float) and v > 0
        }
        main = result.get("learners", {}).get(MAIN_MODULE, {})
        losses = {
            f"losses/{k}": v
            for k in ("total_loss", "policy_loss", "vf_loss", "entropy")
            if isinstance(v := main.get(k), int | float) and not math.isfinite(v)
        }
        if losses and not bad and self._main_weights_finite():
            # RLlib reports NaN losses for an update over an empty batch (every env runner was down for the
            # iteration); nothing reached the weights, so training goes on. Counted, not hidden.
            self._empty_updates += 1
            result["perf/updates_without_samples"] = float(self._empty_updates)
            return
        bad.update(losses)
        if not bad:
            return
        examples = list(dict.fromkeys(ex for s in self.runner_status() if s for ex in s.get("non_finite", [])))
        what = ", ".join(f"{k} ({v:g})" for k, v in sorted(bad.items()))
        sampled = int(result.get("perf/env_steps_per_s", 0) * result.get("perf/iteration_time_s", 0))
        raise NonFiniteError(
            f"iteration {iteration} (about {sampled} env steps sampled): non-finite values: {what}"
            + (f"; e.g. {'; '.join(examples[:5])}" if examples else "")
            + ". Nothing from this iteration was saved; fix the reward term or observation named here, then resume "
            "from the last checkpoint"
        )

    def _main_weights_finite(self) -> bool:
        from rl_bot.league_driver import main_weights

        def finite(x: Any) -> bool:
            if isinstance(x, dict):
                return all(finite(v) for v in x.values())
            return bool(np.isfinite(np.asarray(x, dtype=np.float64)).all())

        return finite(main_weights(self))

    def _perf(self, result: dict[str, Any], dt: float) -> None:
        env_steps = int(result.get("num_env_steps_sampled_lifetime", self._env_steps))
        agent_steps = _agent_steps(result) or self._agent_steps
        d_env, d_agent = env_steps - self._env_steps, agent_steps - self._agent_steps
        self._env_steps, self._agent_steps = env_steps, agent_steps
        perf = {
            "env_steps_total": env_steps,
            "agent_steps_total": agent_steps,
            "iteration_time_s": dt,
            "env_steps_per_s": d_env / dt,
            "agent_steps_per_s": d_agent / dt,
        }
        timers = result.get("timers", {})
        if "learner_update_timer" in timers:
            perf["sample_time_s"] = timers.get("env_runner_sampling_timer", float("nan"))
            perf["learn_time_s"] = timers["learner_update_timer"]
            if d_agent > 0:
                perf["learn_s_per_1000_agent_steps"] = timers["learner_update_timer"] / d_agent * 1000
        faults = result.get("fault_tolerance", {})
        perf["env_runner_restarts"] = faults.get("num_remote_worker_restarts", 0)
        perf["env_runners_healthy"] = faults.get("num_healthy_workers", 0)
        perf["env_runner_nodes"] = len({p["node_id"] for p in self.placement})
        # Flat keys: Ray's Trainable.train() puts its own system stats under result["perf"].
        result.update({f"perf/{k}": v for k, v in perf.items()})
        runners = result.get("env_runners", {})
        game_s = _sum(runners, "env/game_seconds_sum")
        if game_s > 0:
            runners["env/touches_per_minute"] = 60.0 * _sum(runners, "env/touches_sum") / game_s
            runners["env/goals_per_minute"] = 60.0 * _sum(runners, "env/goals_sum") / game_s

    def _write_stage_history(self) -> None:
        # Rewritten whole from the curriculum's history (which checkpoints carry), so a resume from an older
        # checkpoint never leaves rows of the abandoned continuation behind.
        path = self.run_dir / CURRICULUM_DIR / STAGES_CSV
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([field.name for field in fields(Transition)])
            w.writerows(list(asdict(t).values()) for t in self.curriculum.history)
        tmp.replace(path)

    def finish(self) -> list[dict[str, float]]:
        """Wait for work still running when training stops (the last periodic evaluations); their metrics."""
        return self.league.collect_evaluation(wait=True) if self.league is not None else []

    def artifact_files(self) -> list[Path]:
        """Files for the experiment tracker: league table, Elo plot, games and the newest evaluation clip with its
        replay; the stage history."""
        files = self.league.write_artifacts() if self.league is not None else []
        files.append(self.run_dir / ENV_RUNNERS_FILE)
        stages = self.run_dir / CURRICULUM_DIR / STAGES_CSV
        if stages.exists():
            files.append(stages)
        return files

    def cleanup(self) -> None:
        if getattr(self, "league", None) is not None:
            self.league.stop()
        super().cleanup()

    # ------------------------------------------------------------------------------------------- state

    def save_to_path(self, path: Any = None, *args: Any, **kwargs: Any) -> str:
        out = super().save_to_path(path, *args, **kwargs)
        folder = Path(out)
        if self.league is not None:
            self._league_call(self.league.save, folder)
        if self.curriculum is not None:
            (folder / CURRICULUM_STATE_FILE).write_text(json.dumps(self.curriculum.state()))
        return out

    def restore_from_path(self, path: Any, *args: Any, **kwargs: Any) -> None:
        super().restore_from_path(path, *args, **kwargs)
        if "component" in kwargs:
            return
        folder = Path(path)
        self._env_steps = int(self.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0))
        per_agent = self.metrics.peek(("env_runners", "num_agent_steps_sampled_lifetime"), default=0)
        self._agent_steps = int(sum(per_agent.values()) if isinstance(per_agent, dict) else per_agent)
        per_iteration_timers(self)
        # A run with the league or a curriculum wrote their state into every checkpoint: without it the run would
        # go on from a fresh pool or the first stage, silently.
        for part, name in ((self.league, LEAGUE_STATE_FILE), (self.curriculum, CURRICULUM_STATE_FILE)):
            if part is not None and not (folder / name).is_file():
                raise ValueError(f"checkpoint {str(folder)!r} has no {name} although this run's config uses it")
        if self.league is not None:
            self.league.restore(json.loads((folder / LEAGUE_STATE_FILE).read_text()))
        if self.curriculum is not None:
            self.curriculum.load_state(json.loads((folder / CURRICULUM_STATE_FILE).read_text()))
            self._write_stage_history()
            self.install_stage()


class TrainingStepCallback(RLlibCallback):
    """Restarted env runners get the current stage and league plan (:meth:`RLBotPPO.on_runners_recreated`)."""

    def on_env_runners_recreated(
        self, *, algorithm: Any, env_runner_indices: list[int], is_evaluation: bool = False, **kwargs: Any
    ) -> None:
        if isinstance(algorithm, RLBotPPO) and not is_evaluation:
            algorithm.on_runners_recreated(env_runner_indices)
