"""Shared fixtures. Ray token auth stays off for the local clusters tests start (see docs/running.md)."""

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture
def project_home(tmp_path, monkeypatch):
    """Point the project folder (runs/, mlruns/) at a temp dir."""
    monkeypatch.setenv("RL_BOT_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def ray_guard():
    """Whatever a test does, no Ray stays up after it."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()
