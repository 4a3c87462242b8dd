"""A yardstick, not a route: the least any Flask proxy does per call on this stack.

``bench/slow_pagero.py`` serves it with the app's own command and settings
(``gunicorn -c config/gunicorn.py``, the same gevent workers) and drives it exactly like
``/api-proxy``: same path, same slow API, same load. It checks no session, no token and no
rule: Flask, one call on the app's own connection pool (pagero_oauth/http.py), the answer.
So its figures are the ceiling that gunicorn's gevent worker, Flask and urllib3 on these
cores put on any proxy built with them, and the app's own figures are read against it.
Nothing serves it to a user.
"""

from __future__ import annotations

import os

from flask import Flask, Response
from urllib3.util import parse_url

from pagero_oauth.http import FreshResendPool

app = Flask(__name__)
#: As large as the app's pool (PAGERO_MAX_IN_FLIGHT), so both keep the same connections.
_base = parse_url(os.environ["PAGERO_API_BASE_URL"])
_api = FreshResendPool(_base.host, _base.port, maxsize=500)


@app.get("/api-proxy/<path:path>")
def relay(path: str) -> Response:
    upstream = _api.urlopen(
        "GET", f"/{path}", headers={"Authorization": "Bearer bench"}, retries=False
    )
    return Response(
        upstream.data, status=upstream.status, content_type=upstream.headers.get("Content-Type")
    )
