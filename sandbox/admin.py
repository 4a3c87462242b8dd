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


@bp.post("/clock")
def advance_clock():
    """Move the sandbox clock forward by ``{"seconds": n}`` (expires codes and tokens)."""
    body = request.get_json(silent=True)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return _bad_request('Send {"seconds": <non-negative number>}')
    current_state().advance_clock(seconds)
    return jsonify({"advanced": seconds})


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
        try:
            seconds = float(request.form.get("seconds", ""))
        except ValueError:
            seconds = -1
        if seconds < 0:
            return _bad_request("Seconds must be a number of 0 or more.")
        state.advance_clock(seconds)
    else:
        names = request.form.getlist("fault")
        if unknown := set(names) - KNOWN_FAULTS:
            return _bad_request(f"Unknown faults {sorted(unknown)}")
        state.faults.clear()
        state.faults.update(names)
    return redirect(url_for("admin.admin_page", done=action), code=303)
