"""``/api-proxy``'s everyday call, answered below Flask: the same work for a third of the CPU.

Why it exists: nearly every call a page makes through the proxy is a ``GET`` from a
logged-in session whose token is still good. For that call, Flask's request context,
routing, request and response objects, hooks and session object cost about as much CPU
as everything else the app does (``make bench-lanes``; README, "Performance"). This
WSGI middleware answers that call itself, with the view's own functions called with the
same values; Flask serves everything else.

It answers a request itself only when all of these hold, and checks them before any
upstream call:

* ``GET /api-proxy/<path>`` whose path :func:`~app.api_proxy.safe_api_path` accepts;
* the session cookie names a stored session with tokens, within its absolute and idle
  timeouts, whose last-seen time is not due for a write (the view would write it);
* its access token is not due for a refresh (``PAGERO_REFRESH_MARGIN``).

Anything else (another method, a refused path, no session, a timeout, a refresh due)
goes to Flask untouched, and the view decides; a session store it cannot read goes there
marked (:data:`~app.session_store.STORE_FAILED`), so the 503 does not wait for a second
store timeout. After the upstream call:

* a failure with a problem answer (timeout, API unreachable, an answer broken off) is
  handed to Flask (:data:`HANDED_OVER`); a ``before_request`` hook raises it there, so
  the app's error handler logs it and writes the same problem+json;
* ``401 invalid_token`` hands the request to the view with the refused token
  (:data:`~app.api_proxy.REFUSED_TOKEN`): the view refreshes it and makes the one retry.

With the flow trace on (sandbox, staging), the call is recorded in the session's trace
as the view records it, so QA on staging exercises the path production takes.

The view stays the complete implementation: with ``PAGERO_PROXY_FAST_LANE=false`` (or
this module and its line in :func:`app.create_app` removed) the app answers exactly the
same, with more CPU. The proxy's tests run both ways (``BOTH_LANES``, tests/proxy_helpers.py).
"""

from __future__ import annotations

import re
import time

from flask import Flask, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES, remove_entity_headers
from werkzeug.sansio.http import parse_cookie
from werkzeug.wsgi import ClosingIterator

from . import api_proxy, errors, flow_trace, security, tokens
from .logging_setup import request_id
from .pagero_client import pagero
from .session_store import STORE_ERRORS, STORE_FAILED, seen_write_due, timeout_reason

#: Where a failure after the upstream call waits for the view's error handling.
HANDED_OVER = "pagero.api_fast_lane.error"
PREFIX = "/api-proxy/"
#: What a session id the app issued looks like (Flask-Session: ``secrets.token_urlsafe``).
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")


