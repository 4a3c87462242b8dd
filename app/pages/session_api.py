"""``GET /session``: what the browser may know about its login, as JSON.

Like Duende BFF's user endpoint: pages and scripts ask here whether someone is
logged in instead of guessing from a cookie they cannot read (it is HttpOnly),
and get the logout URL with its anti-forgery value. Never a token.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify, session, url_for

from .. import security
from ..extension import pagero

bp = Blueprint("session_api", __name__)

#: id_token claims that describe the user; protocol claims (nonce, at_hash, ...) stay out.
USER_CLAIMS = (
    "sub",
    "name",
    "preferred_username",
    "email",
    "publicid",
    "company_id",
    "company_name",
    "auth_time",
)


@bp.get("/session")
def current_session():
    token_set = pagero.require(session)  # 401 problem+json with login_url when logged out
    claims = token_set.id_claims or {}
    expires_at = token_set.expires_at
    return jsonify(
        {
            "authenticated": True,
            "user": {k: claims[k] for k in USER_CLAIMS if k in claims} or None,
            "scope": token_set.scope,
            "claims": token_set.claims,
            "logged_in_at": _iso(token_set.logged_in_at),
            "access_token_expires_at": _iso(expires_at) if expires_at else None,
            "access_token_expires_in": token_set.expires_in(),
            "logout": {
                "url": url_for("auth.logout"),
                "method": "POST",
                "csrf_token": security.csrf_token(session),
                "csrf_header": "X-CSRF-Token",
            },
        }
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")
