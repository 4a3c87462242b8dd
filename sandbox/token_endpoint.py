"""Step 3 (exchanging the code for tokens), refreshing, and RFC 7009 revocation.

The views only apply the fault switches; Authlib validates the request, authenticates the
client and runs the grant.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response

from sandbox import faults, latency
from sandbox.authorization_server import current_server
from sandbox.state import current_state

bp = Blueprint("token", __name__)

TOKEN_PATH = "/oauth/v2/oauth-token"  # noqa: S105 - a URL path
REVOKE_PATH = "/oauth/v2/oauth-revoke"

_BROKEN_PROXY_PAGE = (
    "<!doctype html><html><head><title>500 Internal Server Error</title></head>"
    "<body><h1>Internal Server Error</h1><p>Pagero sandbox fault: token_500</p></body></html>"
)


def _token_fault() -> Response | None:
    """The token endpoint misbehaving as switched on; None when it should work."""
    state = current_state()
    if faults.TOKEN_SLOW in state.faults:
        time.sleep(state.settings.slow_seconds)
    if faults.TOKEN_500 in state.faults:
        return Response(_BROKEN_PROXY_PAGE, status=500, mimetype="text/html")
    if faults.TOKEN_MALFORMED in state.faults:
        return Response("<html>this is not JSON", status=200, mimetype="text/html")
    return None


@bp.post(TOKEN_PATH)
def token():
    """Step 3 and refresh: ``authorization_code`` and ``refresh_token`` grants."""
    latency.delay(current_state().settings.token_delay_ms)
    return _token_fault() or current_server().create_token_response()


@bp.post(REVOKE_PATH)
def revoke():
    """RFC 7009: revoke an access or refresh token; unknown tokens are fine (§2.2)."""
    active = current_state().faults
    if faults.NO_REVOCATION_ENDPOINT in active:
        return Response("Not Found", status=404, mimetype="text/plain")
    if faults.REVOCATION_503 in active:
        return Response('{"error":"temporarily_unavailable"}', 503, mimetype="application/json")
    response = current_server().create_endpoint_response("revocation")
    if response.status_code == 200:
        current_state().count("revocation")
    return response
