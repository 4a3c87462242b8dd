"""The proxy's rules: which paths may go to the API, and which headers pass each way.

Pure functions of what came in (no request object), so each rule can be read and tested
alone; the view (:mod:`app.proxy.views`) applies them on its one path:

* :func:`safe_api_path`: a plain relative path below ``PAGERO_API_BASE_URL`` (and under
  ``PAGERO_API_ALLOWED_PATHS`` when set), never one that could leave it;
* :func:`upstream_headers`: the browser's allow-listed headers and the bearer token;
* :func:`response_headers`: the API's allow-listed answer headers, each a valid field
  value, with a policy that keeps any answer from running as one of this app's pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import urllib3
from werkzeug.routing import PathConverter

from config import Settings
from pagero_oauth import errors
from pagero_oauth.http import USER_AGENT

from .. import security

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
# RFC 3986 pchar without '%' (already decoded once by Werkzeug) and without '@'.
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:-]+$")


class AnyPathConverter(PathConverter):
    """Like ``<path:>`` but also matches an empty or slash-led rest, so that
    ``/api-proxy//etc`` reaches :func:`safe_api_path` (and its clear 400)
    instead of falling through to a 404 that explains nothing."""

    regex = r"[\s\S]*?"  # any character, newlines included
    part_isolating = False  # may span several '/'-separated segments


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
