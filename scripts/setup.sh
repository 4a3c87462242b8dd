#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine: a virtual environment
# with the pinned packages, and Chromium for the browser tests.
# Safe to run again: it only reinstalls when a requirements file changed.
#
#   scripts/setup.sh            runtime + test tools into .venv; as root on Debian or
#                               Ubuntu also `apt-get install chromium` when it is missing
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.requirements.sha256"
wanted="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing pinned packages"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$wanted" > "$stamp"
fi

# The browser tests (tests/e2e) drive the system's Chromium through Playwright; Playwright's
# own browser download is never used. `make demo` does not need it, so a missing browser
# is reported here and fails the browser tests, not the setup.
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium for the browser tests (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: ERROR: chromium is not installed, so the browser tests (tests/e2e) will fail." >&2
    echo "setup:   Install it as root:  apt-get update && apt-get install -y chromium" >&2
    echo "setup:   (or run this script as root), or set CHROMIUM=/path/to/chromium." >&2
  fi
fi
echo "setup: ready ($("$VENV/bin/python" --version))"
