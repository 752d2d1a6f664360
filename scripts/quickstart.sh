#!/usr/bin/env bash
# Install, then a short real training run on the embedded default config (local Ray, RocketSim 1v1 self-play,
# PPO in the default curriculum for 5 minutes, MLflow store in <project>/mlruns). Extra arguments go to
# `rl-bot train`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
cd "$ROOT"
"$ROOT/.venv/bin/rl-bot" train "$@"
echo
echo "MLflow: $ROOT/.venv/bin/mlflow ui --backend-store-uri sqlite:///$ROOT/mlruns/mlflow.db"
echo "        then open http://127.0.0.1:5000 -> experiment 'rl-bot' -> the newest run (metrics env/*, perf/*, losses/*)"
echo "Runs (config.yaml, checkpoints/): $ROOT/runs/"
