"""``/trace``: this browser session's flow trace as a sequence diagram.

Server-rendered HTML and one stylesheet (``static/css/trace.css``): the CSP allows no
inline script or style, so each arrow's place is a CSS class, not a computed style.
Each step links to the part of Pagero's document it implements (a reference section
at the end of the page, in the document's own words and order) and names the code
that performs it. ``Accept: application/json`` gets the stored events as they are.

A login whose authorization request is its last step, long after it was sent, never came
back: :func:`pending_login_hint` says which redirect URI went out and what to check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, render_template

from ..error_pages import wants_json
from ..extension import pagero
from . import flow_trace

bp = Blueprint("flow_trace", __name__)

#: The sequence diagram's participants, left to right.
LANES = ("browser", "app", "sso", "api")
LANE_NAMES = {"browser": "Browser", "app": "This app", "sso": "Pagero SSO", "api": "Pagero API"}


@dataclass(frozen=True)
class Step:
    """What a kind of event is: its arrow, its part of Pagero's document, its code."""

    title: str
    source: str
    target: str
    doc: str
    code: tuple[tuple[str, str], ...]
    #: Through the browser (redirects), drawn dashed; otherwise server to server.
    front_channel: bool = False


STEPS: dict[str, Step] = {
    "authorize": Step(
        "Authorization request",
        "app",
        "sso",
        "step-1",
        (
            ("app/auth/views.py", "login()"),
            ("pagero_oauth/client.py", "PageroClient.start_login()"),
        ),
        front_channel=True,
    ),
    "callback": Step(
        "Callback",
        "sso",
        "app",
        "step-2",
        (
            ("app/auth/views.py", "callback()"),
            ("pagero_oauth/client.py", "PageroClient.check_callback()"),
            ("pagero_oauth/logins.py", "claim()"),
        ),
        front_channel=True,
    ),
    "token_request": Step(
        "Token request",
        "app",
        "sso",
        "step-3",
        (("pagero_oauth/client.py", "PageroClient.exchange_code()"),),
    ),
    "token_response": Step(
        "Token response",
        "sso",
        "app",
        "step-3",
        (
            ("pagero_oauth/tokens.py", "from_token_response()"),
            ("pagero_oauth/id_token.py", "validate()"),
        ),
    ),
    "jwks": Step(
        "Signing keys (JWKS)",
        "app",
        "sso",
        "step-3",
        (
            ("pagero_oauth/endpoints.py", "Endpoints._fetch_jwks()"),
            ("pagero_oauth/id_token.py", "KeyCache"),
        ),
    ),
    "metadata": Step(
        "Server metadata",
        "app",
        "sso",
        "metadata",
        (("pagero_oauth/discovery.py", "Discovery.metadata()"),),
    ),
    "logged_in": Step(
        "Logged in",
        "app",
        "browser",
        "step-3",
        (("app/auth/views.py", "callback()"), ("pagero_oauth/keeper.py", "TokenKeeper.save()")),
    ),
    "refresh_request": Step(
        "Refresh request",
        "app",
        "sso",
        "refresh",
        (
            ("pagero_oauth/keeper.py", "TokenKeeper.fresh()"),
            ("pagero_oauth/client.py", "PageroClient.refresh()"),
        ),
    ),
    "refresh_response": Step(
        "Refresh response",
        "sso",
        "app",
        "refresh",
        (
            ("pagero_oauth/client.py", "PageroClient.refresh()"),
            ("pagero_oauth/keeper.py", "TokenKeeper.fresh()"),
        ),
    ),
    "api_call": Step(
        "API call",
        "app",
        "api",
        "api",
        (("app/proxy/views.py", "proxy()"), ("app/proxy/views.py", "_send()")),
    ),
    "error": Step(
        "Error page",
        "app",
        "browser",
        "errors",
        (("app/error_pages.py", "render_error()"),),
    ),
}

#: The reference section: Pagero's document, part by part, and what this app adds.
DOCUMENT: tuple[tuple[str, str, str], ...] = (
    (
        "step-1",
        "Step 1: Authorizing the user",
        "GET Pagero's login page with response_type=code, redirect_uri (the one agreed at "
        "registration, URL-encoded) and client_id; optionally state, scope (all, openid) "
        "and prompt=login. This app always sends a state, and a nonce with openid.",
    ),
    (
        "step-2",
        "Step 2: Obtaining authorization code",
        "After the login Pagero redirects to redirect_uri with code, state (as sent) and iss "
        "(the authorization server). This app checks the state first, then iss (RFC 9207), "
        "and only then uses the code.",
    ),
    (
        "step-3",
        "Step 3: Exchanging to a token",
        "POST grant_type=authorization_code, code and the same redirect_uri, authenticated "
        "with the client ID and secret (HTTP Basic, or in the form). The answer holds "
        "access_token, refresh_token, expires_in, scope, token_type and, with openid, an "
        "id_token, which this app validates (with Pagero's published keys) before it stores "
        "anything.",
    ),
    (
        "api",
        "Making an API request using an access token",
        "The access token goes in an Authorization: Bearer header. Here the server adds it: "
        "the browser only calls /api-proxy and never holds a token.",
    ),
    (
        "refresh",
        "Refreshing the access token (RFC 6749 section 6)",
        "Not in Pagero's document, which ends with the refresh_token of Step 3: POST "
        "grant_type=refresh_token with the client credentials. Pagero replaces the refresh "
        "token each time, so this app refreshes once per session under a lock.",
    ),
    (
        "metadata",
        "Server metadata (OpenID Connect Discovery 1.0)",
        "Not in Pagero's document: with discovery on, endpoints and keys are read from "
        "PAGERO_METADATA_URL, and a document naming another issuer is refused.",
    ),
    (
        "errors",
        "Errors",
        "Each failure ends in a page (or problem+json) with an error code: see the error table "
        "in docs/security.md and docs/staging-qa.md for what each means and what to do.",
    ),
)


