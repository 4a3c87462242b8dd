"""What can go wrong, as types: a small family callers can catch precisely.

Each error carries an OAuth-style ``code`` (RFC 6749 section 4.1.2.1 / 5.2
names where one exists), an HTTP status, a title and a description a user can
act on. Rendering them (an HTML page or RFC 9457 problem+json, by the ``Accept``
header) is the web app's business, in one place: app/error_pages.py.
"""

from __future__ import annotations

import re
from typing import Any

from .failures import Failure


class PageroError(Exception):
    """Base of every failure the app explains to the user."""

    status = 400
    code = "invalid_request"
    title = "Something went wrong"
    #: Offer "start again" on the page (true for every login failure).
    restart_login = True

    def __init__(self, description: str, *, failure: Failure | None = None, **details: Any):
        super().__init__(description)
        self.description = description
        #: Extra facts shown on the page and in problem+json (never secrets).
        self.details = details
        #: For an endpoint of Pagero's that gave no usable answer: which, and why. Shown
        #: in the sandbox and staging profiles only; always logged (app/error_pages.py).
        self.failure = failure

    def log_line(self) -> str:
        extra = " ".join(f"{k}={v!r}" for k, v in self.details.items())
        if self.failure is not None:
            extra = f"{extra} {self.failure.log_text()}".strip()
        return f"{self.code}: {self.description} {extra}".rstrip()


# --- Step 2: the callback -------------------------------------------------


class CallbackError(PageroError):
    """The callback was rejected before any token request was made."""

    title = "The login could not be completed"
    #: For an error answer (``/callback?error=...``), which is reported for its error:
    #: why its ``state`` matched no login of this browser, or None if it did.
    state_error: CallbackError | None = None


#: An error code this app repeats (in the page and the problem type): the shape of every
#: code RFC 6749 and its extensions define, and short.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: RFC 6749 section 4.1.2.1: error_description is printable ASCII without '"' and '\\'.
_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,300}")


class AuthorizationDenied(CallbackError):
    """Pagero redirected back with ``error=...`` (RFC 6749 section 4.1.2.1).

    Anyone can send a browser to ``/callback?error=...``, so the page repeats only what
    has the shape the RFC gives these fields; the caller passes a description only for
    an answer to a login this browser started.
    """

    title = "Pagero did not log you in"

    def __init__(self, error: str, description: str | None):
        if not _ERROR_CODE.fullmatch(error):
            error = "unreadable_error"
            text = "Pagero answered with an error, but not with a valid error code."
        elif error == "access_denied":
            text = "The login was cancelled or access was denied at Pagero."
        else:
            text = f"Pagero answered with the error {error!r}."
        if description and _DESCRIPTION.fullmatch(description):
            text += f" Pagero said: {description}"
        self.error = error
        super().__init__(text, error=error)
        self.code = error


class MissingState(CallbackError):
    code = "missing_state"


class UnknownState(CallbackError):
    code = "unknown_state"


class NoLoginSession(UnknownState):
    """The callback came without the session that started the login.

    By far the most common cause is opening the app on one host name and
    registering another (``127.0.0.1`` vs ``localhost``): cookies are per host,
    so the session cookie set at /login is not sent to /callback.
    """

    code = "session_not_found"


class ReusedState(CallbackError):
    """The login link was already used (e.g. the browser's Back button)."""

    code = "state_already_used"
    title = "This login link was already used"


class ExpiredState(CallbackError):
    code = "state_expired"
    title = "This login took too long"


class IssuerMismatch(CallbackError):
    """RFC 9207 section 2.4: the response names another authorization server."""

    code = "issuer_mismatch"
    title = "The login answer came from an unexpected server"


class MissingIssuer(CallbackError):
    code = "missing_issuer"
    title = "The login answer did not say which server sent it"


class MissingCode(CallbackError):
    code = "missing_code"


# --- Step 3: the token request ----------------------------------------------


class TokenRequestError(PageroError):
    """The token endpoint refused the request (RFC 6749 section 5.2)."""

    title = "Pagero refused to issue tokens"


class TokenEndpointRejectedClient(TokenRequestError):
    """``invalid_client``: this app's credentials are wrong. Not the user's
    fault, hence 502: the app is misconfigured towards its upstream."""

    status = 502
    code = "invalid_client"
    title = "This app's client credentials were rejected"


