"""Pagero's login pages: Step 1 (authorizing the user), Step 2 (the code comes back) and
RP-initiated logout.

The sandbox SSO remembers a login in the signed ``pagero_sandbox_sso`` cookie. Like Pagero
there is no consent screen: a live login goes straight back to the client with a code
unless the client asks for ``prompt=login``.
"""

from __future__ import annotations

import hmac
import secrets

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint, Response, abort, render_template, request, session

from sandbox import faults
from sandbox.authorization_server import current_server
from sandbox.models import Login
from sandbox.state import current_state
from sandbox.users import TEST_USERS, authenticate

bp = Blueprint("sso", __name__)

AUTHORIZE_PATH = "/oauth/v2/oauth-authorize"
LOGOUT_PATH = "/oauth/v2/oauth-session/logout"


@bp.after_request
def protect_login_pages(response: Response) -> Response:
    """Login pages are never framed (clickjacking, RFC 6749 §10.13) and never cached,
    since they and their redirects carry the authorization request and its code."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response


def current_login() -> Login | None:
    """The live sandbox SSO login named by this browser's cookie, if any."""
    return current_state().get_login(session.get("sid"))


def csrf_token() -> str:
    """The login form's CSRF token, tied to this browser's sandbox session."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def csrf_ok() -> bool:
    """Whether the posted form carries this browser's anti-forgery token."""
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def _prompts(grant) -> set[str]:
    return set((grant.request.payload.data.get("prompt") or "").split())


def _error_page(error: OAuth2Error, status: int = 400) -> tuple[str, int]:
    """The refusal page; for a redirect URI it does not know, the ones it does and how to
    register another (a developer pointing their own app at the sandbox meets this first)."""
    registered = current_state().settings.redirect_uris
    sent = request.values.get("redirect_uri")
    unknown_redirect = sent is not None and sent not in registered
    return render_template(
        "error.html",
        error=error.error,
        description=error.get_error_description(),
        registered_redirect_uris=registered if unknown_redirect else None,
    ), status


def _login_form(grant, message: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "login.html",
        # The whole authorization request rides in the action URL (Jinja escapes it), so
        # the POST is validated exactly like the GET was.
        action=request.full_path,
        client_id=grant.client.get_client_id(),
        csrf_token=csrf_token(),
        message=message,
        users=TEST_USERS,
        extra_users=len(current_state().users) - len(TEST_USERS),
    ), status


@bp.route(AUTHORIZE_PATH, methods=["GET", "POST"])
def authorize():
    """Step 1: validate the authorization request, log the user in, send back a code.

    Until client_id and redirect_uri are known good, errors are shown here and never
    redirected (RFC 6749 §4.1.2.1); Authlib marks the redirectable ones.
    """
    server = current_server()
    login = current_login()
    try:
        grant = server.get_consent_grant(end_user=login)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.authorization_error_redirect(error)
        return _error_page(error)

    if request.method == "POST":
        return _handle_login_form(grant)

    prompts = _prompts(grant)
    if "none" in prompts:
        # OIDC Core §3.1.2.1: prompt=none shows no UI and combines with no other value.
        state = grant.request.payload.state
        if len(prompts) > 1:
            error = InvalidRequestError(
                "prompt=none cannot be combined", redirect_uri=grant.redirect_uri, state=state
            )
            return server.authorization_error_redirect(error)
        if login is None:
            error = LoginRequiredError(redirect_uri=grant.redirect_uri, state=state)
            return server.authorization_error_redirect(error)
    if login is not None and "login" not in prompts:
        return server.create_authorization_response(grant=grant, grant_user=login)
    return _login_form(grant)


def _handle_login_form(grant) -> Response | tuple[str, int]:
    server = current_server()
    if not csrf_ok():
        return _login_form(grant, "The form expired. Please log in again.", 400)
    if request.form.get("action") == "cancel":
        # No user: Authlib answers access_denied to the redirect_uri (RFC 6749 §4.1.2.1).
        return server.create_authorization_response(grant=grant, grant_user=None)

    user = authenticate(
        request.form.get("username", ""), request.form.get("password", ""), current_state().users
    )
    if user is None:
        return _login_form(grant, "Wrong user name or password.", 401)

    state = current_state()
    state.end_login(session.get("sid"))
    login = state.start_login(user)
    # A new session on login, so nothing planted before it survives (session fixation).
    session.clear()
    session["sid"] = login.sid
    return server.create_authorization_response(grant=grant, grant_user=login)


@bp.route(LOGOUT_PATH, methods=["GET", "POST"])
def logout():
    """OIDC RP-Initiated Logout 1.0: end the SSO login, then go back to the client."""
    if faults.NO_END_SESSION_ENDPOINT in current_state().faults:
        abort(404)
    server = current_server()
    try:
        end_session_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return _error_page(error)
    response = server.create_endpoint_response("end_session", end_session_request)
    return response or render_template("logged_out.html")
