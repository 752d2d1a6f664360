#!/usr/bin/env bash
# Install, then lint (ruff, import contracts) and run every test: unit tests and the integration tests that start a real local Ray.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
cd "$ROOT"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
"$ROOT/.venv/bin/ruff" check rl_bot tests
# Layers point one way: the contracts in pyproject.toml ([tool.importlinter]).
"$ROOT/.venv/bin/lint-imports" --no-cache
set +e
# -X faulthandler: a crash in native code (RocketSim, torch, Ray) prints every thread's Python stack.
# --durations=10: the suite's ten slowest tests and their times, so its cost on a 2-core machine stays in view.
"$ROOT/.venv/bin/python" -X faulthandler -m pytest -q --durations=10 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating as failure" >&2
  exit 1
fi
exit "$rc"
