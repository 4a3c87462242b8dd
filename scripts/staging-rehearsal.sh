#!/usr/bin/env bash
# A rehearsal of the staging checklist on this machine: the app with PAGERO_ENV=staging
# against the sandbox over https (docs/staging-qa.md, "Rehearse on your machine").
# The sandbox serves a certificate of a local CA made into SANDBOX_TLS_DIR; the app
# trusts that CA alone through REQUESTS_CA_BUNDLE. Every endpoint is set as QA sets
# staging's, the doctor runs first, then both serve. Ctrl-C stops both.
# Ports: APP_PORT (5000) and SANDBOX_PORT (5001).
set -euo pipefail
cd "$(dirname "$0")/.."

APP_PORT="${APP_PORT:-5000}"
SANDBOX_PORT="${SANDBOX_PORT:-5001}"
INSTANCE="$(mkdir -p "${INSTANCE_PATH:-instance}" && cd "${INSTANCE_PATH:-instance}" && pwd)"
SANDBOX_TLS_DIR="${SANDBOX_TLS_DIR:-$INSTANCE/sandbox-tls}"
export SANDBOX_TLS_DIR="$(mkdir -p "$SANDBOX_TLS_DIR" && cd "$SANDBOX_TLS_DIR" && pwd)"
NAME=rehearsal
PY=.venv/bin/python
. scripts/two-servers.sh
require_free_ports "$APP_PORT" "$SANDBOX_PORT"

app="http://localhost:${APP_PORT}"
sso="https://localhost:${SANDBOX_PORT}"
# The sandbox: https, registering exactly the app's redirect URIs. No other SANDBOX_*
# from the shell leaks in except faults and delays, which a rehearsal may want.
sandbox_env=(
  SANDBOX_PORT="$SANDBOX_PORT"
  SANDBOX_BASE_URL="$sso"
  SANDBOX_REDIRECT_URIS="${app}/callback"
  SANDBOX_POST_LOGOUT_REDIRECT_URIS="${app}/logged-out"
)

# The app: what docs/staging-qa.md's table asks for, pointed at the sandbox. The sandbox's
# demo client is its only client; the SECRET_KEY is new each run (sessions end with it).
ENV_FILE="$INSTANCE/staging-rehearsal.env"
(
  umask 077
  cat > "$ENV_FILE" <<ENV
PAGERO_ENV=staging
PAGERO_CLIENT_ID=pagero-demo-client
PAGERO_CLIENT_SECRET=pagero-demo-secret
PAGERO_AUTHORIZE_URL=${sso}/oauth/v2/oauth-authorize
PAGERO_TOKEN_URL=${sso}/oauth/v2/oauth-token
PAGERO_REVOCATION_URL=${sso}/oauth/v2/oauth-revoke
PAGERO_JWKS_URI=${sso}/oauth/v2/oauth-anonymous/jwks
PAGERO_END_SESSION_URL=${sso}/oauth/v2/oauth-session/logout
PAGERO_ISSUER=${sso}/oauth/v2/oauth-anonymous
PAGERO_API_BASE_URL=${sso}/api
PAGERO_REDIRECT_URI=${app}/callback
PAGERO_READYZ_CHECK_PAGERO=true
SECRET_KEY=$("$PY" -c "import secrets; print(secrets.token_hex(32))")
REQUESTS_CA_BUNDLE=${SANDBOX_TLS_DIR}/ca.pem
APP_PORT=${APP_PORT}
GUNICORN_BIND=127.0.0.1:${APP_PORT}
INSTANCE_PATH=${INSTANCE}
ENV
)

env "${sandbox_env[@]}" "$PY" -m sandbox --tls &
pids+=($!)

wait_for "${sso}/oauth/v2/oauth-anonymous/.well-known/openid-configuration" "${SANDBOX_TLS_DIR}/ca.pem"

# Checklist step 3: the doctor, with exactly the app's variables (its report never
# shows the secret). A failed check is reported, and the app starts anyway so the
# rehearsal can show what that failure looks like.
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a
echo "rehearsal: the doctor (flask --app wsgi pagero doctor)"
.venv/bin/flask --app wsgi pagero doctor || echo "rehearsal: the doctor reported a problem (above)"

.venv/bin/gunicorn -c config/gunicorn.py wsgi:app &
pids+=($!)
wait_for "${app}/readyz"

cat <<TXT

  Staging rehearsal is running: the app with PAGERO_ENV=staging, the sandbox over https.

    Open   ${app}
    Log in as  demo / demo   (also alice / alice, bob / bob)

  Sandbox (https, local CA):  ${sso}
  Your browser does not trust the local CA: accept the warning once, or import
  ${SANDBOX_TLS_DIR}/ca.pem into it. The app trusts it through REQUESTS_CA_BUNDLE.
  The app's variables are in ${ENV_FILE}; load them (set -a; . ${ENV_FILE}; set +a)
  to run the doctor again. Press Ctrl-C to stop both.

TXT
wait_while_both_serve
