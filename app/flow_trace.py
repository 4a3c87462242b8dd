"""The flow trace: each step of this browser's logins and API calls, as it happened.

QA pointing the app at Pagero's staging needs to see what was sent and what came back;
an integrator needs to see which code did it. With ``PAGERO_FLOW_TRACE`` on (sandbox and
staging; production only if switched on) every step is recorded for the browser session
that caused it and shown at ``/trace`` (:mod:`app.flow_trace_page`).

It only observes, so the flow code stays as it is without it:

* ``/login`` and ``/callback`` are read after the view ran (request hooks): the redirect
  to Pagero's login page with every parameter; the callback's parameters and the outcome
  of its ``state`` and ``iss`` checks, told by the error the view raised, if any;
* the token endpoint (Step 3, each refresh), metadata and JWKS calls are read from a
  ``requests`` response hook on the app's pooled HTTP session: what went on the wire
  (a token call that got no answer is reported by the client: :func:`unanswered_token_call`);
* each upstream API call is reported by :func:`api_call` from :mod:`app.api_proxy`;
* the error page a flow request ended with is read from ``g.pagero_error``
  (:func:`app.errors.render_error` puts it there).

Everything is masked as it is recorded (:func:`app.tokens.mask` for tokens, codes,
``state`` and ``nonce``; the client secret and Basic credentials become ``[redacted]``),
so neither the store nor the page ever holds a whole secret. Events gather in ``g`` and
are written after the response has gone out (``call_on_close``), and any failure is
logged and dropped: recording never slows or breaks a request.

Per browser session, bounded and apart from the Flask session: see :mod:`app.trace_store`.
The session holds only a random ``trace_key``; logout deletes the trace.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Flask, current_app, g, has_request_context, request, session
from werkzeug.wsgi import ClosingIterator

from config import Settings
from pagero_oauth import errors
from pagero_oauth.stores import TraceStore
from pagero_oauth.tokens import mask

from .extension import pagero

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

# What may be shown as it is; every other value is masked. Unknown means masked.
PLAIN_AUTHORIZE = {"response_type", "client_id", "redirect_uri", "scope", "prompt"}
PLAIN_AUTHORIZE |= {"code_challenge", "code_challenge_method"}
PLAIN_CALLBACK = {"iss", "error", "error_description", "error_uri"}
PLAIN_FORM = {"grant_type", "redirect_uri", "client_id", "scope", "token_type_hint"}
REDACTED_FORM = {"client_secret"}
PLAIN_RESPONSE = {"token_type", "expires_in", "scope", "claims", "error", "error_description"}
SHOWN_REQUEST_HEADERS = ("Content-Type", "Accept")

#: How the trace names a callback whose state matched no login of this browser.
FOREIGN_CALLBACK = "a callback that does not belong to a login started in this browser"

STATE_ERRORS = (errors.MissingState, errors.UnknownState, errors.ReusedState, errors.ExpiredState)
ISSUER_ERRORS = (errors.IssuerMismatch, errors.MissingIssuer)


def init_app(app: Flask, settings: Settings) -> None:
    """Switch the trace on for ``app`` when ``PAGERO_FLOW_TRACE`` says so."""
    if not settings.flow_trace:
        return
    app.extensions[EXTENSION] = pagero.stores.traces
    app.before_request(_before_request)
    app.after_request(_after_request)
    pagero.http.hooks["response"].append(_on_response)
    pagero.on_unanswered_token_call(unanswered_token_call)
    from . import flow_trace_page

    app.register_blueprint(flow_trace_page.bp)


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


def _collect(item: dict[str, Any]) -> None:
    g.setdefault("flow_trace_events", []).append(item)


def api_call(method: str, url: str, status: int, started: float) -> None:
    """Record one upstream API call; ``started`` is its ``time.monotonic()``."""
    if not enabled():
        return
    try:
        _collect(api_call_event(method, url, status, started))
    except Exception as exc:  # the trace must never break a request
        log.warning("flow trace: API call not recorded (%s)", type(exc).__name__)


def api_call_event(
    method: str, url: str, status: int, started: float, request_id: str | None = None
) -> dict[str, Any]:
    ms = (time.monotonic() - started) * 1000
    base = _known_settings().api_base_url
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
        events.insert(0, _authorize_event(response))
    elif endpoint == "auth.callback":
        events.insert(0, _callback_event(error))
        if error is None and response.status_code in (302, 303):
            events.append(_logged_in_event(response))
    if error is not None and endpoint in FLOW_ENDPOINTS:
        events.append(_error_event(error))
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


def _since_start() -> tuple[float, float]:
    """(wall-clock start of this request, its duration so far in ms)."""
    start = g.get("flow_trace_t0", time.time())
    return start, (time.monotonic() - g.get("flow_trace_m0", time.monotonic())) * 1000


# -- Step 1 and Step 2 -------------------------------------------------------------


def _authorize_event(response) -> dict[str, Any] | None:
    location = response.headers.get("Location", "")
    authorize_url = _known_settings().authorize_url
    if response.status_code != 302 or not authorize_url or not location.startswith(authorize_url):
        return None  # e.g. a move to the canonical host first
    parts = urlsplit(location)
    params = parse_qsl(parts.query, keep_blank_values=True)
    _, ms = _since_start()
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
            *((name, _shown(name, value, PLAIN_AUTHORIZE)) for name, value in params),
        ],
    )


def _callback_event(error: errors.PageroError | None) -> dict[str, Any]:
    params = list(request.args.items(multi=True))
    start, _ = _since_start()
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
        fields=[(name, _shown(name, value, PLAIN_CALLBACK)) for name, value in params],
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
        checks.append(("iss", False, f"{error.code}: want {_known_settings().issuer}"))
    elif "iss" in params:
        checks.append(("iss", True, f"equals PAGERO_ISSUER ({_known_settings().issuer})"))
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
    settings = _known_settings()
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


def _logged_in_event(response) -> dict[str, Any]:
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


def _error_event(error: errors.PageroError) -> dict[str, Any]:
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


# -- Step 3, refresh, metadata and keys: what went over the wire ------------------------


def _on_response(response, *args, **kwargs):
    """``requests`` response hook on the app's pooled session."""
    try:
        if enabled():
            for item in _wire_events(response):
                _collect(item)
    except Exception as exc:  # the trace must never break a request
        log.warning("flow trace: call not recorded (%s)", type(exc).__name__)
    return response


