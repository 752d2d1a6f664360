#!/usr/bin/env bash
# A multi-node Ray cluster on one machine: a head node plus worker nodes, each with its own CPU count, a custom
# `env_runner` resource (one per CPU) that resources.env_runner_resources asks for, and its own --temp-dir.
#
#   cluster/local_cluster.sh start          # head with HEAD_CPUS, one worker node per entry of WORKER_CPUS
#   cluster/local_cluster.sh stop
#
# Settings (environment): HEAD_CPUS (default 1), WORKER_CPUS (default "2"; e.g. "2 2" for two worker nodes),
# GCS_PORT (6379), DASHBOARD_PORT (8265), NODE_TEMP_ROOT (/tmp/rl-bot-nodes).
#
# `stop` ends this cluster only: the processes whose command line names a temp dir under NODE_TEMP_ROOT (every
# node's GCS, raylet, dashboard and monitors) and the workers they started. Other Ray instances on the machine
# (another cluster, a local `rl-bot train`) keep running; `ray stop --force` would end them all.
#
# Why a temp dir per worker node: every node's runtime-env agent unpacks a job's --working-dir into
# <temp dir>/session_*/runtime_resources/ and replaces a copy it finds there. Nodes that share one temp dir on one
# machine replace each other's copy, including the folder the job's driver runs in, and the driver then fails with
# FileNotFoundError from os.getcwd(). Separate temp dirs (or one node per machine) keep the copies apart.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RAY="${RAY:-$ROOT/.venv/bin/ray}"
HEAD_CPUS="${HEAD_CPUS:-1}"
WORKER_CPUS="${WORKER_CPUS:-2}"
GCS_PORT="${GCS_PORT:-6379}"
DASHBOARD_PORT="${DASHBOARD_PORT:-8265}"
NODE_TEMP_ROOT="${NODE_TEMP_ROOT:-/tmp/rl-bot-nodes}"
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"  # the same on every node and in the shell that submits

case "${1:-}" in
  start)
    mkdir -p "$NODE_TEMP_ROOT/head"
    "$RAY" start --head --port="$GCS_PORT" --num-cpus="$HEAD_CPUS" --dashboard-host=127.0.0.1 \
      --dashboard-port="$DASHBOARD_PORT" --temp-dir="$NODE_TEMP_ROOT/head" --disable-usage-stats
    i=0
    for cpus in $WORKER_CPUS; do
      i=$((i + 1))
      mkdir -p "$NODE_TEMP_ROOT/node-$i"
      "$RAY" start --address="127.0.0.1:$GCS_PORT" --num-cpus="$cpus" --resources="{\"env_runner\": $cpus}" \
        --temp-dir="$NODE_TEMP_ROOT/node-$i" --disable-usage-stats
    done
    echo "cluster up: submit with  ray job submit --address http://127.0.0.1:$DASHBOARD_PORT --working-dir . -- \\"
    echo "  python -m rl_bot.train --set 'resources.env_runner_resources={env_runner: 1}'"
    ;;
  stop)
    stop_tree() {  # SIGTERM a process and everything it started (children first), then SIGKILL what is left
      local child
      for child in $(pgrep -P "$1" || true); do stop_tree "$child"; done
      kill -TERM "$1" 2>/dev/null || true
    }
    roots=$(pgrep -f -- "--[a-z_-]*=$NODE_TEMP_ROOT/" || true)
    for pid in $roots; do stop_tree "$pid"; done
    sleep 2
    for pid in $(pgrep -f -- "--[a-z_-]*=$NODE_TEMP_ROOT/" || true); do kill -KILL "$pid" 2>/dev/null || true; done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
