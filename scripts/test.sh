#!/usr/bin/env bash
# Set up (first time) and run the test suite. Uses DATABASE_URL / REDIS_URL when set
# (CI points them at PostgreSQL and Redis); otherwise SQLite and a throwaway local Redis.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" dev
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
