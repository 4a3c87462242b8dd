#!/usr/bin/env bash
# Sets up and runs the whole test suite (what `make test` and CI run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
echo "test: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Includes the browser tests (tests/e2e): headless Chromium against the app under gunicorn.
# Screenshots and network logs of every journey land in test-artifacts/.
echo "test: pytest"
mkdir -p test-artifacts
.venv/bin/python -m pytest "$@"
