"""Non-finite values from the game (pure: numpy only).

A NaN or inf in an observation or a reward term would reach the policy (whose action sampling then fails) and the
learner (which would train on it). Both env backends pass every observation and every reward term through one
:class:`NonFiniteLog`: bad entries are replaced by 0 so the env runner keeps sampling, and each is recorded by name
(``observation`` or ``reward term 'touch'``) with the arena it came from. The env runner reports the counts as
``env/non_finite/...`` metrics and the training step stops the run on any (:mod:`rl_bot.trainer`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

#: Examples kept per log between two reports (the counts are complete).
MAX_EXAMPLES = 5


class TrainingStopped(RuntimeError):
    """A problem found while training that stops the run cleanly: its checkpoints stay as they are."""


class NonFiniteError(TrainingStopped):
    """Training met NaN or inf (in observations, rewards or losses): the run stops at its last good checkpoint."""


class NonFiniteLog:
    """Counts of non-finite values by what they were, plus a few examples naming the arena."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def clean(self, values: np.ndarray, what: str, where: str | None = None) -> np.ndarray:
        """``values`` with non-finite entries set to 0 (a copy only when there are some). Examples name ``where``
        if given, else the arena (the row of the first axis: the batched game's layout)."""
        bad = ~np.isfinite(values)
        if not bad.any():
            return values
        self.counts[what] += int(bad.sum())
        room = max(0, MAX_EXAMPLES - len(self.examples))
        if where is not None:
            self.examples.extend([f"{what} of {where}"][:room])
        else:
            rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
            self.examples.extend(f"{what} in arena {int(r)}" for r in rows[:room])
        return np.where(bad, 0, values).astype(values.dtype, copy=False)

    def drain(self) -> tuple[dict[str, int], list[str]]:
        """The counts and examples since the last drain; resets both."""
        out = dict(self.counts), list(self.examples)
        self.counts.clear()
        self.examples.clear()
        return out


def metric_key(what: str) -> str:
    """``env/non_finite/observation``, ``env/non_finite/reward/touch``: the metric a count is logged under."""
    if what.startswith("reward term "):
        return "env/non_finite/reward/" + what[len("reward term ") :].strip("'")
    return "env/non_finite/" + what.replace(" ", "_")
