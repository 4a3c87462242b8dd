#!/usr/bin/env bash
# Sets up and runs the whole test suite (what `make test` and CI run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "test: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "test: pytest"
mkdir -p test-artifacts
.venv/bin/python -m pytest "$@"
