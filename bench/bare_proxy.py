"""A yardstick, not a route: the least any Flask proxy does per call on this stack.

``bench/slow_pagero.py`` serves it with the app's own command and settings
(``gunicorn -c config/gunicorn.py``, the same gevent workers) and drives it exactly like
``/api-proxy``: same path, same slow API, same load. It checks no session, no token and no
rule: Flask, one call on the app's own connection pool (pagero_oauth/http.py), the answer.
So its figures are the ceiling that gunicorn's gevent worker, Flask and urllib3 on these
cores put on any proxy built with them, and the app's own figures are read against it.
``bench/report.py`` drives it the same way against the sandbox's fast API, whose token it
sends (``BARE_PROXY_BEARER``). Nothing serves it to a user.
"""

from __future__ import annotations

import os

from flask import Flask, Response, request
from urllib3.util import parse_url

from pagero_oauth.http import FreshResendPool

app = Flask(__name__)
#: As large as the app's pool (PAGERO_MAX_IN_FLIGHT), so both keep the same connections.
_base = parse_url(os.environ["PAGERO_API_BASE_URL"])
_api = FreshResendPool(_base.host, _base.port, maxsize=500)
_prefix = (_base.path or "").rstrip("/")
_headers = {"Authorization": "Bearer " + os.environ.get("BARE_PROXY_BEARER", "bench")}


@app.get("/healthz")
def healthz() -> Response:
    """The least a liveness probe can cost: the same worker's event loop, no work at all."""
    return Response("ok\n", content_type="text/plain")


@app.get("/api-proxy/<path:path>")
def relay(path: str) -> Response:
    query = request.query_string.decode("latin-1")
    target = f"{_prefix}/{path}?{query}" if query else f"{_prefix}/{path}"
    upstream = _api.urlopen("GET", target, headers=_headers, retries=False)
    return Response(
        upstream.data, status=upstream.status, content_type=upstream.headers.get("Content-Type")
    )
