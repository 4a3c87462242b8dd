"""The flow trace: each step of this browser's logins and API calls, as it happened.

QA pointing the app at Pagero's staging needs to see what was sent and what came back;
an integrator needs to see which code did it. With ``PAGERO_FLOW_TRACE`` on (sandbox and
staging; production only if switched on) every step is recorded for the browser session
that caused it and shown at ``/trace`` (:mod:`app.qa.trace_page`).

It only observes, so the flow code stays as it is without it:

* ``/login`` and ``/callback`` are read after the view ran (request hooks): the redirect
  to Pagero's login page with every parameter; the callback's parameters and the outcome
  of its ``state`` and ``iss`` checks, told by the error the view raised, if any;
* the token endpoint (Step 3, each refresh), metadata and JWKS calls are read from a
  ``requests`` response hook on the app's pooled HTTP session: what went on the wire
  (a token call that got no answer is reported by the core's observer:
  :func:`unanswered_token_call`);
* each upstream API call is reported by :func:`api_call` from :mod:`app.proxy.views`;
* the error page a flow request ended with is read from ``g.pagero_error``
  (:func:`app.error_pages.render_error` puts it there).

Everything is masked as it is recorded (:mod:`app.qa.trace_events` builds the events),
so neither the store nor the page ever holds a whole secret. Events gather in ``g`` and
are written after the response has gone out (``call_on_close``), and any failure is
logged and dropped: recording never slows or breaks a request.

Per browser session, bounded and apart from the Flask session: see :mod:`pagero_oauth.stores.base`.
The session holds only a random ``trace_key``; logout deletes the trace.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, has_request_context, request, session
from werkzeug.wsgi import ClosingIterator

from config import Settings
from pagero_oauth.stores import TraceStore

from ..extension import pagero
from . import trace_events, trace_wire

log = logging.getLogger(__name__)

EXTENSION = "flow_trace"
#: The session holds only this random key; the events live in the trace store.
TRACE_KEY = "trace_key"
#: Events kept per browser session (the newest).
MAX_EVENTS = 200
#: A trace starts at these endpoints; elsewhere events are kept only for a running trace.
STARTS = {"auth.login", "auth.callback"}
#: Endpoints whose error page belongs to the flow.
FLOW_ENDPOINTS = {"auth.login", "auth.callback", "api_proxy.proxy"}


def init_app(app: Flask, settings: Settings) -> None:
    """Switch the trace on for ``app`` when ``PAGERO_FLOW_TRACE`` says so."""
    if not settings.flow_trace:
        return
    app.extensions[EXTENSION] = pagero.stores.traces
    app.before_request(_before_request)
    app.after_request(_after_request)
    pagero.http.hooks["response"].append(_on_response)
    pagero.on_unanswered_token_call(unanswered_token_call)


def enabled() -> bool:
    return has_request_context() and EXTENSION in current_app.extensions


def read() -> list[dict[str, Any]]:
    """This browser session's events, oldest first."""
    key = session.get(TRACE_KEY)
    if not key:
        return []
    events = current_app.extensions[EXTENSION].read(key, MAX_EVENTS)
    return sorted(events, key=lambda e: e.get("at", 0))


# -- recording ---------------------------------------------------------------------


def _collect(item: dict[str, Any]) -> None:
    g.setdefault("flow_trace_events", []).append(item)


def api_call(method: str, url: str, status: int, started: float) -> None:
    """Record one upstream API call; ``started`` is its ``time.monotonic()``."""
    if not enabled():
        return
    try:
        _collect(trace_events.api_call_event(method, url, status, started))
    except Exception as exc:  # the trace must never break a request
        log.warning("flow trace: API call not recorded (%s)", type(exc).__name__)


def _before_request() -> None:
    g.flow_trace_t0 = time.time()
    g.flow_trace_m0 = time.monotonic()
    if request.endpoint == "auth.logout":
        g.flow_trace_old_key = session.get(TRACE_KEY)


