# Sourced by demo.sh and staging-rehearsal.sh, which both run the sandbox and the app
# side by side: refuse ports already taken, wait for each server to answer, stop both
# on Ctrl-C, and say so when one of them dies. Set NAME (the messages' prefix) and PY
# before sourcing; start each server in the background followed by `pids+=($!)`.

pids=()

# Exits when any of the given ports already has a listener on 127.0.0.1.
require_free_ports() {
  local port
  for port in "$@"; do
    if "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
      echo "$NAME: port $port is already in use; set APP_PORT / SANDBOX_PORT to free ports" >&2
      exit 1
    fi
  done
}

stop_servers() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop_servers; echo "$NAME: stopped"; exit 0' INT TERM
trap stop_servers EXIT

# wait_for URL [CA file]: up to 15 s for URL to answer (over https, trusting the CA file).
wait_for() {
  for _ in $(seq 1 150); do
    if "$PY" - "$@" 2>/dev/null <<'PYTHON'
import ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
urllib.request.urlopen(sys.argv[1], timeout=1, context=context)
PYTHON
    then
      return 0
    fi
    sleep 0.1
  done
  echo "$NAME: $1 did not answer" >&2
  exit 1
}

# Returns only if a server stops by itself: that is an error (Ctrl-C exits through the trap).
wait_while_both_serve() {
  set +e
  wait -n "${pids[@]}"
  echo "$NAME: a server stopped unexpectedly (exit $?)" >&2
  exit 1
}