class TokenEndpointUnavailable(PageroError):
    """Not reached, or it answered with a server error: the detail says which."""

    status = 502
    code = "token_endpoint_unavailable"
    title = "Pagero's login service is not available"


class TokenEndpointTimeout(TokenEndpointUnavailable):
    status = 504
    code = "token_endpoint_timeout"
    title = "Pagero's login service did not answer in time"


class MalformedTokenResponse(PageroError):
    status = 502
    code = "malformed_token_response"
    title = "Pagero's token answer could not be understood"


class ServerMetadataUnavailable(PageroError):
    """Discovery is on, Pagero's server metadata cannot be used, and the endpoint
    needed was not set explicitly: the app does not guess it (see pagero_oauth/discovery.py)."""

    status = 503
    code = "server_metadata_unavailable"
    title = "Pagero's login service cannot be located right now"


class InvalidIdToken(PageroError):
    code = "invalid_id_token"
    title = "The identity token failed validation"


# --- After login ------------------------------------------------------------


class NotLoggedIn(PageroError):
    status = 401
    code = "login_required"
    title = "Please log in"


class SessionEnded(NotLoggedIn):
    """A timeout (``SESSION_IDLE_TIMEOUT``, ``SESSION_LIFETIME``) ended the session; the
    description says which. The code stays ``login_required``: scripts act the same."""

    title = "Your session has ended"


class CsrfRejected(PageroError):
    status = 403
    code = "csrf_rejected"
    title = "The request could not be verified"
    restart_login = False


class BadProxyPath(PageroError):
    code = "bad_api_path"
    title = "That API path is not allowed"
    restart_login = False


class UnreadableRequestBody(PageroError):
    """The browser's body broke off or was malformed (a bad chunk) while it streamed."""

    code = "unreadable_request_body"
    title = "The request body could not be read"
    restart_login = False


class RequestBodyTimeout(UnreadableRequestBody):
    """The client stopped sending its body for ``GUNICORN_CLIENT_TIMEOUT`` seconds."""

    status = 408
    code = "request_body_timeout"
    title = "The request body did not arrive in time"


class ApiPathNotAllowed(BadProxyPath):
    status = 403
    code = "api_path_not_allowed"


class UpstreamRejectedToken(PageroError):
    """The API refused the token during a streamed upload, which cannot be
    replayed; the token was renewed, so the client should simply send again."""

    status = 503
    code = "retry_after_token_renewal"
    title = "Please send the request again"
    restart_login = False


class TokenRefreshBusy(PageroError):
    status = 503
    code = "token_refresh_busy"
    title = "Your session is busy renewing its access"
    restart_login = False


class LoginInProgress(PageroError):
    """Another attempt of the same callback (a proxy's resend) is still exchanging the code."""

    status = 503
    code = "login_in_progress"
    title = "Your login is still being completed"
    restart_login = False


class SessionStoreUnavailable(PageroError):
    status = 503
    code = "session_store_unavailable"
    title = "The app is briefly unavailable"
    restart_login = False


class ApiUnavailable(PageroError):
    status = 502
    code = "api_unavailable"
    title = "The Pagero API could not be reached"
    restart_login = False


class ApiTimeout(ApiUnavailable):
    status = 504
    code = "api_timeout"
    title = "The Pagero API did not answer in time"


class PageroBusy(PageroError):
    """The worker already has ``PAGERO_MAX_IN_FLIGHT`` calls waiting on Pagero
    (:mod:`pagero_oauth.in_flight`): refused at once, so the client may retry elsewhere or later."""

    status = 503
    code = "too_many_waiting"
    title = "Too many requests are waiting for Pagero"
    restart_login = False


class ApiMalformedAnswer(ApiUnavailable):
    """The API's answer had a header no browser or server should be given (a control
    character in it, a length that is not one): refused whole, never half passed on."""

    code = "api_malformed_answer"
    title = "The Pagero API's answer could not be passed on"


class LoginExpired(NotLoggedIn):
    """The refresh token was refused: the user must log in again."""

    code = "login_expired"
    title = "Your Pagero login has ended"
