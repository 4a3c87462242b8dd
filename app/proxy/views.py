"""``/api-proxy``: the browser's only way to the Pagero API (backend-for-frontend).

"Making an API request using an access token" from Pagero's document happens
here, on the server, so the token never reaches the browser:

* the target is ``PAGERO_API_BASE_URL`` + a path checked by :func:`safe_api_path`,
  so it can never leave the API base (and optionally ``PAGERO_API_ALLOWED_PATHS``);
* unsafe methods need ``X-CSRF: 1`` and a same-origin ``Origin`` (a cross-site
  form can send neither), as Duende BFF does;
* headers pass only through allow-lists in both directions: the browser's
  cookies never go upstream, Pagero's ``Set-Cookie`` never comes back;
* bodies stream both ways, so a 200 MB document costs a few 64 KiB buffers;
* the access token is refreshed before it expires and once more when the API
  answers ``401 invalid_token``; the request is then retried once when its body
  could be kept (no body, or at most :data:`REPLAYABLE_BODY` bytes).

This view is the whole proxy: one path for every call, kept lean (one store read, no
session write for a call that changes nothing). A call waits for Pagero on a greenlet
under gunicorn's gevent worker, so waiting costs memory, not a thread; how many may wait
at once is capped (``PAGERO_MAX_IN_FLIGHT``, :mod:`pagero_oauth.in_flight`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from typing import BinaryIO

import urllib3
from flask import Blueprint, Response, redirect, request, session, url_for
from werkzeug.exceptions import HTTPException

from config import Settings
from pagero_oauth import errors
from pagero_oauth.failures import Failure
from pagero_oauth.http import resend_if_closed
from pagero_oauth.tokens import TokenSet

from .. import metrics
from ..extension import pagero
from ..qa import flow_trace
from .rules import (
    AnyPathConverter,
    invalid_token,
    response_headers,
    safe_api_path,
    target,
    upstream_headers,
)

log = logging.getLogger(__name__)
bp = Blueprint("api_proxy", __name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
SAFE_METHODS = {"GET", "HEAD"}

#: Bodies up to this size are kept in memory so the request can be retried after
#: a refresh; larger ones stream straight through and are sent once.
REPLAYABLE_BODY = 1024 * 1024
CHUNK = 64 * 1024

bp.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", AnyPathConverter))


@bp.route("/api-proxy/<anypath:path>", methods=METHODS, merge_slashes=False)
def proxy(path: str):
    """Forward the call to Pagero with the session's bearer token; stream the answer back."""
    settings = pagero.settings
    path = safe_api_path(path, settings.api_allowed_paths, request.environ)
    if request.method not in SAFE_METHODS:
        _check_anti_forgery(settings)
    if pagero.tokens(session) is None and _is_navigation():
        # A person typed or clicked the URL: log in and come back here.
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    request.max_content_length = settings.proxy_max_body
    body, replayable = _request_body()
    started = time.monotonic()
    token_set = pagero.fresh(session)
    upstream = _send(settings, path, token_set, body)
    if upstream.status == 401 and invalid_token(upstream):
        upstream.drain_conn()
        upstream.release_conn()
        token_set = pagero.fresh(session, rejected=token_set.access_token)
        if replayable:
            upstream = _send(settings, path, token_set, body)
        else:
            raise errors.UpstreamRejectedToken(
                "The API refused the access token while a large upload was streaming. "
                "The token has been renewed: send the request again."
            )
    log_call(request.method, path, upstream.status, started)
    headers = response_headers(settings, upstream)  # before the body: a 502 reads none
    body, streamed = answer_body(upstream, request.method, f"{settings.api_base_url}/{path}")
    return Response(body, status=upstream.status, headers=headers, direct_passthrough=streamed)


def log_call(method: str, path: str, status: int, started: float, **extra) -> None:
    """The app's line for an answered API call: the API's status and time (never a
    header or a body). At ``info`` only when the API said no (4xx, 5xx): every call
    already has gunicorn's access line with the same request id, and a second line
    per call cost the everyday call a tenth of its time (``make bench-breakdown``)."""
    level = logging.INFO if status >= 400 else logging.DEBUG
    if log.isEnabledFor(level):
        ms = (time.monotonic() - started) * 1000
        log.log(level, "api %s /%s -> %s in %.0f ms", method, path, status, ms, **extra)


def answer_body(upstream: urllib3.BaseHTTPResponse, method: str, url: str) -> tuple[object, bool]:
    """The answer's body for the browser, and whether it streams (``url``: where it came
    from, for the error page of an answer cut short).

    Most API answers are small: they are read now, so a body cut short is still a
    clean 502 (no header has gone out yet) and the connection goes back at once.
    Larger or unsized ones stream through as they arrive.
    """
    small = upstream.length_remaining is not None and upstream.length_remaining <= CHUNK
    if small and method != "HEAD" and upstream.status not in (204, 304):
        return _read_small(upstream, url), False
    return _relay(upstream), True


def _check_anti_forgery(settings: Settings) -> None:
    """State-changing calls must prove they come from our own pages' scripts.

    ``X-CSRF`` is a custom header: a cross-site form cannot set it, and a
    cross-site ``fetch`` that sets it needs a CORS preflight we never answer.
    ``Origin`` and ``Sec-Fetch-Site``, when the browser sends them, must say
    same-origin.
    """
    if request.headers.get("X-CSRF") != "1":
        raise errors.CsrfRejected(
            "State-changing API calls need the header 'X-CSRF: 1' (anti-forgery)."
        )
    origin = request.headers.get("Origin")
    own = {settings.canonical_origin, f"{request.scheme}://{request.host}"}
    if origin is not None and origin not in own:
        raise errors.CsrfRejected("State-changing API calls must come from this app's pages.")
    if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
        raise errors.CsrfRejected("State-changing API calls must come from this app's pages.")


