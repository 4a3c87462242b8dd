"""The flow trace's events: each step of a login or an API call, as stored and shown.

Built from what a request hook, a ``requests`` response hook or the proxy saw
(:mod:`app.qa.flow_trace` records them); every value is masked here, as it is turned
into an event (:func:`pagero_oauth.tokens.mask` for tokens, codes, ``state`` and
``nonce``; the client secret and Basic credentials become ``[redacted]``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import g, request

from config import Settings
from pagero_oauth import errors
from pagero_oauth.tokens import mask

from ..extension import pagero

# What may be shown as it is; every other value is masked. Unknown means masked.
PLAIN_AUTHORIZE = {"response_type", "client_id", "redirect_uri", "scope", "prompt"}
PLAIN_AUTHORIZE |= {"code_challenge", "code_challenge_method"}
PLAIN_CALLBACK = {"iss", "error", "error_description", "error_uri"}

#: How the trace names a callback whose state matched no login of this browser.
FOREIGN_CALLBACK = "a callback that does not belong to a login started in this browser"

STATE_ERRORS = (errors.MissingState, errors.UnknownState, errors.ReusedState, errors.ExpiredState)
ISSUER_ERRORS = (errors.IssuerMismatch, errors.MissingIssuer)


def event(
    kind: str,
    *,
    at: float,
    summary: str,
    ms: float | None = None,
    ok: bool | None = True,
    status: int | None = None,
    error: str | None = None,
    fields: Iterable[tuple[str, Any]] = (),
    checks: Iterable[tuple[str, bool | None, str]] = (),
    request_id: str | None = None,
) -> dict[str, Any]:
    """One step, as stored: plain JSON, every value already masked."""
    return {
        "kind": kind,
        "at": round(at, 6),
        "ms": None if ms is None else round(ms, 1),
        "ok": ok,
        "status": status,
        "error": error,
        "summary": summary,
        "fields": [[name, "" if value is None else str(value)] for name, value in fields],
        "checks": [list(check) for check in checks],
        "request_id": request_id or g.get("request_id"),
    }


def api_call_event(
    method: str, url: str, status: int, started: float, request_id: str | None = None
) -> dict[str, Any]:
    ms = (time.monotonic() - started) * 1000
    base = known_settings().api_base_url
    path = url[len(base) :] if url.startswith(base) else urlsplit(url).path
    return event(
        "api_call",
        at=time.time() - ms / 1000,
        ms=ms,
        ok=status < 400,
        status=status,
        summary=f"{method} {path} → {status}",
        fields=[("method", method), ("url", url), ("status", status)],
        request_id=request_id,
    )


def since_start() -> tuple[float, float]:
    """(wall-clock start of this request, its duration so far in ms)."""
    start = g.get("flow_trace_t0", time.time())
    return start, (time.monotonic() - g.get("flow_trace_m0", time.monotonic())) * 1000


# -- Step 1 and Step 2 -------------------------------------------------------------


def authorize_event(response) -> dict[str, Any] | None:
    location = response.headers.get("Location", "")
    authorize_url = known_settings().authorize_url
    if response.status_code != 302 or not authorize_url or not location.startswith(authorize_url):
        return None  # e.g. a move to the canonical host first
    parts = urlsplit(location)
    params = parse_qsl(parts.query, keep_blank_values=True)
    _, ms = since_start()
    shown = dict(params)
    extra = ", ".join(f"{k}={shown[k]}" for k in ("scope", "prompt") if k in shown)
    return event(
        "authorize",
        at=time.time(),  # the redirect leaves now, after any metadata read it needed
        ms=ms,
        status=302,
        summary=f"302 to {parts.path}" + (f" ({extra})" if extra else ""),
        fields=[
            ("endpoint", f"GET {parts.scheme}://{parts.netloc}{parts.path}"),
            *((name, as_shown(name, value, PLAIN_AUTHORIZE)) for name, value in params),
        ],
    )


def callback_event(error: errors.PageroError | None) -> dict[str, Any]:
    params = list(request.args.items(multi=True))
    start, _ = since_start()
    state_error = _state_error(error)
    if state_error is not None:
        # Anyone can send this browser a link to /callback?...: its words (names too)
        # are repeated only for a login started here, as on the error page.
        return event(
            "callback",
            at=start,
            ok=False,
            summary=f"GET {request.path} ({FOREIGN_CALLBACK})",
            error=state_error.code,
            fields=[("callback", f"{FOREIGN_CALLBACK}; its parameters are not repeated")],
            checks=_foreign_callback_checks(dict(params), error, state_error),
        )
    checks = _callback_checks(dict(params), error)
    passed = not any(ok is False for _, ok, _ in checks)
    names = ", ".join(dict.fromkeys(name for name, _ in params)) or "no parameters"
    return event(
        "callback",
        at=start,
        ok=passed,
        summary=f"GET {request.path} ({names})",
        error=error.code if isinstance(error, errors.CallbackError) else None,
        fields=[(name, as_shown(name, value, PLAIN_CALLBACK)) for name, value in params],
        checks=checks,
    )


def _state_error(error: errors.PageroError | None) -> errors.CallbackError | None:
    """Why the callback's ``state`` matched no login of this browser, or None if it did."""
    if isinstance(error, STATE_ERRORS):
        return error
    return error.state_error if isinstance(error, errors.CallbackError) else None


