#!/usr/bin/env bash
# Runs the Pagero sandbox and the app together, wired to each other.
# Ctrl-C stops both. Ports: APP_PORT (5000) and SANDBOX_PORT (5001).
set -euo pipefail
cd "$(dirname "$0")/.."

export APP_PORT="${APP_PORT:-5000}"
export SANDBOX_PORT="${SANDBOX_PORT:-5001}"
export PAGERO_ENV=sandbox
# The sandbox registers exactly the redirect URI and the post-logout redirect URI
# the app will send (sandbox profile defaults).
export SANDBOX_BASE_URL="http://localhost:${SANDBOX_PORT}"
export SANDBOX_REDIRECT_URIS="http://localhost:${APP_PORT}/callback"
export SANDBOX_POST_LOGOUT_REDIRECT_URIS="http://localhost:${APP_PORT}/logged-out"
export GUNICORN_BIND="${GUNICORN_BIND:-127.0.0.1:${APP_PORT}}"
PY=.venv/bin/python

for port in "$APP_PORT" "$SANDBOX_PORT"; do
  if "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
    echo "demo: port $port is already in use; set APP_PORT / SANDBOX_PORT to free ports" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'cleanup; echo "demo: stopped"; exit 0' INT TERM
trap cleanup EXIT

"$PY" -m sandbox &
pids+=($!)
.venv/bin/gunicorn -c config/gunicorn.py wsgi:app &
pids+=($!)

wait_for() {
  for _ in $(seq 1 100); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "demo: $1 did not answer" >&2
  exit 1
}
wait_for "http://localhost:${SANDBOX_PORT}/oauth/v2/oauth-anonymous/.well-known/openid-configuration"
wait_for "http://localhost:${APP_PORT}/"

cat <<TXT

  Pagero reference client is running.

    Open   http://localhost:${APP_PORT}
    Log in as  demo / demo   (also alice / alice, bob / bob)

  Sandbox (stand-in for Pagero): http://localhost:${SANDBOX_PORT}
  Press Ctrl-C to stop both.

TXT
set +e
wait -n "${pids[@]}"
echo "demo: a server stopped unexpectedly (exit $?)" >&2
exit 1
