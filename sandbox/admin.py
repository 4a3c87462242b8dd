"""Sandbox-only helpers: a page where QA switches fault scenarios on and off
(``/_sandbox/admin``), and JSON endpoints for tests that drive a sandbox running in
another process.

Nothing here exists at Pagero. The stats never include a token: a test that asserts on them
must not be able to leak one into its own output.

Every request that changes the sandbox must come from the sandbox's own origin: any web
page a QA engineer visits could otherwise post a form here and erase every grant or
switch faults on (cross-site request forgery). So a POST is refused when its ``Origin``
or ``Sec-Fetch-Site`` header names another site, and otherwise needs either a JSON body
(``Content-Type: application/json``, which a cross-site page can only send after a CORS
preflight the sandbox never answers) or, for the admin page's forms, the page's
anti-forgery token.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from sandbox import faults
from sandbox.faults import KNOWN_FAULTS
from sandbox.sso import csrf_ok, csrf_token
from sandbox.state import current_state

bp = Blueprint("admin", __name__, url_prefix="/_sandbox")


def _bad_request(message: str):
    return jsonify({"error": "invalid_request", "error_description": message}), 400


#: ``Sec-Fetch-Site`` values of a request this sandbox's own pages (or a typed URL) made.
SAME_ORIGIN_FETCH = {"same-origin", "none"}
#: The one endpoint that takes an HTML form (with its anti-forgery token) instead of JSON.
FORM_ENDPOINTS = {"admin.admin_save"}


@bp.before_request
def same_origin_only():
    """Refuse a state-changing request that another site could have made (see above)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if (origin is not None and origin != request.host_url.rstrip("/")) or (
        fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCH
    ):
        return jsonify(
            {
                "error": "cross_origin_request",
                "error_description": "The sandbox's admin endpoints accept requests from "
                "its own pages and from scripts, not from other sites.",
            }
        ), 403
    if request.endpoint in FORM_ENDPOINTS:
        return None  # admin_save checks the form's anti-forgery token
    if request.mimetype != "application/json":
        return _bad_request("Send a JSON body with Content-Type: application/json.")
    return None


@bp.get("/stats")
def stats():
    """Grant, revocation and API call counters."""
    return jsonify({"counts": dict(current_state().counts)})


@bp.get("/faults")
def get_faults():
    return jsonify({"faults": sorted(current_state().faults)})


@bp.post("/faults")
def set_faults():
    """Replace the active fault set with ``{"faults": [...]}``."""
    body = request.get_json(silent=True)
    names = body.get("faults") if isinstance(body, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return _bad_request('Send {"faults": [names...]}')
    if unknown := set(names) - KNOWN_FAULTS:
        return _bad_request(f"Unknown faults {sorted(unknown)}; known: {sorted(KNOWN_FAULTS)}")
    state = current_state()
    state.faults.clear()
    state.faults.update(names)
    return jsonify({"faults": sorted(state.faults)})


#: The furthest one step may move the clock: ten years, more than any token lives.
MAX_CLOCK_STEP = 10 * 365 * 24 * 3600


def clock_step(value: object) -> float | None:
    """``value`` as seconds to move the clock, or None when it is not a usable step.

    NaN, infinities and astronomic values are refused: with them in the clock's offset
    every later timestamp fails to convert, and the sandbox answers 500 until a reset.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_CLOCK_STEP else None  # NaN fails both


@bp.post("/clock")
def advance_clock():
    """Move the sandbox clock forward by ``{"seconds": n}`` (expires codes and tokens)."""
    body = request.get_json(silent=True)
    raw = body.get("seconds") if isinstance(body, dict) else None
    seconds = None if isinstance(raw, str) else clock_step(raw)
    if seconds is None:
        return _bad_request(f'Send {{"seconds": <a number from 0 to {MAX_CLOCK_STEP}>}}')
    current_state().advance_clock(seconds)
    return jsonify({"advanced": seconds})


@bp.post("/signing-key")
def rotate_signing_key():
    """Rotate the id_token signing key: ``{}`` for a new kid (the old key stays published),
    ``{"keep_kid": true}`` to replace the key under the same kid."""
    body = request.get_json(silent=True)
    keep_kid = body.get("keep_kid", False) if isinstance(body, dict) else None
    if not isinstance(keep_kid, bool):
        return _bad_request('Send {"keep_kid": true|false}')
    return jsonify({"kid": current_state().rotate_signing_key(keep_kid=keep_kid)})


@bp.post("/reset")
def reset():
    """Forget logins, codes, tokens, counters, faults and the clock offset."""
    current_state().reset()
    return jsonify({"reset": True})


@bp.get("/admin")
def admin_page():
    """Fault scenarios as checkboxes, the counters, the clock and a reset button."""
    state = current_state()
    return render_template(
        "admin.html",
        groups=faults.DESCRIPTIONS,
        active=state.faults,
        counts=sorted(state.counts.items()),
        csrf_token=csrf_token(),
        done=request.args.get("done"),
        slow_seconds=state.settings.slow_seconds,
    )


@bp.post("/admin")
def admin_save():
    """Apply the page's form: the ticked faults replace the active set (like
    ``SANDBOX_FAULTS``), or the clock moves, or everything is reset."""
    if not csrf_ok():
        return _bad_request("The form expired: reload the page and try again.")
    state = current_state()
    action = request.form.get("action", "faults")
    if action == "reset":
        state.reset()
    elif action == "clock":
        seconds = clock_step(request.form.get("seconds", ""))
        if seconds is None:
            return _bad_request(f"Seconds must be a number from 0 to {MAX_CLOCK_STEP}.")
        state.advance_clock(seconds)
    else:
        names = request.form.getlist("fault")
        if unknown := set(names) - KNOWN_FAULTS:
            return _bad_request(f"Unknown faults {sorted(unknown)}")
        state.faults.clear()
        state.faults.update(names)
    return redirect(url_for("admin.admin_page", done=action), code=303)
