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
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

import urllib3
from flask import Blueprint, Response, redirect, request, session, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from config import Settings
from pagero_oauth import errors
from pagero_oauth.failures import Failure
from pagero_oauth.http import USER_AGENT, resend_if_closed
from pagero_oauth.tokens import TokenSet

from . import flow_trace, metrics, security
from .extension import pagero

log = logging.getLogger(__name__)
bp = Blueprint("api_proxy", __name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
SAFE_METHODS = {"GET", "HEAD"}

#: Headers passed from the browser to the API; cookies and Authorization never are.
FORWARD_REQUEST_HEADERS = (
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Content-Type",
    "Content-Language",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-Range",
    "Range",
)
_FORWARD_LOWER = frozenset(h.lower() for h in FORWARD_REQUEST_HEADERS)
_FORWARD_OR_CONNECTION = _FORWARD_LOWER | {"connection"}
#: Headers passed back; hop-by-hop headers, Set-Cookie and caching headers never are
#: (every proxied answer is personal data and leaves as ``Cache-Control: no-store``).
FORWARD_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Encoding",
    "Content-Language",
    "Content-Disposition",
    "Content-Range",
    "Accept-Ranges",
    "Allow",
    "ETag",
    "Last-Modified",
    "Retry-After",
    "WWW-Authenticate",
)
_FORWARD_RESPONSE_LOWER = {h.lower(): h for h in FORWARD_RESPONSE_HEADERS}
#: Bodies up to this size are kept in memory so the request can be retried after
#: a refresh; larger ones stream straight through and are sent once.
REPLAYABLE_BODY = 1024 * 1024
CHUNK = 64 * 1024

# RFC 3986 pchar without '%' (already decoded once by Werkzeug) and without '@'.
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:-]+$")


class AnyPathConverter(PathConverter):
    """Like ``<path:>`` but also matches an empty or slash-led rest, so that
    ``/api-proxy//etc`` reaches :func:`safe_api_path` (and its clear 400)
    instead of falling through to a 404 that explains nothing."""

    regex = r"[\s\S]*?"  # any character, newlines included
    part_isolating = False  # may span several '/'-separated segments


bp.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", AnyPathConverter))


def safe_api_path(
    path: str, allowed: tuple[str, ...] | None = None, environ: Mapping | None = None
) -> str:
    """Return ``path`` if it is a plain relative path below the API base, else raise.

    Werkzeug has already percent-decoded the URL once; a ``%`` left over means
    double encoding (``%252e%252e``) and is refused, as is any segment that is
    empty or only dots (before any ``;`` parameters), or holds a character outside
    RFC 3986 ``pchar`` (which rules out ``\\``, ``@``, whitespace and control characters).

    An encoded slash (``%2F``) is refused too: decoded, it would be forwarded as a
    segment boundary, a different path from the one sent (Apache's
    ``AllowEncodedSlashes Off`` does the same). Only the request target as it
    arrived shows one: ``RAW_URI`` or ``REQUEST_URI`` in ``environ``, which gunicorn
    and Werkzeug's server set.
    """
    if environ is not None and _ENCODED_SLASH in _raw_path(environ):
        raise errors.BadProxyPath("The API path must not contain an encoded slash (%2F).")
    segments = path.split("/")
    # A segment of dots only ('.', '..', and '...' which some servers fold) is refused,
    # also before a ';' (Tomcat, Jetty and Spring read '..;x' as '..').
    if any(not s.split(";", 1)[0].strip(".") or not _SEGMENT.match(s) for s in segments):
        raise errors.BadProxyPath(
            "The API path must be a plain relative path such as 'document/v1/documents'.",
        )
    if allowed is not None and not any(path == p or path.startswith(p + "/") for p in allowed):
        raise errors.ApiPathNotAllowed(
            "This app only forwards API paths under: " + ", ".join(allowed),
        )
    return path


_ENCODED_SLASH = "%2f"


