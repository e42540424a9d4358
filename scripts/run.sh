#!/usr/bin/env bash
# Set up (first time) and run AcousticSense: web + worker + Redis + SQLite. Ctrl-C stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" runtime
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/devserver.py" "$@"
