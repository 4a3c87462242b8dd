"""Prometheus metrics: what the flow reports, counted (served by app/pages/metrics.py).

What is counted: logins (started, completed, failed by reason), token refreshes by
outcome, proxied calls by method and status, the time Pagero takes (token endpoint and
API), the calls waiting on Pagero (``PAGERO_MAX_IN_FLIGHT``), and session or token store
errors. Every label value comes from a fixed set written in this file or in
:mod:`pagero_oauth.errors`; whatever else turns up (an ``error`` someone put in a ``/callback``
link, a status code nobody expected) is counted as ``other`` or as its status class.
So no session id, user, token, path or query string can ever become a label, and the
number of series stays bounded whatever the traffic.

Under gunicorn the workers are separate processes, each counting for itself.
prometheus-client's multiprocess mode adds them up: ``config/gunicorn.py`` gives every
worker one ``PROMETHEUS_MULTIPROC_DIR`` (before any of them imports this module, which
is when the library picks its storage), and a scrape of any worker reads every worker's
files there. Without that variable (the tests' in-process server, ``flask run``) the
process's own registry is served.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from flask import Flask, Response, g, request, request_finished
from prometheus_client import Counter, Gauge, Histogram

from config import Settings
from pagero_oauth import errors
from pagero_oauth.observer import Observer
from pagero_oauth.stores import Store, TraceStore

#: Seconds, for both Pagero histograms: a near token endpoint answers in ~10 ms, a
#: distant one in 50-300 ms, and PAGERO_HTTP_READ_TIMEOUT (10 s by default) ends the
#: wait, so the buckets are dense up to a second and reach 30 s for a longer timeout.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 3, 5, 10, 20, 30)

LOGINS_STARTED = Counter(
    "pagero_client_logins_started", "Logins sent to Pagero's login page (Step 1)."
)
LOGINS_COMPLETED = Counter(
    "pagero_client_logins_completed", "Callbacks that ended in a logged-in session (Step 3)."
)
LOGINS_FAILED = Counter(
    "pagero_client_logins_failed",
    "Answers of /login or /callback that are errors, by the error code (bounded: see "
    "app/metrics.py; anything else is 'other').",
    ["reason"],
)
REFRESHES = Counter(
    "pagero_client_token_refreshes",
    "Access token refreshes: refreshed, login_expired (refused: the user must log in "
    "again), error (Pagero unreachable or failing), busy (the session's refresh lock "
    "was held too long).",
    ["outcome"],
)
PROXIED_CALLS = Counter(
    "pagero_client_proxied_calls",
    "Answers of /api-proxy, by method and status (a code from a fixed set, else its class "
    "such as '5xx'); the API's own answers and the app's errors alike.",
    ["method", "status"],
)
TOKEN_ENDPOINT_SECONDS = Histogram(
    "pagero_client_token_endpoint_seconds",
    "Time of each token endpoint call (code exchange, refresh), failures included.",
    buckets=LATENCY_BUCKETS,
)
API_SECONDS = Histogram(
    "pagero_client_api_seconds",
    "Time from sending an API call to its status line and headers (the body streams "
    "afterwards), failures included.",
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "pagero_client_in_flight",
    "Calls waiting on Pagero now, summed over live workers (each worker is capped at "
    "PAGERO_MAX_IN_FLIGHT).",
    ["upstream"],
    multiprocess_mode="livesum",
)
IN_FLIGHT_LIMIT = Gauge(
    "pagero_client_in_flight_limit",
    "PAGERO_MAX_IN_FLIGHT summed over live workers: the most calls that can wait at once.",
    multiprocess_mode="livesum",
)
IN_FLIGHT_REFUSED = Counter(
    "pagero_client_in_flight_refused",
    "Calls refused with 503 too_many_waiting because their worker was at PAGERO_MAX_IN_FLIGHT.",
    ["upstream"],
)
STORE_ERRORS = Counter(
    "pagero_client_store_errors",
    "Session or token store operations that failed (the user got a 503), by backend and operation.",
    ["backend", "operation"],
)

REFRESH_OUTCOMES = ("refreshed", "login_expired", "error", "busy")
UPSTREAMS = {"api": "api", "token endpoint": "token_endpoint"}
PROXY_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
#: Status codes counted as themselves; any other is counted as its class ("4xx").
STATUS_CODES = frozenset(
    {200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308}
    | {400, 401, 403, 404, 405, 406, 408, 409, 410, 412, 413, 415, 416, 422, 429}
    | {500, 501, 502, 503, 504}
)
#: Error codes Pagero may send back in ``/callback?error=`` (RFC 6749 section 4.1.2.1,
#: OpenID Connect Core section 3.1.2.6) or in a token error (RFC 6749 section 5.2);
#: the app's own codes are added from :mod:`pagero_oauth.errors` (:func:`known_reasons`).
OAUTH_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
        # Set on an instance, not the class (pagero_oauth/errors.py, pagero_oauth/endpoints.py).
        "unreadable_error",
        "token_error",
        "internal_error",
        # Werkzeug's answers as app/error_pages.py names them (an unknown scope at /login).
        "bad_request",
        "method_not_allowed",
    }
)
#: Where the stores' own methods are named in a store error's operation label.
STORE_KINDS = frozenset({"tokens", "logins", "traces"})
STORE_METHODS = frozenset({"get", "put", "delete", "pop", "lock", "check", "append", "read"})

# Children looked up once: every proxied call passes here (a labels() call takes a lock).
_IN_FLIGHT_BY_WHAT = {what: IN_FLIGHT.labels(label) for what, label in UPSTREAMS.items()}
_PROXIED_BY_LABELS: dict[tuple[str, int], Any] = {}

for _outcome in REFRESH_OUTCOMES:  # present from the start, so rate() sees the first one
    REFRESHES.labels(_outcome)


def known_reasons() -> frozenset[str]:
    """Every error code a login failure may be counted under."""
    codes, todo = set(OAUTH_ERROR_CODES), [errors.PageroError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        codes.add(cls.code)
    return frozenset(codes)


def reason_label(code: str | None) -> str:
    """``code`` when it is one of :func:`known_reasons`, else ``other``: an
    ``AuthorizationDenied`` code is whatever the ``/callback`` link said."""
    global _KNOWN_REASONS
    if _KNOWN_REASONS is None:
        _KNOWN_REASONS = known_reasons()  # after every module has defined its errors
    return code if code in _KNOWN_REASONS else "other"


_KNOWN_REASONS: frozenset[str] | None = None


def status_label(status: int) -> str:
    return str(status) if status in STATUS_CODES else f"{status // 100}xx"


# -- what the flow reports ---------------------------------------------------------------


class PrometheusObserver(Observer):
    """What the core reports (:class:`pagero_oauth.observer.Observer`), counted."""

    def login_started(self) -> None:
        LOGINS_STARTED.inc()

    def token_call(self) -> AbstractContextManager[object]:
        return TOKEN_ENDPOINT_SECONDS.time()

    def refresh_outcome(self, outcome: str) -> None:
        REFRESHES.labels(outcome).inc()

    def waiting(self, what: str) -> AbstractContextManager[object]:
        """One call holding an in-flight slot (:mod:`pagero_oauth.in_flight`) for ``what``."""
        gauge = _IN_FLIGHT_BY_WHAT.get(what) or IN_FLIGHT.labels("other")
        return gauge.track_inprogress()

    def refused(self, what: str) -> None:
        IN_FLIGHT_REFUSED.labels(UPSTREAMS.get(what, "other")).inc()


def store_error(exc: BaseException, backend: str, operation: str | None = None) -> None:
    """Count a store failure on ``backend`` (``SESSION_BACKEND``); without ``operation``,
    the store method it came from."""
    STORE_ERRORS.labels(backend, operation or _failed_store_call(exc)).inc()


def _failed_store_call(exc: BaseException) -> str:
    """``tokens_get``, ``logins_put``, ...: the innermost token or trace store method in
    the traceback (those stores are called from many places; the traceback knows which)."""
    found = "other"
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self")
        kind = owner.kind if isinstance(owner, Store) else None
        kind = "traces" if isinstance(owner, TraceStore) else kind
        if kind in STORE_KINDS and frame.f_code.co_name in STORE_METHODS:
            found = f"{kind}_{frame.f_code.co_name}"
        tb = tb.tb_next
    return found


def _on_request_finished(sender: Flask, response: Response, **_: Any) -> None:
    """Count logins and proxied calls from their final answer: after the session was
    saved, so a login whose session could not be stored counts as failed (503)."""
    endpoint = request.endpoint
    status = response.status_code
    if endpoint == "api_proxy.proxy":
        key = (request.method if request.method in PROXY_METHODS else "other", status)
        counter = _PROXIED_BY_LABELS.get(key)
        if counter is None:  # at most one per method and status: bounded
            counter = _PROXIED_BY_LABELS[key] = PROXIED_CALLS.labels(key[0], status_label(status))
        counter.inc()
    elif endpoint in ("auth.login", "auth.callback"):
        if status >= 400:
            error = g.get("pagero_error")
            LOGINS_FAILED.labels(reason_label(getattr(error, "code", None))).inc()
        elif endpoint == "auth.callback":
            LOGINS_COMPLETED.inc()


def init_app(app: Flask, settings: Settings) -> None:
    request_finished.connect(_on_request_finished, app)
    IN_FLIGHT_LIMIT.set(settings.max_in_flight)
