"""``/healthz`` (is the process alive) and ``/readyz`` (can it serve a login now).

Orchestrators restart on a failing liveness probe and stop routing on a failing
readiness probe. Liveness therefore checks nothing outside the process (a Redis
outage must not restart every instance); readiness checks the session and token
stores and, with discovery on, that the authorization server's metadata is known.
Neither touches the session, so probes never create one.
"""

from __future__ import annotations

import logging
import tempfile

from flask import Blueprint, current_app, jsonify

from .pagero_client import pagero
from .session_store import STORE_ERRORS

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {"session_store": _check_session_store(), "token_store": _check_token_store()}
    if discovery := pagero.discovery:
        # "unreachable", "http_error", "not_json" or "refused" (read, not trusted: the log
        # says why); meanwhile only endpoints set explicitly are used.
        checks["authorization_server_metadata"] = (
            "ok" if discovery.metadata() is not None else discovery.failure or "unreachable"
        )
    ready = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ready" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


def _check_session_store() -> str:
    interface = current_app.session_interface
    try:
        if hasattr(interface, "client"):  # Redis
            interface.client.ping()
        else:  # cachelib FileSystemCache: the folder must take a new file
            with tempfile.NamedTemporaryFile(dir=interface.cache._path):
                pass
    except STORE_ERRORS as exc:
        log.warning("readiness: session store %s", type(exc).__name__)
        return "unreachable"
    return "ok"


def _check_token_store() -> str:
    store = current_app.extensions["token_store"]
    try:
        store.check()
    except STORE_ERRORS as exc:
        log.warning("readiness: token store %s", type(exc).__name__)
        return "unreachable"
    return "ok"
