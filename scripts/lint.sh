#!/usr/bin/env bash
# The checks CI runs before the tests: the import contracts, the linter and the formatter.
# Settings live in pyproject.toml. `--fix` applies ruff's safe fixes and formats the code.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh" dev >/dev/null
cd "$ROOT"
BIN="$ROOT/.venv/bin"
if [ "${1:-}" = "--fix" ]; then
  "$BIN/ruff" check --fix .
  "$BIN/ruff" format .
fi
echo "== lint-imports (pyproject.toml [tool.importlinter])"
"$BIN/lint-imports" --no-cache --no-logo
echo "== ruff check"
"$BIN/ruff" check .
echo "== ruff format --check"
"$BIN/ruff" format --check .
