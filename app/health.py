"""``/healthz`` (is the process alive) and ``/readyz`` (can it serve a login now).

Orchestrators restart on a failing liveness probe and stop routing on a failing
readiness probe. Liveness therefore checks nothing outside the process (a Redis
outage must not restart every instance); readiness checks that the session and
token stores take a write (a Redis replica or a cluster missing slots answers PING but
stores nothing) and, with discovery on, that the authorization server's metadata is known.
Neither touches the session, so probes never create one.
"""

from __future__ import annotations

import logging
import tempfile

from flask import Blueprint, current_app, jsonify

from .pagero_client import pagero
from .redis_client import check_writable, failure
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
        if hasattr(interface, "client"):  # Redis: a write, which a PING would not prove
            check_writable(interface.client, interface.token_store.prefix)
        else:  # cachelib FileSystemCache: the folder must take a new file
            with tempfile.NamedTemporaryFile(dir=interface.cache._path):
                pass
    except STORE_ERRORS as exc:
        return _failed("session store", exc)
    return "ok"


def _check_token_store() -> str:
    store = current_app.extensions["token_store"]
    try:
        store.check()
    except STORE_ERRORS as exc:
        return _failed("token store", exc)
    return "ok"


def _failed(name: str, exc: BaseException) -> str:
    """``unreachable``, or for Redis why a write failed: ``read_only`` (a replica),
    ``cluster_down`` (a cluster missing slots), ``tls_certificate_not_trusted``, ..."""
    reason = failure(exc) if not isinstance(exc, OSError) else "unreachable"
    log.warning("readiness: %s %s (%s)", name, reason, type(exc).__name__)
    return reason
