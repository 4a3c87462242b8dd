"""Log in with Pagero: the whole authorization-code pattern in one file, to copy.

    flask --app examples/minimal.py run --port 5000

It reads the same variables as the full app: PAGERO_CLIENT_ID, PAGERO_CLIENT_SECRET,
PAGERO_AUTHORIZE_URL, PAGERO_TOKEN_URL, PAGERO_ISSUER, PAGERO_API_BASE_URL,
PAGERO_REDIRECT_URI, SECRET_KEY, SESSION_FILE_DIR. The browser holds only a session id:
state, PKCE verifier and tokens live in a server-side session (Flask-Session, files).
Authlib builds the URLs, authenticates the client and refreshes an expired token.
What the full app adds, and why, is in the README ("The minimal example").
"""

from __future__ import annotations

import hmac
import os
import re
import secrets

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from cachelib.file import FileSystemCache
from flask import Flask, Response, jsonify, redirect, request, session
from flask_session import Session

ENV = os.environ
CLIENT_ID, CLIENT_SECRET = ENV["PAGERO_CLIENT_ID"], ENV["PAGERO_CLIENT_SECRET"]
AUTHORIZE_URL, TOKEN_URL = ENV["PAGERO_AUTHORIZE_URL"], ENV["PAGERO_TOKEN_URL"]
ISSUER, API_BASE_URL = ENV["PAGERO_ISSUER"], ENV["PAGERO_API_BASE_URL"].rstrip("/")
REDIRECT_URI = ENV["PAGERO_REDIRECT_URI"]
TIMEOUT = 10  # seconds for any call to Pagero

app = Flask(__name__)
app.config.update(
    SECRET_KEY=ENV["SECRET_KEY"],
    SESSION_TYPE="cachelib",
    # threshold=0: never evict a live session to make room (the full app sweeps expired ones).
    SESSION_CACHELIB=FileSystemCache(
        ENV.get("SESSION_FILE_DIR", "flask_session"), threshold=0, mode=0o600
    ),
    SESSION_COOKIE_HTTPONLY=True,
    # Lax: the callback is a top-level navigation from Pagero and must carry the cookie.
    SESSION_COOKIE_SAMESITE="Lax",
    SESSION_COOKIE_SECURE=REDIRECT_URI.startswith("https://"),
)
Session(app)


def pagero(token: dict | None = None) -> OAuth2Session:
    """Authlib's client for this app: client_secret_basic, PKCE S256, refresh on expiry."""
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",  # RFC 7636; prevents code injection (RFC 9700 4.5)
        token=token,
        token_endpoint=TOKEN_URL,
        update_token=lambda new, **_: session.update(token=dict(new)),  # refresh tokens rotate
    )


def problem(status: int, code: str, detail: str) -> Response:
    """An RFC 9457 answer; it never repeats a code, a token or the state."""
    answer = jsonify(type=f"urn:pagero-client:error:{code}", status=status, detail=detail)
    answer.status_code, answer.mimetype = status, "application/problem+json"
    return answer


@app.get("/login")
def login():
    """Step 1, authorizing the user: send the browser to Pagero's login page."""
    state, verifier = secrets.token_urlsafe(32), generate_token(64)
    scope = request.args.get("scope", "all")  # space-separated; "openid" adds an id_token
    url, _ = pagero().create_authorization_url(
        AUTHORIZE_URL, state=state, code_verifier=verifier, scope=scope
    )
    session["pending"] = {"state": state, "verifier": verifier}  # bound to this browser
    return redirect(url)


@app.get("/callback")
def callback():
    """Step 2, obtaining the code, then Step 3, exchanging it for tokens (server-side)."""
    pending = session.pop("pending", None)  # single use: gone whatever happens next
    state = request.args.get("state", "")
    if pending is None or not hmac.compare_digest(pending["state"], state):
        return problem(400, "unknown_state", "This answer belongs to no login of this browser.")
    if request.args.get("iss") != ISSUER:  # RFC 9207: check before the code is trusted
        return problem(400, "issuer_mismatch", "The answer does not come from Pagero.")
    if "error" in request.args or not request.args.get("code"):
        return problem(400, "access_denied", "Pagero did not log you in.")
    try:
        token = pagero().fetch_token(
            TOKEN_URL,
            code=request.args["code"],
            code_verifier=pending["verifier"],
            timeout=TIMEOUT,
        )
    except Exception as exc:  # network error, invalid_grant, invalid_client, ...
        app.logger.warning("token request failed: %s", type(exc).__name__)  # never the code
        return problem(502, "token_request_failed", "Pagero did not issue tokens.")
    app.session_interface.regenerate(session)  # a new session id for the logged-in user
    session["token"] = dict(token)
    return redirect("/")


@app.get("/")
def home():
    if "token" in session:
        return "Logged in. Try /api-proxy/document/v1/documents"
    return 'Not logged in: <a href="/login">Log in with Pagero</a>'


#: One segment of a plain relative API path (RFC 3986 pchar, already decoded: no '%').
SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")


def safe_path(path: str) -> bool:
    """No empty or dot-only segment: the call can never leave PAGERO_API_BASE_URL."""
    return all(SEGMENT.fullmatch(part) and part.strip(".") for part in path.split("/"))


@app.get("/api-proxy/<path:path>")
def api_proxy(path: str):
    """Making an API request using an access token: the token stays on the server."""
    if "token" not in session:
        return problem(401, "login_required", "Log in with Pagero first: /login")
    if not safe_path(path):
        return problem(400, "bad_api_path", "Send a plain relative API path.")
    try:
        upstream = pagero(session["token"]).get(
            f"{API_BASE_URL}/{path}",
            params=request.args,
            headers={"Accept": request.headers.get("Accept", "application/json")},
            timeout=TIMEOUT,
        )
    except Exception as exc:  # refresh refused, network error, ...
        app.logger.warning("API call failed: %s", type(exc).__name__)
        return problem(502, "api_unavailable", "The Pagero API could not be reached.")
    answer = Response(upstream.content, upstream.status_code)
    kind = upstream.headers.get("Content-Type", "application/octet-stream")
    answer.headers["Content-Type"] = kind
    # The API's answer must never act as a page of this app (its cookies, its origin).
    answer.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Cache-Control"] = "no-store"
    return answer
