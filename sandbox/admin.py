"""Sandbox-only helpers for tests that drive a sandbox running in another process.

Nothing here exists at Pagero. The stats never include a token: a test that asserts on them
must not be able to leak one into its own output.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from sandbox.faults import KNOWN_FAULTS
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