#: Seconds after which a login still waiting for its callback gets the hint (or
#: ``PAGERO_STATE_MAX_AGE``, if shorter). A person logs in within a few seconds; a QA
#: engineer who came to /trace a minute after Step 1 is most likely stuck on Pagero's
#: error page, and should not wait the login's whole lifetime (10 minutes) for the hint.
PENDING_HINT_AFTER = 60


@bp.get("/trace")
def trace():
    """This browser session's steps, oldest first, and a hint when the newest login
    never came back."""
    events = flow_trace.read()
    settings = pagero.configured
    hint = pending_login_hint(events, settings.state_max_age, time.time())
    if wants_json():
        return jsonify({"events": events, "limit": flow_trace.MAX_EVENTS, "hint": hint})
    return render_template(
        "trace.html",
        hint=hint,
        rows=[_row(e, events[0]["at"]) for e in events if e.get("kind") in STEPS],
        lanes=[LANE_NAMES[lane] for lane in LANES],
        document=DOCUMENT,
        headings={anchor: heading for anchor, heading, _ in DOCUMENT},
        limit=flow_trace.MAX_EVENTS,
    )


def _row(event: dict[str, Any], first_at: float) -> dict[str, Any]:
    step = STEPS[event["kind"]]
    source, target = LANES.index(step.source) + 1, LANES.index(step.target) + 1
    low, high = sorted((source, target))
    return {
        "event": event,
        "step": step,
        "offset": event["at"] - first_at,
        # e.g. "span-2-3 right": from the app's lifeline to the SSO's, pointing right.
        "arrow": f"span-{low}-{high} {'right' if target > source else 'left'}",
    }


def pending_login_hint(
    events: list[dict[str, Any]], state_max_age: int, now: float
) -> dict[str, Any] | None:
    """What to check when the newest authorization request has no callback after it and
    was sent at least :data:`PENDING_HINT_AFTER` seconds (or the login's lifetime,
    ``state_max_age``, if shorter) before ``now``; None otherwise.

    Such a login went to Pagero and never came back to this browser's session: Pagero
    refused the redirect URI (it shows an error page and must not redirect to an unknown
    URI, RFC 6749 section 4.1.2.1), the person gave up, or the callback reached another
    host name, where this browser has no session (so it is not in this trace).
    """
    kinds = [e.get("kind") for e in events]
    if "authorize" not in kinds:
        return None
    last = len(kinds) - 1 - kinds[::-1].index("authorize")
    if "callback" in kinds[last:]:
        return None
    sent = events[last]
    waited = now - sent.get("at", now)
    if waited < min(state_max_age, PENDING_HINT_AFTER):
        return None
    fields = dict(sent.get("fields", []))
    redirect_uri = fields.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    expired = waited >= state_max_age
    lifetime = (
        f" Its lifetime (PAGERO_STATE_MAX_AGE, {state_max_age} s) has passed: start a new "
        "login once the cause is fixed."
        if expired
        else ""
    )
    return {
        "kind": "login_not_back",
        "redirect_uri": redirect_uri,
        "client_id": fields.get("client_id", ""),
        "waited_seconds": round(waited),
        "expired": expired,
        "title": "The last login never came back",
        "summary": (
            f"The authorization request sent redirect_uri={redirect_uri}, and no callback "
            f"reached this browser's session in {waited:.0f} s.{lifetime}"
        ),
        "checks": [
            f"The redirect URI registered at Pagero for client_id {fields.get('client_id')} "
            f"must be exactly {redirect_uri} (scheme, host, port, path, no trailing slash): "
            "for any other, Pagero shows an error page instead of its login page.",
            "Run the doctor (flask --app wsgi pagero doctor): its line "
            "'PAGERO_REDIRECT_URI registered' sends this same request and says whether the "
            "server refuses it.",
            "If the login page showed an error instead of a login form, that page is the "
            "server's refusal (the sandbox's lists the redirect URIs it accepts).",
            f"If you logged in and landed on another host name than {parts.hostname} (say "
            "127.0.0.1 instead of localhost), this browser's cookie was not sent there: "
            f"open the app at {parts.scheme}://{parts.netloc} and log in again.",
        ],
    }
