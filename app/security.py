"""Small request guards: anti-forgery tokens, safe return paths, the canonical host.

Flask has no built-in CSRF protection and the app has exactly one form that
changes state (logout) plus the proxy's unsafe methods, so a per-session
random token compared in constant time is all that is needed; a forms
library would add weight without adding safety.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from flask import Response, has_request_context, redirect, request

from config import Settings
from pagero_oauth import errors

from .extension import pagero

CSRF_KEY = "csrf_token"


def csrf_token(session: MutableMapping[str, Any]) -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def check_csrf(session: MutableMapping[str, Any], submitted: str | None) -> None:
    expected = session.get(CSRF_KEY)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise errors.CsrfRejected(
            "This form has expired or did not come from this app. Reload the page and try again."
        )


def safe_return_path(candidate: str | None) -> str | None:
    """Accept only a local absolute path, so ``next=`` cannot become an open redirect.

    ``//evil.example`` and ``/\\evil.example`` are protocol-relative URLs to a
    browser, and control characters can split headers, so all are refused.
    """
    if not candidate or not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in candidate):
        return None
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return None
    return candidate


def redirect_to_canonical_host(settings: Settings) -> Response | None:
    """Send a browser on another host name than the redirect URI's to that host.

    Cookies are per host: a session started on ``127.0.0.1:5000`` is not sent
    to ``localhost:5000/callback``, and the login would fail with a state
    error. Moving the browser first keeps the whole login on one host.
    """
    canonical = urlsplit(settings.canonical_origin)
    if request.host.lower() == canonical.netloc.lower():
        return None
    target = settings.canonical_origin + request.full_path.rstrip("?")
    return redirect(target, code=302)


#: The policy of every answer at ``/api-proxy/...``, whatever its type (and the app's own
#: problem+json there too). Opened by a browser, such an answer is a document of no origin
#: (``sandbox`` without ``allow-scripts``: no script, no form, no plugin, no same-origin
#: access), loads nothing and cannot be framed. Whatever the API sends (HTML, SVG, XSLT,
#: a type the browser reads differently from us) never runs as a page of this app.
PROXIED_ANSWER_POLICY = (
    "sandbox; default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PROXY_PREFIX = "/api-proxy"


def apply_security_headers(response: Response, https: bool) -> Response:
    """Headers every response carries, unless the view set its own.

    ``no-referrer`` because the callback URL holds a code; ``no-store`` on
    everything but static files, since pages show personal data and the
    callback must not be cached; the CSP runs only our own scripts (under
    ``/static/js/``), so an injected script has nowhere to load from and nowhere
    to send tokens. Answers under ``/api-proxy`` get :data:`PROXIED_ANSWER_POLICY`.

    Every response passes here, API calls included, so the header values are
    built once (:func:`_policy_headers`) and the response's headers are
    scanned once, not once per header.
    """
    # A static file may be cached; anything else under /static/ (a redirect built from
    # the request's Host, a 404) may not.
    static = request.path.startswith("/static/") and response.status_code in (200, 304)
    proxied = request.path.startswith(PROXY_PREFIX)
    present = response.headers.items()
    for name, value in missing_policy_headers(present, https, static, proxied):
        response.headers.add(name, value)
    return response


def missing_policy_headers(
    present: Iterable[tuple[str, str]], https: bool, static: bool = False, proxied: bool = False
) -> list[tuple[str, str]]:
    """The policy headers an answer with headers ``present`` lacks (a header it has, such
    as the sandbox CSP of a proxied answer, is never given a second time)."""
    names = {name.lower() for name, _value in present}
    return [(k, v) for k, v in policy_headers(https, static, proxied) if k.lower() not in names]


def policy_headers(
    https: bool, static: bool = False, proxied: bool = False
) -> tuple[tuple[str, str], ...]:
    """The headers :func:`apply_security_headers` gives a response that has none of them."""
    policy = PROXIED_ANSWER_POLICY if proxied else page_policy()
    return _policy_headers(policy, https, static)


@functools.lru_cache(maxsize=16)
def _policy_headers(policy: str, https: bool, static: bool) -> tuple[tuple[str, str], ...]:
    headers = [
        ("Content-Security-Policy", policy),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ]
    if not static:
        headers.append(("Cache-Control", "no-store"))
    if https:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return tuple(headers)


def page_policy() -> str:
    """The app's own Content-Security-Policy (pages, /session, static files, errors).

    ``script-src`` names the folder of the app's scripts, not ``'self'``: everything at
    ``/api-proxy/...`` is ``'self'`` too, and an answer of the API (a document a partner
    uploaded, say) must never be loadable as a script of the app's pages. CSP matches a
    source's path as a prefix (CSP3 section 6.7.2.12), on the canonical origin, the one
    host the pages that have scripts are served on (a login moves the browser there).

    CSP's form-action also governs the redirects after a submission: the home form's GET
    /login goes on to Pagero's login page, and POST /logout may go on to Pagero's
    end-session endpoint, so their origins are allowed.
    """
    # Never read the metadata just to write a header: use what is known now. Before
    # it is read its endpoints are unknown, and the configured ones stand in for this
    # header only (an origin a form may go on to; nothing is sent there).
    configured = pagero.configured
    known = pagero.discovery.cached_settings() if pagero.discovery else configured
    root = request.script_root if has_request_context() else ""
    if not _SCRIPT_ROOT.fullmatch(root):
        root = ""  # a mount point is the server's setting; never a header's text in the CSP
    return _page_policy(
        known.canonical_origin + root,
        known.authorize_url or configured.authorize_url,
        known.end_session_url or configured.end_session_url,
    )


#: A mount point (``SCRIPT_NAME``) that can stand in a CSP source's path as it is.
_SCRIPT_ROOT = re.compile(r"(?:/[A-Za-z0-9._~-]+)*")


@functools.lru_cache(maxsize=16)
def _page_policy(origin: str, authorize_url: str, end_session_url: str | None) -> str:
    form_targets = _origins(authorize_url, end_session_url)
    return (
        f"default-src 'self'; script-src {origin}/static/js/; style-src 'self'; "
        f"img-src 'self' data:; connect-src 'self'; form-action 'self' {form_targets}; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


@functools.lru_cache(maxsize=16)
def _origins(*urls: str | None) -> str:
    origins = []
    for url in urls:
        if url:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return " ".join(origins)
