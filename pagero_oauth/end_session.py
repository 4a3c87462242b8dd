"""Logging out of Pagero too: OpenID Connect RP-Initiated Logout 1.0.

Deleting our session ends the login *here*; Pagero's SSO still remembers the
user and would log them straight back in on the next /login. When the server
offers an ``end_session_endpoint``, the browser is therefore sent there after
the local logout, and Pagero sends it back to ``PAGERO_POST_LOGOUT_REDIRECT_URI``
(our ``/logged-out`` page) with the ``state`` we chose.

Why no ``id_token_hint`` by default: it would put the id_token in a URL the
browser sees (address bar, history, the SSO's access log), and this app's
promise is that no token ever reaches the browser. RP-Initiated Logout 1.0
section 2 lets ``client_id`` identify the client instead, which is enough to
check ``post_logout_redirect_uri``. A server that insists on the hint (it may
otherwise ask the user to confirm) gets it with
``PAGERO_LOGOUT_ID_TOKEN_HINT=true``: the access and refresh tokens are revoked
and deleted before that redirect, and the id_token goes only to its issuer.

Why a ``state``: the return to ``/logged-out`` must belong to a logout this
browser started, like a login's callback (section 3); it is 256 random bits,
kept in the fresh session that replaces the deleted one, and used once.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from authlib.common.urls import add_params_to_uri

from . import errors
from .settings import Settings

STATE_KEY = "logout_state"


class LogoutStateMismatch(errors.PageroError):
    """The return to /logged-out does not match a logout started in this browser."""

    code = "logout_state_mismatch"
    title = "This logout confirmation was not expected"
    restart_login = False


def redirect_url(
    settings: Settings, session: MutableMapping[str, Any], id_token: str | None
) -> str | None:
    """Remember a new logout ``state`` in ``session``; return the URL of Pagero's
    end-session endpoint, or None when the server offers none.

    ``client_id`` is sent as well: without an id_token (scope ``all``) it is
    how the server knows whose ``post_logout_redirect_uri`` to check.
    """
    if not settings.end_session_url:
        return None
    state = secrets.token_urlsafe(32)
    session[STATE_KEY] = state
    params = {
        "client_id": settings.client_id,
        "post_logout_redirect_uri": settings.post_logout_redirect_uri,
        "state": state,
    }
    if id_token and settings.logout_id_token_hint:
        params["id_token_hint"] = id_token
    return add_params_to_uri(settings.end_session_url, params)


def check_return(session: MutableMapping[str, Any], state: str | None) -> None:
    """Consume the logout ``state``; raise :class:`LogoutStateMismatch` unless it matches.

    A wrong guess does not use the state up, so a stray request cannot spoil the
    real return that follows it.
    """
    expected = session.get(STATE_KEY)
    if expected and state and hmac.compare_digest(expected, state):
        del session[STATE_KEY]
    else:
        raise LogoutStateMismatch(
            "This page confirms a logout started in this browser, but no such logout is "
            "waiting for confirmation (the state is missing, unknown or already used). "
            "Nothing was changed."
        )
