#!/usr/bin/env bash
# Create .venv (if missing) and install rl-bot with its pins. Idempotent; sourced by the other scripts.
# torch goes in FIRST and stays pinned through a constraints file: an unpinned resolve pulls a multi-GB CUDA
# build. On a GPU machine, install your own CUDA torch 2.13.0 into .venv before running this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV="$ROOT/.venv"
STAMP="$VENV/.rl-bot-installed"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# Reinstall only when the dependency list changed.
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  # pip's own chatter goes to a log; on a failure its end is shown.
  LOG="$VENV/install.log"
  echo "installing rl-bot and its pinned dependencies into $VENV (about 2 minutes; pip's log: $LOG)"
  CONSTRAINTS="$(mktemp)"
  echo "torch==2.13.0" > "$CONSTRAINTS"
  if ! {
    "$VENV/bin/python" -m pip install -q --upgrade pip &&
    "$VENV/bin/python" -m pip install -q "torch==2.13.0" &&
    "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" -e "$ROOT[test]"
  } > "$LOG" 2>&1; then
    rm -f "$CONSTRAINTS"
    tail -n 30 "$LOG" >&2
    echo "error: the install failed (whole log: $LOG)" >&2
    exit 1
  fi
  rm -f "$CONSTRAINTS"
  echo "$WANT" > "$STAMP"
fi
