"""The smallest real training config the integration tests run (1v1, a tiny LSTM, one env runner)."""

import copy
from typing import Any

TINY: dict[str, dict[str, Any]] = {
    "run": {"name": "tiny", "seed": 3},
    "env": {"team_size": 1, "no_touch_timeout_s": 4, "game_timeout_s": 8},
    "model": {"use_lstm": True, "fcnet_hiddens": [32], "lstm_cell_size": 16, "max_seq_len": 8},
    "ppo": {"train_batch_size": 600, "minibatch_size": 300, "num_epochs": 1},
    "resources": {"num_env_runners": 1, "num_envs_per_env_runner": 2},
    "stop": {"iterations": 2},
    "checkpoint": {"every_n_iterations": 1, "keep_last": 2},
}


def tiny(**sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """:data:`TINY` with the given sections' fields replaced or added."""
    cfg = copy.deepcopy(TINY)
    for name, fields in sections.items():
        cfg.setdefault(name, {}).update(fields)
    return cfg