def _is_navigation() -> bool:
    if request.headers.get("Sec-Fetch-Mode") == "navigate":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.method == "GET" and best == "text/html"


def _request_body() -> tuple[bytes | BinaryIO | None, bool]:
    """The body to send upstream and whether it can be sent a second time."""
    if request.method in SAFE_METHODS:
        return None, True
    length = request.content_length
    if length is not None and length <= REPLAYABLE_BODY:
        return request.stream.read(), True  # 413 here when over PAGERO_PROXY_MAX_BODY
    if length is None and "Transfer-Encoding" not in request.headers:
        return None, True  # no body (the server has checked the codings, chunked last)
    return request.stream, False


def _read_chunks(stream) -> Iterator[bytes]:
    """The incoming body in 64 KiB pieces: memory stays flat however large it is.

    The server decodes the body as it is read, so a malformed chunk or a client that
    stops halfway shows up here, as the server's own exception: the browser's fault,
    a 400, not a crash.
    """
    while True:
        try:
            chunk = stream.read(CHUNK)
        except HTTPException:
            raise  # Werkzeug's own answers (413 over PAGERO_PROXY_MAX_BODY, 400, 408)
        except Exception as exc:
            raise errors.UnreadableRequestBody(
                "The request body broke off or was malformed.", reason=type(exc).__name__
            ) from None
        if not chunk:
            return
        yield chunk


def _send(settings: Settings, path: str, token_set: TokenSet, body) -> urllib3.BaseHTTPResponse:
    """The view's upstream call: this request's headers, query and body."""
    headers = upstream_headers(request.headers.items(), token_set.access_token)
    chunked = False
    if body is not None and not isinstance(body, bytes):
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        else:
            chunked = True  # unknown length: chunked transfer upstream too
        body = _read_chunks(body)
    rest = target(path, request.query_string.decode("latin-1"))
    started = time.monotonic()
    upstream = call_api(settings, request.method, rest, headers, body, chunked)
    flow_trace.api_call(request.method, settings.api_base_url + rest, upstream.status, started)
    return upstream


def call_api(
    settings: Settings, method: str, rest: str, headers: dict[str, str], body=None, chunked=False
) -> urllib3.BaseHTTPResponse:
    """One call to ``PAGERO_API_BASE_URL`` + ``rest`` on the worker's shared pool.

    urllib3 directly rather than ``requests``: the pool, CA bundle and outgoing
    proxy are the ones ``requests`` uses for the token endpoint (worked out once,
    :class:`~pagero_oauth.http.Route`), but the hot path skips its per-call cookie,
    environment and hook machinery (about a millisecond of CPU per call,
    measured by ``make bench``). Failures come out as the errors the user sees.
    """
    try:
        with pagero.in_flight.slot("api"), metrics.API_SECONDS.time():
            return pagero.api.pool().urlopen(
                method,
                pagero.api.prefix + rest,
                assert_same_host=False,
                body=body,
                headers=headers,
                chunked=chunked,
                redirect=False,
                retries=resend_if_closed(method, body),
                preload_content=False,
                decode_content=False,
                timeout=_timeout(settings.http_connect_timeout, settings.http_read_timeout),
            )
    except (HTTPException, errors.UnreadableRequestBody):
        raise  # reading the browser's body failed, not the API
    except urllib3.exceptions.HTTPError as exc:
        if isinstance(exc.__context__, HTTPException | errors.UnreadableRequestBody):
            raise exc.__context__ from None
        raise _unanswered(settings, settings.api_base_url + rest, exc) from None


def _unanswered(
    settings: Settings, url: str, exc: urllib3.exceptions.HTTPError, midway: bool = False
) -> errors.ApiUnavailable:
    """The 504 (read timeout) or 502 for an API call without a usable answer, naming
    ``PAGERO_API_BASE_URL`` and the URL for the sandbox and staging (pagero_oauth/failures.py)."""
    failure = Failure.from_exception("PAGERO_API_BASE_URL", url, exc, settings)
    said = failure.plainly("the Pagero API")
    if midway and failure.cause == "connection_broken":
        said = "The Pagero API broke off its answer. Please try again in a few minutes."
    kind = errors.ApiTimeout if failure.cause == "read_timeout" else errors.ApiUnavailable
    return kind(said, failure=failure)


@functools.cache
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connect, read=read)


def _read_small(upstream: urllib3.BaseHTTPResponse, url: str) -> bytes:
    """The whole (small) body, or a 502 when Pagero broke off before its end."""
    try:
        body = upstream.read(decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        upstream.close()
        raise _unanswered(pagero.configured, url, exc, midway=True) from None
    upstream.release_conn()
    return body


def _relay(upstream: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Yield the upstream body as it arrives (still encoded).

    A body read to the end gives its connection back to the pool (keep-alive);
    one cut short (the browser went away, Pagero broke off) closes it, since
    unread bytes would corrupt the next request on that connection.
    """
    complete = False
    try:
        yield from upstream.stream(CHUNK, decode_content=False)
        complete = True
    except Exception as exc:  # urllib3 errors while streaming
        # Headers are gone already; all we can do is cut the body short and say so.
        log.warning("api body relay aborted: %s", type(exc).__name__)
    finally:
        if complete:
            upstream.release_conn()
        else:
            upstream.close()