def _after_request(response):
    try:
        _finish(response)
    except Exception as exc:  # the trace must never break a request
        log.warning("flow trace: not recorded (%s)", type(exc).__name__)
    return response


def _finish(response) -> None:
    endpoint = request.endpoint
    store: TraceStore = current_app.extensions[EXTENSION]
    if endpoint == "auth.logout":
        # The trace ends with the login; the revocation calls just made are not kept.
        old_key = g.get("flow_trace_old_key")
        if old_key:
            _after_response(response, _quietly(store.delete, old_key))
        return
    events = g.pop("flow_trace_events", [])
    error = g.get("pagero_error")
    if endpoint == "auth.login" and error is None:
        events.insert(0, trace_events.authorize_event(response))
    elif endpoint == "auth.callback":
        events.insert(0, trace_events.callback_event(error))
        if error is None and response.status_code in (302, 303):
            events.append(trace_events.logged_in_event(response))
    if error is not None and endpoint in FLOW_ENDPOINTS:
        events.append(trace_events.error_event(error))
    events = [e for e in events if e is not None]
    if not events:
        return
    key = session.get(TRACE_KEY)
    if not key:
        # A trace starts with a login, and never creates a session of its own (one
        # stray /callback or a move to the canonical host must leave no cookie behind).
        if endpoint not in STARTS or not session.modified:
            return
        key = session[TRACE_KEY] = secrets.token_urlsafe(32)
    ttl = pagero.configured.session_lifetime
    _after_response(response, _quietly(store.append, key, events, MAX_EVENTS, ttl))


def _after_response(response, write: Callable[[], None]) -> None:
    """Run ``write`` once the response has gone out (the server closes its body).

    Werkzeug skips ``call_on_close`` for a ``direct_passthrough`` body (the proxy's
    stream), so that body is wrapped instead; a body-less answer to it (HEAD, 304)
    is never closed, so the write happens now.
    """
    if not response.direct_passthrough:
        response.call_on_close(write)
    elif request.method == "HEAD" or response.status_code in (204, 304):
        write()
    else:
        response.response = ClosingIterator(response.response, [write])


def _quietly(write: Callable[..., None], *args: Any) -> Callable[[], None]:
    """Run after the response went out; a store failure is logged, never raised."""

    def run() -> None:
        try:
            write(*args)
        except Exception as exc:
            log.warning("flow trace: not stored (%s)", type(exc).__name__)

    return run


# -- Step 3, refresh, metadata and keys: what went over the wire ------------------------


def _on_response(response, *args, **kwargs):
    """``requests`` response hook on the app's pooled session."""
    try:
        if enabled():
            for item in trace_wire.wire_events(response):
                _collect(item)
    except Exception as exc:  # the trace must never break a request
        log.warning("flow trace: call not recorded (%s)", type(exc).__name__)
    return response


def unanswered_token_call(exc: Exception, started: float) -> None:
    """A token-endpoint call that got no answer (refused, timed out): the request as it
    was sent, then that nothing came back. The response hook never sees such a call;
    :class:`~pagero_oauth.client.PageroClient` reports it to its observer, which calls
    this (``pagero.on_unanswered_token_call``, app/extension.py).
    ``started`` is the call's ``time.time()``."""
    if not enabled():
        return
    try:
        sent = getattr(exc, "request", None)
        token_url = trace_events.known_settings().token_url
        if sent is None or (sent.url or "").split("?")[0] != token_url:
            return
        kind, request_event = trace_wire.token_request_event(sent, started)
        ms = (time.time() - started) * 1000
        why = type(exc).__name__
        _collect(request_event)
        _collect(
            trace_events.event(
                f"{kind}_response",
                at=started + ms / 1000,
                ms=ms,
                ok=False,
                error=why,
                summary=f"no answer ({why})",
                fields=[("answer", f"none: {why} after {ms:.0f} ms")],
            )
        )
    except Exception as problem:  # the trace must never break a request
        log.warning("flow trace: token call not recorded (%s)", type(problem).__name__)