class ApiFastLane:
    """WSGI middleware around ``app.wsgi_app``; see the module docstring."""

    def __init__(self, app: Flask, wsgi_app):
        self.wsgi_app = wsgi_app
        self.configured = app.config["PAGERO_SETTINGS"]
        self.sessions = app.session_interface
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.https = self.configured.redirect_uri.startswith("https://")
        #: The flow trace's store when ``PAGERO_FLOW_TRACE`` is on.
        self.traces = app.extensions.get(flow_trace.EXTENSION)
        app.before_request(_raise_handed_over)

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "GET" or not environ["PATH_INFO"].startswith(PREFIX):
            return self.wsgi_app(environ, start_response)
        try:
            settings = pagero.settings  # may read the server metadata, and fail
            path = api_proxy.safe_api_path(
                environ["PATH_INFO"][len(PREFIX) :], settings.api_allowed_paths, environ
            )
            usable = self._usable_session(environ, settings)
        except errors.PageroError:
            usable = None  # a refused path, unreadable metadata: the view says why
        except STORE_ERRORS as exc:
            environ[STORE_FAILED] = type(exc).__name__  # the view answers 503 at once
            usable = None
        except Exception as exc:  # a bug here: the app's own 500, never the server's page
            return self._hand_over(environ, start_response, None, exc)
        if usable is None:
            return self.wsgi_app(environ, start_response)
        return self._forward(environ, start_response, settings, path, *usable)

    def _usable_session(self, environ, settings) -> tuple[tokens.TokenSet, dict] | None:
        """The session's tokens and data when the view would use them as they are."""
        # Read as Flask reads it (werkzeug's Request.cookies): werkzeug.http.parse_cookie
        # would decode the header as UTF-8 and fail on other bytes. A cookie that is not
        # a session id is no session, as it is to the view (a 401, not a crash).
        sid = parse_cookie(environ.get("HTTP_COOKIE")).get(self.cookie_name)
        if not sid or not _SESSION_ID.fullmatch(sid):
            return None
        data, record = self.sessions.read_with_tokens(sid)
        now = time.time()
        if (
            not data
            or tokens.TOKEN_KEY not in data
            or timeout_reason(data, self.configured, now) is not None
            or seen_write_due(data, now)
        ):
            return None
        token_set = tokens.from_record(record)
        if token_set is None or token_set.needs_refresh(settings.refresh_margin, now):
            return None
        return token_set, data

    def _forward(self, environ, start_response, settings, path: str, token_set, data: dict):
        """The view's upstream call and answer, for this one case."""
        rid = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        rest = api_proxy.target(path, environ.get("QUERY_STRING", ""))
        url = settings.api_base_url + rest  # for the flow trace
        headers = api_proxy.upstream_headers(
            EnvironHeaders(environ).items(), token_set.access_token
        )
        started = time.monotonic()
        try:
            upstream = api_proxy.call_api(settings, "GET", rest, headers)
            if upstream.status == 401 and api_proxy.invalid_token(upstream):
                upstream.drain_conn()
                upstream.release_conn()
                if write_trace := self._trace(data, url, 401, started, rid):
                    write_trace()  # the view records the refresh and the retry after it
                environ[api_proxy.REFUSED_TOKEN] = token_set.access_token
                return self._hand_over(environ, start_response, rid)
            api_proxy.log_call("GET", path, upstream.status, started, extra={"request_id": rid})
            answer = list(api_proxy.response_headers(settings, upstream).items())
            body, streamed = api_proxy.answer_body(upstream, "GET")
        except errors.PageroError as exc:
            return self._hand_over(environ, start_response, rid, exc)
        status = upstream.status
        # What Werkzeug does to the view's Response: RFC 9110 sections 8.6 and 15.4.5.
        # (A 204 or 304 is never read whole: answer_body streams it.)
        if not streamed:
            answer = [(k, v) for k, v in answer if k != "Content-Length"]
            answer.append(("Content-Length", str(len(body))))
        elif status == 204:
            answer = [(k, v) for k, v in answer if k != "Content-Length"]
        elif status == 304:
            remove_entity_headers(answer)
        answer += security.missing_policy_headers(answer, self.https, proxied=True)
        answer += [("X-Request-ID", rid), ("Vary", "Cookie")]
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}", answer)
        body = body if streamed else [body]
        if write_trace := self._trace(data, url, status, started, rid):
            body = ClosingIterator(body, [write_trace])  # written once the answer went out
        return body

    def _trace(self, data: dict, url: str, status: int, started: float, rid: str):
        """The flow trace's record of this call, when the session has a trace."""
        trace_key = data.get(flow_trace.TRACE_KEY)
        if self.traces is None or not trace_key:
            return None
        event = flow_trace.api_call_event("GET", url, status, started, request_id=rid)
        return flow_trace.store_later(self.traces, trace_key, [event])

    def _hand_over(self, environ, start_response, rid: str | None, error=None):
        if rid is not None:
            environ["HTTP_X_REQUEST_ID"] = rid  # one id for the request, on both sides
        if error is not None:
            environ[HANDED_OVER] = error
        return self.wsgi_app(environ, start_response)


def _raise_handed_over() -> None:
    """Raise the fast lane's failure inside Flask, so the error handlers answer it."""
    error = request.environ.pop(HANDED_OVER, None)
    if error is not None:
        raise error


def init_app(app: Flask) -> None:
    """Put the fast lane in front of ``app`` unless the configuration turns it off."""
    if app.config["PAGERO_SETTINGS"].proxy_fast_lane:
        app.wsgi_app = ApiFastLane(app, app.wsgi_app)
