"""Login, callback and logout: the browser-facing half of Pagero's flow.

The views only read the request and hand it to the core client
(:mod:`pagero_oauth.client`, through ``pagero.client``); the protocol rules live there.
"""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from pagero_oauth import end_session
from pagero_oauth.tokens import LOGIN_AT

from .. import security, sessions
from ..extension import pagero

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

PROMPTS = {"login"}


@bp.get("/login")
def login():
    """Step 1: send the browser to Pagero's login page."""
    moved = security.redirect_to_canonical_host(pagero.settings)
    if moved is not None:
        return moved
    scope = _chosen_scope(request.args.getlist("scope"))
    prompt = request.args.get("prompt") or None
    if prompt is not None and prompt not in PROMPTS:
        abort(400, description="prompt must be 'login' or absent.")
    return_to = security.safe_return_path(request.args.get("next"))
    url = pagero.client.start_login(session, scope=scope, prompt=prompt, return_to=return_to)
    # The scope as sent: the configured default when the page chose none.
    sent = scope or pagero.settings.scope
    log.info("login started (scope=%r%s, prompt=%r)", sent, "" if scope else " default", prompt)
    return redirect(url, code=302)


@bp.get("/callback")
def callback():
    """Steps 2 and 3: check Pagero's answer, exchange the code, start the user's session.

    A proxy may resend this request after the instance that had it died: the resend
    finishes the same login, or gets the session it already created
    (:mod:`pagero_oauth.logins`, "Resent callbacks").
    """
    earlier_sid = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])
    with pagero.client.check_callback(session, request.args, earlier_sid) as claim:
        if claim.finished_sid is not None:
            sessions.rejoin(session, claim.finished_sid)
            pagero.rejoin(session, claim.finished_sid, claim.login_at)
            log.info("resent callback: given the session its first attempt created")
        else:
            token_set = pagero.client.exchange_code(claim.login, claim.code)
            # A new session id once the user is authenticated: an id planted before
            # login (session fixation) must not become a logged-in session. Other
            # tabs' pending logins travel with the session, so they still complete.
            claim.moving(session.sid)  # first: the old id is deleted by regenerate
            current_app.session_interface.regenerate(session)
            pagero.save(session, token_set)
            claim.finish(session.sid, session[LOGIN_AT])
            log.info(
                "login completed (scope=%r, openid=%s)",
                token_set.scope,
                bool(token_set.id_claims),
            )
    # A redirect to a clean URL: the code must not stay in the address bar or history.
    return redirect(claim.login.return_to or url_for("pages.profile"), code=303)


@bp.post("/logout")
def logout():
    """End the session: revoke at Pagero, delete it server-side, then end Pagero's login.

    The local logout always completes: a failed revocation is only logged
    (:meth:`PageroClient.revoke`), and the browser goes to Pagero's end-session
    endpoint, when there is one, only after everything here is done.
    """
    security.check_csrf(
        session, request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    )
    token_set = pagero.forget(session)  # deleted from the token store first
    if token_set is not None:
        pagero.client.revoke(token_set)
    # A new id for an empty session: the old one is deleted from the store, so
    # its cookie is worthless even if it was stolen.
    current_app.session_interface.regenerate(session)
    session.clear()
    target = None
    if token_set is not None:
        target = end_session.redirect_url(pagero.settings, session, token_set.id_token)
    log.info("logged out (Pagero's login too: %s)", "yes" if target else "no")
    return redirect(target or url_for("pages.home", logged_out=1), code=303)


@bp.get("/logged-out")
def logged_out():
    """Back from Pagero's end-session endpoint (RP-Initiated Logout 1.0 section 3)."""
    end_session.check_return(session, request.args.get("state"))
    return render_template("logged_out.html")


def _chosen_scope(requested: list[str]) -> str | None:
    """Keep only scopes the app offers; nothing chosen means the configured default."""
    offered = pagero.settings.scope_choices.split()
    chosen = [s for part in requested for s in part.split() if s in offered]
    if any(s not in offered for part in requested for s in part.split()):
        abort(400, description="Unknown scope. Offered: " + ", ".join(offered))
    return " ".join(dict.fromkeys(chosen)) or None
