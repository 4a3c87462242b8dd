"""Small request guards: anti-forgery tokens, safe return paths, the canonical host.

Flask has no built-in CSRF protection and the app has exactly one form that
changes state (logout) plus the proxy's unsafe methods, so a per-session
random token compared in constant time is all that is needed; a forms
library would add weight without adding safety.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from flask import Response, redirect, request

from config import Settings

from . import errors

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


def apply_security_headers(response: Response, https: bool) -> Response:
    """Headers every response carries, unless the view set its own.

    ``no-referrer`` because the callback URL holds a code; ``no-store`` on
    everything but static files, since pages show personal data and the
    callback must not be cached; the CSP allows only our own files, so an
    injected script has nowhere to load from and nowhere to send tokens.

    Every response passes here, API calls included, so the header values are
    built once (:func:`_policy_headers`) and the response's headers are
    scanned once, not once per header.
    """
    # A static file may be cached; anything else under /static/ (a redirect built from
    # the request's Host, a 404) may not.
    static = request.path.startswith("/static/") and response.status_code in (200, 304)
    for name, value in missing_policy_headers(response.headers.items(), https, static):
        response.headers.add(name, value)
    return response


def missing_policy_headers(
    present: Iterable[tuple[str, str]], https: bool, static: bool = False
) -> list[tuple[str, str]]:
    """The policy headers an answer with headers ``present`` lacks (a header it has, such
    as the sandbox CSP of the API's markup, is never given a second time)."""
    names = {name.lower() for name, _value in present}
    return [(k, v) for k, v in policy_headers(https, static) if k.lower() not in names]


def policy_headers(https: bool, static: bool = False) -> tuple[tuple[str, str], ...]:
    """The headers :func:`apply_security_headers` gives a response that has none of them."""
    return _policy_headers(_form_targets(), https, static)


@functools.lru_cache(maxsize=16)
def _policy_headers(form_targets: str, https: bool, static: bool) -> tuple[tuple[str, str], ...]:
    headers = [
        (
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; form-action 'self' {form_targets}; "
            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
    ]
    if not static:
        headers.append(("Cache-Control", "no-store"))
    if https:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return tuple(headers)


def _form_targets() -> str:
    """Origins a form submission may end up at. CSP's form-action also governs the
    redirects after a submission: the home form's GET /login goes on to Pagero's
    login page, and POST /logout may go on to Pagero's end-session endpoint."""
    from .pagero_client import pagero

    # Never read the metadata just to write a header: use what is known now. Before
    # it is read its endpoints are unknown, and the configured ones stand in for this
    # header only (an origin a form may go on to; nothing is sent there).
    configured = pagero.configured
    known = pagero.discovery.cached_settings() if pagero.discovery else configured
    return _origins(
        known.authorize_url or configured.authorize_url,
        known.end_session_url or configured.end_session_url,
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
