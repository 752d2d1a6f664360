"""Helpers for tests that drive Ray and MLflow through their command lines (a cluster, jobs, a tracking server)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env() -> dict[str, str]:
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    return env


def ray_cli(*args, env, timeout=180):
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def stop_ray_under(root: Path, timeout: float = 30.0) -> None:
    """Stop the Ray started with ``--temp-dir`` under ``root``: every process whose command line names a path under
    it (GCS, raylet, dashboard, monitors) and everything those started (workers, agents). Another Ray on the
    machine keeps running (``ray stop --force`` would end every Ray, a user's training run included)."""
    import psutil

    marker = f"={root}/"
    roots = []
    for p in psutil.process_iter(["cmdline"]):
        if any(marker in arg or arg.endswith(f"={root}") for arg in p.info["cmdline"] or []):
            roots.append(p)
    procs = {p.pid: p for p in roots}
    for p in roots:
        try:
            procs.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    for p in procs.values():
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(procs.values()), timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def submit(address: str, workdir: Path, runtime_env: dict, argv: list[str], env, wait=True, timeout=400):
    """``ray job submit`` of ``python -m rl_bot.train ARGV``; with ``wait=False`` returns at once (job id in stdout)."""
    args = ["job", "submit", "--address", address, "--working-dir", str(workdir)]
    args += ["--runtime-env-json", json.dumps(runtime_env)]
    if not wait:
        args.append("--no-wait")
    return ray_cli(*args, "--", sys.executable, "-m", "rl_bot.train", *argv, env=env, timeout=timeout)


def job_folders(tmp_path: Path, config_name: str, cfg: dict) -> tuple[Path, Path, dict]:
    """A job's project folder (RL_BOT_HOME), a small working dir holding ``cfg`` as ``config_name``, and the runtime
    env that points the job at the project folder."""
    import yaml

    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    workdir.mkdir()
    (workdir / config_name).write_text(yaml.safe_dump(cfg))
    return home, workdir, {"env_vars": {"RL_BOT_HOME": str(home), "RAY_AUTH_MODE": "disabled"}}


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class MlflowServer:
    """A real ``mlflow server`` on loopback: sqlite backend, proxied artifact store in ``root/artifacts``."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.artifacts = root / "artifacts"
        self.log = (root / "mlflow-server.log").open("w")
        self.proc = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.artifacts),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=root,
        )
        wait_for(self._healthy, 120, "the MLflow server")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mlflow server exited with {self.proc.returncode}")
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def ctrl_c_reaches_child() -> None:
    """``preexec_fn`` for a child a test stops with SIGINT: a shell starts background jobs with SIGINT ignored, the
    ignore is inherited through exec, and Python then installs no KeyboardInterrupt handler, so the child would
    never see the test's Ctrl-C. Reset it to the default."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
