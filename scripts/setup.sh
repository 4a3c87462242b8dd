#!/usr/bin/env bash
# Sets up what the project needs on a fresh machine. Safe to run again: it only
# reinstalls when a requirements file changed.
#
#   scripts/setup.sh         what `make demo` needs: .venv with the pinned runtime packages
#                            (requirements.txt), nothing else
#   scripts/setup.sh --dev   what `make test` needs on top: the test and lint tools
#                            (requirements-dev.txt), and Chromium and redis-server for the
#                            tests and wrk for `make bench`; as root on Debian or Ubuntu it
#                            runs `apt-get install` for those that are missing
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
case "${1:-}" in
  --dev) DEV=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--dev]" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# One stamp per set: requirements-dev.txt includes requirements.txt, so installing it
# also satisfies the runtime set.
install() {  # stamp name, requirements file, the files it depends on...
  local stamp="$VENV/.requirements-$1.sha256" file="$2"
  shift 2
  local wanted
  wanted="$(cat "$@" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing pinned packages ($file)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$file"
    echo "$wanted" > "$stamp"
  fi
}
if [ "$DEV" -eq 1 ]; then
  install dev requirements-dev.txt requirements.txt requirements-dev.txt
  sha256sum requirements.txt | cut -d' ' -f1 > "$VENV/.requirements-runtime.sha256"
else
  install runtime requirements.txt requirements.txt
  echo "setup: ready for the demo ($("$VENV/bin/python" --version))"
  exit 0
fi
# System packages the tests use, from Debian: Chromium for the browser tests (tests/e2e,
# through Playwright; Playwright's own browser download is never used) and redis-server
# for the Redis session backend tests. `make demo` needs neither, so a missing one is
# reported here and fails its tests, not the setup.
missing=()
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! command -v redis-server >/dev/null 2>&1; then
  missing+=(redis-server)
fi
# wrk drives `make bench` (hundreds of connections; a Python client would be the bottleneck).
if ! command -v wrk >/dev/null 2>&1; then
  missing+=(wrk)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} for the tests (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # Debian may start the packaged Redis service; the tests start their own on free ports.
  else
    echo "setup: ERROR: ${missing[*]} not installed, so some tests will fail." >&2
    echo "setup:   Install as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    echo "setup:   (or run this script as root); CHROMIUM=/path/to/chromium also works." >&2
  fi
fi
echo "setup: ready for the tests ($("$VENV/bin/python" --version))"