def _foreign_callback_checks(
    params: dict[str, str], error: errors.CallbackError, state_error: errors.CallbackError
) -> list[tuple[str, bool | None, str]]:
    """The checks of a callback that is not this browser's, without its words."""
    checks: list[tuple[str, bool | None, str]] = [
        ("state", False, f"{state_error.code}: {state_error.title}"),
    ]
    if error is state_error:
        checks.append(("iss", None, "not checked: the state check comes first"))
    elif isinstance(error, ISSUER_ERRORS):
        checks.append(("iss", False, f"{error.code}: want {known_settings().issuer}"))
    elif "iss" in params:
        checks.append(("iss", True, f"equals PAGERO_ISSUER ({known_settings().issuer})"))
    else:
        checks.append(("iss", None, "absent"))
    if "error" in params:
        checks.append(("error", False, "an error answer"))
    return checks


def _callback_checks(
    params: dict[str, str], error: errors.PageroError | None
) -> list[tuple[str, bool | None, str]]:
    """The outcome of each check :meth:`PageroClient.check_callback` makes, in its order:
    the state first, then ``iss``; its error tells which one stopped it. For a callback
    whose state matched a login of this browser (else :func:`_foreign_callback_checks`)."""
    settings = known_settings()
    iss = params.get("iss")
    if isinstance(error, errors.AuthorizationDenied):
        iss_note = f"equals PAGERO_ISSUER ({settings.issuer})" if iss else "absent"
        return [
            ("state", None, "used up: an error answer carries no code"),
            ("iss", True if iss else None, iss_note),
            ("error", False, f"Pagero answered error={error.error}"),
        ]
    checks: list[tuple[str, bool | None, str]] = [
        ("state", True, "matches a login started in this browser, unused and in time"),
    ]
    if isinstance(error, ISSUER_ERRORS):
        received = iss if iss is not None else "(none)"
        checks.append(("iss", False, f"{error.code}: got {received}, want {settings.issuer}"))
        return checks
    if iss is None:
        checks.append(("iss", True, "absent, allowed (PAGERO_REQUIRE_ISS=false)"))
    else:
        checks.append(("iss", True, f"equals PAGERO_ISSUER ({settings.issuer})"))
    if isinstance(error, errors.MissingCode):
        checks.append(("code", False, "missing"))
    return checks


def logged_in_event(response) -> dict[str, Any]:
    token_set = g.get("pagero_tokens")
    fields: list[tuple[str, Any]] = [
        ("redirect", f"{response.status_code} to {response.headers.get('Location')}"),
        ("session id", "new: an id planted before the login is worthless (session fixation)"),
    ]
    if token_set is not None:
        fields += [
            ("scope", token_set.scope),
            ("access token expires in", f"{token_set.expires_in()} s"),
            ("access token", mask(token_set.access_token)),
        ]
        claims = token_set.id_claims or {}
        if claims:
            fields.append(
                ("id_token", f"valid: iss={claims.get('iss')}, sub={claims.get('sub')}, nonce ok")
            )
    return event(
        "logged_in",
        at=time.time(),
        status=response.status_code,
        summary=f"{response.status_code} to {response.headers.get('Location')}; tokens stored",
        fields=fields,
    )


def error_event(error: errors.PageroError) -> dict[str, Any]:
    fields: list[tuple[str, Any]] = [("code", error.code), ("title", error.title)]
    fields.append(("description", error.description))
    fields += [(name, value) for name, value in error.details.items()]
    return event(
        "error",
        at=time.time(),
        ok=False,
        status=error.status,
        error=error.code,
        summary=f"{error.status} {error.code}: {error.title}",
        fields=fields,
    )


# -- masking -------------------------------------------------------------------------


def as_shown(name: str, value: str, plain: set[str]) -> str:
    """``value`` as the trace shows it: as it is when ``name`` is in ``plain``, else masked."""
    return value if name in plain else mask(value)


def known_settings() -> Settings:
    """The settings as known now, never reading the metadata (this may run inside
    a metadata read)."""
    return pagero.discovery.cached_settings() if pagero.discovery else pagero.configured