def _wire_events(response) -> list[dict[str, Any]]:
    sent = response.request
    url = (sent.url or "").split("?")[0]
    settings = _known_settings()
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
    kind, request_event = _token_request_event(sent, start)
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


def _token_request_event(sent, start: float) -> tuple[str, dict[str, Any]]:
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


def unanswered_token_call(exc: Exception, started: float) -> None:
    """A token-endpoint call that got no answer (refused, timed out): the request as it
    was sent, then that nothing came back. The response hook never sees such a call;
    :class:`~app.pagero_client.PageroClient` reports it through ``unanswered_hooks``.
    ``started`` is the call's ``time.time()``."""
    if not enabled():
        return
    try:
        sent = getattr(exc, "request", None)
        if sent is None or (sent.url or "").split("?")[0] != _known_settings().token_url:
            return
        kind, request_event = _token_request_event(sent, started)
        ms = (time.time() - started) * 1000
        why = type(exc).__name__
        _collect(request_event)
        _collect(
            event(
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


# -- masking -------------------------------------------------------------------------


def _shown(name: str, value: str, plain: set[str]) -> str:
    return value if name in plain else mask(value)


def _form_value(name: str, value: str) -> str:
    if name in REDACTED_FORM:
        return "[redacted]"
    return _shown(name, value, PLAIN_FORM)


def _known_settings() -> Settings:
    """The settings as known now, never reading the metadata (this may run inside
    a metadata read)."""
    return pagero.discovery.cached_settings() if pagero.discovery else pagero.configured
