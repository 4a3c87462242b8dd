"""``/healthz`` (is the process alive) and ``/readyz`` (can it serve a login now).

Orchestrators restart on a failing liveness probe and stop routing on a failing
readiness probe. Liveness therefore checks nothing outside the process (a Redis
outage must not restart every instance); readiness checks that the session and
token stores take a write (a Redis replica or a cluster missing slots answers PING but
stores nothing) and, with discovery on, that the authorization server's metadata is known;
with ``PAGERO_READYZ_CHECK_PAGERO`` also that Pagero's endpoints answer
(:func:`check_pagero_endpoints`). Neither touches the session, so probes never create one.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from typing import Any

import requests
from flask import Blueprint, current_app, jsonify

from pagero_oauth.failures import Failure
from pagero_oauth.stores.redis_client import check_writable, failure

from ..extension import pagero
from ..sessions import STORE_ERRORS

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
    if pagero.configured.readyz_check_pagero:
        checks.update(check_pagero_endpoints())
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
        return _failed("session store", exc, getattr(interface, "client", None))
    return "ok"


def _check_token_store() -> str:
    store = pagero.stores.tokens
    try:
        store.check()
    except STORE_ERRORS as exc:
        return _failed("token store", exc, getattr(store, "redis", None))
    return "ok"


def _failed(name: str, exc: BaseException, client: Any = None) -> str:
    """``unreachable``, or for Redis why a write failed: ``read_only`` (a replica),
    ``cluster_down`` (a cluster missing slots), ``tls_certificate_not_trusted``, ..."""
    reason = failure(exc, client) if not isinstance(exc, OSError) else "unreachable"
    log.warning("readiness: %s %s (%s)", name, reason, type(exc).__name__)
    return reason


# -- optional: do Pagero's endpoints answer? (PAGERO_READYZ_CHECK_PAGERO) -------------------

#: (connect, read) seconds: a probe must answer well within its own timeout.
PAGERO_CHECK_TIMEOUT = (1.0, 2.0)
#: Seconds a result is reused, so frequent probes of many workers do not hammer Pagero.
PAGERO_CHECK_CACHE_SECONDS = 10.0
#: (check name, Settings attribute, variable): the endpoints a login and an API call need.
PAGERO_ENDPOINTS = (
    ("pagero_token_endpoint", "token_url", "PAGERO_TOKEN_URL"),
    ("pagero_api", "api_base_url", "PAGERO_API_BASE_URL"),
    ("pagero_jwks", "jwks_uri", "PAGERO_JWKS_URI"),
)
_pagero_check_lock = threading.Lock()


def check_pagero_endpoints() -> dict[str, str]:
    """Check name -> ``"ok"``, or what failed, naming the variable and URL.

    An endpoint answers when it sends any HTTP answer below 500 (a GET to the token
    endpoint is rightly refused: that is an answer). The result is kept for
    :data:`PAGERO_CHECK_CACHE_SECONDS` per worker, and one probe at a time asks.
    """
    cache = current_app.extensions.setdefault("readyz_pagero", {})
    with _pagero_check_lock:
        if time.monotonic() - cache.get("at", float("-inf")) < PAGERO_CHECK_CACHE_SECONDS:
            return cache["checks"]
        settings = pagero.settings  # with discovered endpoints, when known
        checks = {}
        for name, attr, variable in PAGERO_ENDPOINTS:
            url = getattr(settings, attr)
            if url:
                checks[name] = _answers(variable, url)
        cache.update(at=time.monotonic(), checks=checks)
        return checks


def _answers(variable: str, url: str) -> str:
    try:
        response = pagero.http.get(url, timeout=PAGERO_CHECK_TIMEOUT, allow_redirects=False)
        response.close()
        if response.status_code >= 500:
            response.raise_for_status()
    except requests.RequestException as exc:
        failure = Failure.from_exception(variable, url, exc, pagero.configured)
        log.warning("readiness: %s", failure.log_text())
        return f"{failure.cause}: {failure.variable} = {failure.url}"
    return "ok"
