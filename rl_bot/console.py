"""What ``rl-bot train`` shows: its own lines on the terminal, everything else in the run folder's log file.

Ray, RLlib, MLflow and the native code under them (Ray's core worker, raylet and GCS, RocketSim) write warnings
and log lines to the process's stdout and stderr, and Ray forwards what its workers print to the driver's. Python
streams alone cannot catch the native writers, so :func:`quiet_output` points file descriptors 1 and 2 at the log
file and hands back a console that writes to where they pointed before. Whatever is started while it is active
(Ray's processes, worker output forwarded by Ray) inherits the log file as its stdout and stderr.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOG_FILE = "train.log"
"""Ray's, RLlib's and MLflow's output of a run, in its run folder (appended to on ``--resume``)."""


@dataclass
class Console:
    """Where the run's own lines go (``out``: progress, ``err``: errors) and where everything else went."""

    out: IO[str]
    err: IO[str]
    log_path: Path | None = None

    def say(self, msg: str) -> None:
        """One of our lines on the terminal."""
        print(msg, file=self.out, flush=True)

    def error(self, msg: str) -> None:
        """An error on the terminal's stderr."""
        print(msg, file=self.err, flush=True)


def plain_console() -> Console:
    """Our lines and everyone else's on the terminal (``--verbose``, and commands that do not start Ray)."""
    return Console(sys.stdout, sys.stderr)


def _terminal_copy(stream: IO[str], fd: int) -> tuple[IO[str], int | None]:
    """A stream that keeps writing where ``stream`` writes once ``fd`` is redirected (and the dup to close).

    A stream without a file descriptor of its own (pytest's capture, an ``io.StringIO``) is not touched by the
    redirect and is used as it is."""
    try:
        own = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return stream, None
    if own != fd:
        return stream, None
    dup = os.dup(own)
    return os.fdopen(dup, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False), dup


@contextlib.contextmanager
def quiet_output(run_dir: Path) -> Iterator[Console]:
    """Send stdout and stderr (file descriptors and Python streams) to ``run_dir/train.log`` while active; yield
    the console that still reaches the terminal. Restores everything on exit, also on an exception (whose
    traceback then prints to the terminal as usual)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / LOG_FILE
    # Never closed: logging handlers created while active (Ray's, MLflow's) keep a reference to this stream and
    # may write again after the redirect is undone (at shutdown); they must find it open.
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    log.write(f"--- rl-bot train, {time.strftime('%Y-%m-%d %H:%M:%S')}, pid {os.getpid()}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    out, out_dup = _terminal_copy(sys.stdout, 1)
    err, err_dup = _terminal_copy(sys.stderr, 2)
    saved_fds = [os.dup(1), os.dup(2)]
    saved_streams = sys.stdout, sys.stderr
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    try:
        yield Console(out, err, log_path)
    finally:
        log.flush()
        sys.stdout, sys.stderr = saved_streams
        for fd, saved in zip((1, 2), saved_fds, strict=True):
            os.dup2(saved, fd)
            os.close(saved)
        for stream, dup in ((out, out_dup), (err, err_dup)):
            if dup is not None:
                stream.flush()
                os.close(dup)
