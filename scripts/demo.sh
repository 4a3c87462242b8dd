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
NAME=demo
PY=.venv/bin/python
. scripts/two-servers.sh
require_free_ports "$APP_PORT" "$SANDBOX_PORT"

"$PY" -m sandbox &
pids+=($!)
.venv/bin/gunicorn -c config/gunicorn.py wsgi:app &
pids+=($!)

wait_for "http://localhost:${SANDBOX_PORT}/oauth/v2/oauth-anonymous/.well-known/openid-configuration"
wait_for "http://localhost:${APP_PORT}/"

cat <<TXT

  Pagero reference client is running.

    Open   http://localhost:${APP_PORT}
    Log in as  demo / demo   (also alice / alice, bob / bob)

  Sandbox (stand-in for Pagero): http://localhost:${SANDBOX_PORT}
  Press Ctrl-C to stop both.

TXT
wait_while_both_serve
