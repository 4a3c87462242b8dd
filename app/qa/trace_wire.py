"""The flow trace's events for calls the app makes with ``requests``: the token endpoint
(Step 3 and refresh), the server metadata and the JWKS, as a response hook saw them.

Split from :mod:`app.qa.trace_events` (the steps a request hook sees); the same masking
rules: tokens and codes masked, the client secret and Basic credentials ``[redacted]``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pagero_oauth.tokens import mask

from ..extension import pagero
from .trace_events import as_shown, event, known_settings

# What may be shown as it is; every other value is masked (client_secret: redacted).
PLAIN_FORM = {"grant_type", "redirect_uri", "client_id", "scope", "token_type_hint"}
REDACTED_FORM = {"client_secret"}
PLAIN_RESPONSE = {"token_type", "expires_in", "scope", "claims", "error", "error_description"}
SHOWN_REQUEST_HEADERS = ("Content-Type", "Accept")


def wire_events(response) -> list[dict[str, Any]]:
    sent = response.request
    url = (sent.url or "").split("?")[0]
    settings = known_settings()
    ms = response.elapsed.total_seconds() * 1000
    start = time.time() - ms / 1000
    if sent.method == "POST" and url == settings.token_url:
        return _token_events(sent, response, start, ms)
    kind = {pagero.configured.metadata_url: "metadata", settings.jwks_uri: "jwks"}.get(url)
    if kind is None:
        return []
    return [
        event(
            kind,
            at=start,
            ms=ms,
            ok=response.ok,
            status=response.status_code,
            summary=f"GET {urlsplit(url).path} → {response.status_code}",
            fields=[("url", url), ("status", response.status_code)],
        )
    ]


def _token_events(sent, response, start: float, ms: float) -> list[dict[str, Any]]:
    kind, request_event = token_request_event(sent, start)
    answer, error_code = _token_answer(response)
    response_event = event(
        f"{kind}_response",
        at=start + ms / 1000,
        ms=ms,
        ok=response.ok and error_code is None and any(n == "access_token" for n, _ in answer),
        status=response.status_code,
        error=error_code,
        summary=f"{response.status_code}" + (f" {error_code}" if error_code else ""),
        fields=[("status", response.status_code), *answer],
    )
    return [request_event, response_event]


def token_request_event(sent, start: float) -> tuple[str, dict[str, Any]]:
    """("token" or "refresh", the request as sent, masked)."""
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body or ""
    form = parse_qsl(body, keep_blank_values=True)
    grant = dict(form).get("grant_type", "")
    kind = "refresh" if grant == "refresh_token" else "token"
    headers = [(f"header {h}", sent.headers[h]) for h in SHOWN_REQUEST_HEADERS if h in sent.headers]
    authorization = sent.headers.get("Authorization")
    if authorization:
        headers.insert(0, ("header Authorization", authorization.split(" ")[0] + " [redacted]"))
    return kind, event(
        f"{kind}_request",
        at=start,
        summary=f"POST {urlsplit(sent.url).path} (grant_type={grant})",
        fields=[
            ("endpoint", f"POST {sent.url}"),
            *headers,
            *((name, _form_value(name, value)) for name, value in form),
        ],
    )


def _token_answer(response) -> tuple[list[tuple[str, Any]], str | None]:
    kind = response.headers.get("Content-Type", "(none)")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return [("body", f"not a JSON object ({kind}, {len(response.content)} bytes)")], None
    shown = []
    for name, value in body.items():
        if name in PLAIN_RESPONSE or not isinstance(value, str):
            shown.append((name, value))
        else:
            shown.append((name, mask(value)))
    error_code = body.get("error") if isinstance(body.get("error"), str) else None
    return shown, error_code


def _form_value(name: str, value: str) -> str:
    if name in REDACTED_FORM:
        return "[redacted]"
    return as_shown(name, value, PLAIN_FORM)
