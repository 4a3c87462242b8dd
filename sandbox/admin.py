"""Sandbox-only helpers: a page where QA switches fault scenarios on and off
(``/_sandbox/admin``), and JSON endpoints for tests that drive a sandbox running in
another process.

Nothing here exists at Pagero. The stats never include a token: a test that asserts on them
must not be able to leak one into its own output.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for

from sandbox import faults
from sandbox.faults import KNOWN_FAULTS
from sandbox.sso import csrf_token
from sandbox.state import current_state

bp = Blueprint("admin", __name__, url_prefix="/_sandbox")


def _bad_request(message: str):
    return jsonify({"error": "invalid_request", "error_description": message}), 400


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
    expected, sent = session.get("csrf"), request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
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
