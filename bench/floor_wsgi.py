"""The benchmark's API call without Flask: what the same work costs below the framework.

Measurement only, never deployed: ``make bench-floor`` serves it next to the app and
compares both with the direct API call. It answers one question from issue 4's speed
targets: how much of what ``/api-proxy`` adds on this machine is the work itself, and how
much is Flask, Werkzeug's request and response objects and Flask-Session around it.

For the call it measures (a logged-in ``GET`` whose token is not due for a refresh) it
does what the app's view does, with the app's own parts: the same session and token
stores, :func:`~app.api_proxy.safe_api_path`, the idle and absolute timeouts, the header
allow-lists, the same pooled urllib3 call, the security headers and a request id. Every
other request, and every case the view would treat differently before calling Pagero (no
session, a refresh due, the session's last-seen time due for a write, an unsafe method, a
navigation, a refused path), goes to the app unchanged. After the call it relays the
answer as it comes: no refresh on a 401, no problem+json for a failure. That is why it is
short, and why it is not a second proxy. It reads filesystem sessions, the backend
``make bench-floor`` runs the app with.
"""

from __future__ import annotations

import secrets
import time

from flask import Flask
from werkzeug.sansio.http import parse_cookie

from app import api_proxy, errors, security, tokens
from app.http_pool import USER_AGENT, resend_if_closed
from app.pagero_client import pagero
from app.session_store import SEEN_WRITE_INTERVAL

PREFIX = "/api-proxy/"


def floor(flask_app: Flask):
    """A WSGI app: the benchmark's call answered here, everything else by ``flask_app``."""
    settings = flask_app.config["PAGERO_SETTINGS"]
    sessions = flask_app.session_interface
    token_store = flask_app.extensions["token_store"]
    cookie_name = flask_app.config["SESSION_COOKIE_NAME"]
    https = settings.redirect_uri.startswith("https://")
    with flask_app.test_request_context("/"):
        policy = security._policy_headers(security._form_targets(), https, False)
    forwarded = [
        (h, "HTTP_" + h.upper().replace("-", "_")) for h in api_proxy.FORWARD_REQUEST_HEADERS
    ]
    timeout = api_proxy._timeout(settings.http_connect_timeout, settings.http_read_timeout)

    def token_for(environ) -> str | None:
        """The access token for this request, or None when the app must decide."""
        sid = parse_cookie(environ.get("HTTP_COOKIE", "")).get(cookie_name)
        data = sessions._retrieve_session_data(sessions.key_prefix + sid) if sid else None
        if not data or tokens.TOKEN_KEY not in data:
            return None
        now = time.time()
        seen = now - data.get(tokens.SEEN_AT, now)
        if (
            now - data.get(tokens.LOGIN_AT, now) > settings.session_lifetime
            or seen > settings.session_idle_timeout
            or seen >= SEEN_WRITE_INTERVAL  # the app writes down that the user was here
        ):
            return None
        token_set = tokens._from_store(token_store.get(data[tokens.TOKEN_KEY]))
        if token_set is None or token_set.needs_refresh(settings.refresh_margin):
            return None
        return token_set.access_token

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        accept = environ.get("HTTP_ACCEPT", "")
        if (
            environ["REQUEST_METHOD"] != "GET"
            or not path.startswith(PREFIX)
            or environ.get("HTTP_SEC_FETCH_MODE") == "navigate"
            or "text/html" in accept
        ):
            return flask_app(environ, start_response)
        try:
            rest = "/" + api_proxy.safe_api_path(path[len(PREFIX) :], settings.api_allowed_paths)
        except errors.PageroError:
            return flask_app(environ, start_response)
        access_token = token_for(environ)
        if access_token is None:
            return flask_app(environ, start_response)
        headers = {name: environ[key] for name, key in forwarded if key in environ}
        headers.setdefault("Accept-Encoding", "identity")
        headers["User-Agent"] = USER_AGENT
        headers["Authorization"] = "Bearer " + access_token
        if query := environ.get("QUERY_STRING"):
            rest += "?" + query
        upstream = pagero.api.pool().urlopen(
            "GET",
            pagero.api.prefix + rest,
            assert_same_host=False,
            headers=headers,
            redirect=False,
            retries=resend_if_closed(None),  # the view's call, argument for argument
            preload_content=False,
            decode_content=False,
            timeout=timeout,
        )
        body = upstream.read(decode_content=False)
        upstream.release_conn()
        answer = [
            (h, upstream.headers[h])
            for h in api_proxy.FORWARD_RESPONSE_HEADERS
            if h in upstream.headers
        ]
        answer += [*policy, ("X-Request-ID", secrets.token_hex(16)), ("Vary", "Cookie")]
        start_response(f"{upstream.status} {upstream.reason}", answer)
        return [body]

    return app


def serve():
    """``gunicorn -c config/gunicorn.py 'bench.floor_wsgi:serve()'``."""
    from wsgi import app

    return floor(app)
