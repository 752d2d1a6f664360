"""rl-bot bench: every single-core layer is measured and reported; peak memory counts child processes."""

import re
import subprocess
import sys
import time

import pytest

from rl_bot.bench import PeakMemory
from rl_bot.cli import main as cli


def test_bench_reports_every_layer_and_appends_markdown(tmp_path, capsys):
    out_md = tmp_path / "bench.md"
    assert (
        cli(
            [
                "bench",
                "--no-train",
                "--seconds",
                "0.5",
                "--set",
                "resources.num_envs_per_env_runner=4",
                "--markdown",
                str(out_md),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    rates = {}
    for name in (
        "physics only",
        "env only, rlgym components",
        "env only, batched (4 arenas)",
        "sampling only: 1 env runner (batched), RLlib's connectors",
        "sampling only: 1 env runner (batched), array path",
    ):
        m = re.search(rf"\| {re.escape(name)}[^|]* \| ([\d,]+) \|", text)
        assert m, f"no row for {name!r} in:\n{text}"
        rates[name] = int(m.group(1).replace(",", ""))
        assert rates[name] > 0
    assert "`rl-bot bench --no-train --seconds 0.5 --set resources.num_envs_per_env_runner=4`" in text
    assert out_md.read_text().strip() == text.strip()


def test_peak_memory_includes_child_processes():
    child_code = "import time; x = bytearray(300 * 2**20); x[::4096] = b'x' * len(x[::4096]); time.sleep(3)"
    with PeakMemory(interval_s=0.2) as alone:
        time.sleep(0.6)
    with PeakMemory(interval_s=0.2) as with_child:
        proc = subprocess.Popen([sys.executable, "-c", child_code])
        time.sleep(2.0)
    proc.wait()
    assert with_child.peak_bytes - alone.peak_bytes > 250 * 2**20


def test_iterations_per_hour_counts_wall_time_between_iterations_too():
    from rl_bot.bench import iterations_per_hour

    # 3 iterations of 2 s training each, with 1 s of driver work (league, evaluation start) after each
    history = [{"perf/wall_time_s": 2.0 + 3.0 * k, "perf/iteration_time_s": 2.0} for k in range(3)]
    assert iterations_per_hour(history) == pytest.approx(3600.0 / 3.0)
    assert iterations_per_hour(history[:1]) == pytest.approx(1800.0)
