"""``/api-proxy``: the browser's only way to the Pagero API (backend-for-frontend).

"Making an API request using an access token" from Pagero's document happens
here, on the server, so the token never reaches the browser. This first
version forwards GET and HEAD; the path is checked so the target can never
leave ``PAGERO_API_BASE_URL``.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote

import requests
from flask import Blueprint, Response, request, session, stream_with_context
from werkzeug.routing import PathConverter

from . import errors, tokens
from .pagero_client import pagero

log = logging.getLogger(__name__)
bp = Blueprint("api_proxy", __name__)


class AnyPathConverter(PathConverter):
    """Like ``<path:>`` but also matches an empty or slash-led rest, so that
    ``/api-proxy//etc`` reaches :func:`safe_api_path` (and its clear 400)
    instead of falling through to a 404 that explains nothing."""

    regex = r"[\s\S]*?"  # any character, newlines included
    part_isolating = False  # may span several '/'-separated segments


bp.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", AnyPathConverter))

#: Headers passed from the browser to the API; cookies and Authorization never are.
FORWARD_REQUEST_HEADERS = (
    "Accept",
    "Accept-Language",
    "If-None-Match",
    "If-Modified-Since",
    "Range",
)
#: Headers passed back; hop-by-hop headers and Set-Cookie never are.
FORWARD_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Language",
    "Content-Disposition",
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
    "Content-Range",
    "WWW-Authenticate",
)
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:-]+$")
_refresh_lock = threading.Lock()


def safe_api_path(path: str) -> str:
    """Return ``path`` if it is a plain relative path below the API base, else raise.

    Werkzeug has already percent-decoded the URL once; decoding again catches
    double encoding (``%252e%252e``). Each segment must be plain RFC 3986
    ``pchar`` without ``@``, and no segment may be ``.`` or ``..``.
    """
    decoded = unquote(path)
    bad = (
        not path
        or path.startswith("/")
        or "\\" in decoded
        or "//" in path
        or "@" in decoded
        or "%" in path
        or any(ord(c) < 0x21 or ord(c) == 0x7F for c in decoded)
    )
    segments = path.split("/")
    if bad or any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
        raise errors.BadProxyPath(
            "The API path must be a plain relative path such as 'document/v1/documents'."
        )
    return path


# merge_slashes=False: werkzeug would otherwise answer '//' with a redirect.
@bp.route("/api-proxy/<anypath:path>", methods=["GET", "HEAD"], merge_slashes=False)
def proxy(path: str):
    """Forward the call to Pagero with the session's bearer token; stream the answer back."""
    target = f"{pagero.settings.api_base_url}/{safe_api_path(path)}"
    token_set = _fresh_tokens()
    headers = {h: request.headers[h] for h in FORWARD_REQUEST_HEADERS if h in request.headers}
    headers["Authorization"] = f"Bearer {token_set.access_token}"
    try:
        upstream = pagero.http.request(
            request.method,
            target,
            params=request.args.to_dict(flat=False),
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=pagero.settings.http_timeout,
        )
    except requests.Timeout:
        raise errors.ApiTimeout("The Pagero API did not answer in time.") from None
    except requests.RequestException as exc:
        raise errors.ApiUnavailable(
            "The Pagero API could not be reached.", reason=type(exc).__name__
        ) from None
    log.info("api %s /%s -> %s", request.method, path, upstream.status_code)
    response_headers = {
        h: upstream.headers[h] for h in FORWARD_RESPONSE_HEADERS if h in upstream.headers
    }
    body = upstream.iter_content(chunk_size=64 * 1024)
    return Response(
        stream_with_context(_closing(body, upstream)),
        status=upstream.status_code,
        headers=response_headers,
        direct_passthrough=True,
    )


def _closing(chunks, upstream):
    try:
        yield from chunks
    finally:
        upstream.close()


def _fresh_tokens() -> tokens.TokenSet:
    """The session's tokens, refreshed first when they expire within the margin.

    First version: one refresh at a time per worker process. Refresh tokens
    are single-use at Pagero, so concurrent refreshes across workers need the
    store-level single flight that the full proxy adds.
    """
    token_set = tokens.require(session)
    if not token_set.needs_refresh(pagero.settings.refresh_margin):
        return token_set
    with _refresh_lock:
        current = tokens.require(session)
        if not current.needs_refresh(pagero.settings.refresh_margin):
            return current
        try:
            refreshed = pagero.refresh(current)
        except errors.LoginExpired:
            session.pop(tokens.TOKENS_KEY, None)
            raise
        tokens.save(session, refreshed)
        log.info("access token refreshed")
        return refreshed