def _raw_path(environ: Mapping) -> str:
    """The request target's path as the client sent it, lower-cased ('' when unknown)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    return raw.partition("?")[0].lower()


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


def target(path: str, query: str) -> str:
    """The part of the API URL after ``PAGERO_API_BASE_URL``: the path and the query as sent."""
    return f"/{path}?{query}" if query else f"/{path}"


def upstream_headers(incoming: Iterable[tuple[str, str]], access_token: str) -> dict[str, str]:
    """What goes to the API: the allow-listed request headers, and the bearer token.

    A header the ``Connection`` header names is meant for this hop only, and stays
    here (RFC 9110 section 7.6.1), allow-listed or not."""
    pairs = [(k, v) for k, v in incoming if k.lower() in _FORWARD_OR_CONNECTION]
    hop = _connection_listed(v for k, v in pairs if k.lower() == "connection")
    headers = {k: v for k, v in pairs if k.lower() in _FORWARD_LOWER and k.lower() not in hop}
    # The browser's encodings, not a library default: we relay the bytes as they come.
    if "accept-encoding" not in (k.lower() for k in headers):
        headers["Accept-Encoding"] = "identity"
    headers["User-Agent"] = USER_AGENT
    headers["Authorization"] = f"Bearer {access_token}"
    return headers


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


def _connection_listed(values: Iterable[str]) -> set[str]:
    """The header names the ``Connection`` header(s) list, lower-cased."""
    return {name.strip().lower() for value in values for name in value.split(",") if name.strip()}


def invalid_token(upstream: urllib3.BaseHTTPResponse) -> bool:
    """RFC 6750 section 3.1: ``error="invalid_token"`` means "get a new token"."""
    challenge = upstream.headers.get("WWW-Authenticate", "")
    return challenge.lower().startswith("bearer") and 'error="invalid_token"' in challenge


#: Every answer of the API carries this policy, whatever its type: opened at
#: /api-proxy/... it is a sandboxed document of no origin, never a page of this app with
#: its session (security.PROXIED_ANSWER_POLICY says why; the type alone cannot: browsers
#: render types we would not list, such as text/xsl, and read Content-Type otherwise).
ANSWER_POLICY = security.PROXIED_ANSWER_POLICY

# RFC 9110 section 5.5: a field value is visible ASCII, obs-text, space and tab, nothing else.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# RFC 9110 section 8.3.1: type "/" subtype *( OWS ";" OWS [ token "=" ( token / quoted ) ] ).
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# Written so that each space can be matched one way only (no backtracking blow-up).
_PARAMETER = rf";[ \t]*(?:{_TCHARS}=(?:{_TCHARS}|{_QUOTED})[ \t]*)?"
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}[ \t]*(?:{_PARAMETER})*")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
OPAQUE = "application/octet-stream"


def response_headers(settings: Settings, upstream: urllib3.BaseHTTPResponse) -> dict[str, str]:
    """The allow-listed answer headers, each a valid field value (else the answer is
    refused: :class:`~pagero_oauth.errors.ApiMalformedAnswer`, a 502), with :data:`ANSWER_POLICY`
    and ``nosniff``.

    The type passes only when it is one unambiguous media type. An answer without one is
    declared opaque bytes (RFC 9110 section 8.3), never left for a framework to call it
    HTML; one with several (a comma, a repeated header) or an unreadable one is served as
    ``application/octet-stream`` and ``attachment``: browsers take the last of a list
    (``text/plain, text/html`` is HTML to Chromium), so no reading of it is safe to pass on.
    """
    headers: dict[str, str] = {}
    connection: list[str] = []
    locations: list[str] = []
    for name, value in upstream.headers.iteritems():  # once over them: the hot path
        lower = name.lower()
        if forward := _FORWARD_RESPONSE_LOWER.get(lower):
            if not _FIELD_VALUE.fullmatch(value):
                raise _malformed(upstream, forward)
            value = value.strip(" \t")
            headers[forward] = f"{headers[forward]}, {value}" if forward in headers else value
        elif lower == "location":
            locations.append(value)
        elif lower == "connection":
            connection.append(value)
    if connection:
        for name in _connection_listed(connection):
            headers.pop(_FORWARD_RESPONSE_LOWER.get(name, ""), None)
    location = locations[0] if len(locations) == 1 else None
    base = settings.api_base_url + "/"
    if location and location.startswith(base):
        # A link inside the API becomes the same link through the proxy; any other
        # Location (another host) is dropped rather than followed or leaked.
        if not _FIELD_VALUE.fullmatch(location):
            raise _malformed(upstream, "Location")
        headers["Location"] = "/api-proxy/" + location[len(base) :]
    if "Content-Length" in headers and not _DIGITS.fullmatch(headers["Content-Length"]):
        # One length said twice (RFC 9110 section 8.6) is that length; anything else is
        # not a length (urllib3 has refused two different ones already).
        lengths = {part.strip() for part in headers["Content-Length"].split(",")}
        if len(lengths) != 1 or not _DIGITS.fullmatch(length := lengths.pop()):
            raise _malformed(upstream, "Content-Length")
        headers["Content-Length"] = length
    media_type = headers.get("Content-Type")
    if media_type is None:
        headers["Content-Type"] = OPAQUE
    elif "," in media_type or not _MEDIA_TYPE.fullmatch(media_type):
        headers["Content-Type"] = OPAQUE
        headers["Content-Disposition"] = "attachment"
    headers["Content-Security-Policy"] = ANSWER_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    return headers


def _malformed(upstream: urllib3.BaseHTTPResponse, name: str) -> errors.ApiMalformedAnswer:
    """The 502 for an answer with an unusable header, its connection closed (its body
    is never read, so the connection cannot serve another call)."""
    upstream.close()
    return errors.ApiMalformedAnswer(
        "The Pagero API answered with a malformed header, so its answer is not passed on.",
        header=name,
    )


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
