"""Where Pagero's endpoints are, and how one call to them goes: the base of the client.

:class:`Endpoints` holds what every step shares: the settings (with the server metadata
applied, :mod:`pagero_oauth.discovery`), the pooled HTTP session it was given
(:mod:`pagero_oauth.http`), the worker's cap on calls waiting for Pagero
(:mod:`pagero_oauth.in_flight`), the id_token keys, and the one way a token-endpoint
call is made and its failures turned into errors a user can act on. The steps
themselves are in :mod:`pagero_oauth.client`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.requests_client.oauth2_session import OAuth2Auth, OAuth2ClientAuth
from authlib.oauth2.client import OAuth2Client

from . import discovery, errors, id_token
from .failures import Failure
from .in_flight import InFlight
from .observer import Observer
from .settings import Settings

log = logging.getLogger(__name__)

#: Seconds to wait for the server metadata (at most; PAGERO_HTTP_READ_TIMEOUT if shorter).
METADATA_READ_TIMEOUT = 5.0


class _AuthlibClient(OAuth2Client):
    """Authlib's protocol client on our shared, pooled ``requests.Session``.

    Authlib's ``OAuth2Session`` *is* a ``requests.Session`` and remembers the
    last token it fetched; sharing one across users would keep one user's
    token on an object every thread sees. This per-call client is cheap and
    stateless, while the connection pool underneath is shared (keep-alive).
    """

    client_auth_class = OAuth2ClientAuth
    token_auth_class = OAuth2Auth
    oauth_error_class = OAuth2Session.oauth_error_class
    SESSION_REQUEST_PARAMS = OAuth2Session.SESSION_REQUEST_PARAMS


class Endpoints:
    """Settings, HTTP session and endpoint lookups shared by every step of the flow."""

    def __init__(
        self, settings: Settings, http: requests.Session, observer: Observer | None = None
    ):
        #: The settings as configured (no server metadata applied; never a network call).
        self.configured = settings
        #: The outgoing HTTP session, pooled and cookieless (:mod:`pagero_oauth.http`).
        self.http = http
        self.observer = observer or Observer()
        self.discovery: discovery.Discovery | None = None
        if settings.discovery:
            self.discovery = discovery.Discovery(settings, self._fetch_metadata)
            # Not read here: start-up must not wait for, or die of, an unreachable host.
            log.info(
                "discovery on: server metadata is read from %s on first use", self.discovery.url
            )
        self.keys = id_token.KeyCache(self._fetch_jwks)
        #: Calls of this worker waiting on Pagero (``PAGERO_MAX_IN_FLIGHT``).
        self.in_flight = InFlight(settings.max_in_flight, self.observer)

    @property
    def settings(self) -> Settings:
        """The configured settings with the server metadata applied (:mod:`pagero_oauth.discovery`).

        With discovery on, the first use in a worker reads the metadata, so it
        may wait for one short timeout; later uses read the cache. While the
        metadata cannot be read, endpoints not set explicitly are None here: read
        an endpoint through :meth:`endpoint`, which says why.
        """
        if self.discovery is None:
            return self.configured
        return self.discovery.settings()

    def endpoint(self, attr: str) -> str | None:
        """The URL of one of Pagero's endpoints (``authorize_url``, ``token_url``,
        ``jwks_uri``, ``revocation_url``, ``end_session_url``); None: there is none.

        With discovery on and the metadata unreadable or refused, an endpoint not set
        through its variable raises :class:`errors.ServerMetadataUnavailable` (503):
        never the profile's default, which may be the wrong server.
        """
        if self.discovery is None:
            return getattr(self.configured, attr)
        try:
            return self.discovery.endpoint(attr)
        except discovery.EndpointUnknown as exc:
            raise self._metadata_unavailable(exc) from None

    def source_of(self, attr: str) -> str:
        """Where the URL of an endpoint came from, named for the person who must fix it:
        its variable, or the metadata document's member when discovery supplied it."""
        _attr, member, env = next(e for e in discovery.ENDPOINTS if e[0] == attr)
        if self.discovery is None or attr in self.configured.explicit:
            return env
        return f"{member} (from PAGERO_METADATA_URL)"

    def _oauth(self, settings: Settings | None = None, **kwargs: Any) -> _AuthlibClient:
        s = settings or self.settings
        return _AuthlibClient(
            self.http,
            client_id=s.client_id,
            client_secret=s.client_secret,
            token_endpoint_auth_method=s.token_auth_method,
            # RFC 7009 section 2.1: the client authenticates at the revocation
            # endpoint as it does at the token endpoint.
            revocation_endpoint_auth_method=s.token_auth_method,
            redirect_uri=s.redirect_uri,
            code_challenge_method="S256" if s.use_pkce else None,
            **kwargs,
        )

    def _token_request(self, call, url: str, scope: str | None = None) -> dict[str, Any]:
        """Run one token-endpoint call to ``url`` and translate every failure into an
        error of the family (naming the variable and URL involved: :mod:`pagero_oauth.failures`)."""
        client = self._oauth(scope=scope)
        started = time.time()
        variable = self.source_of("token_url")
        what = "Pagero's token endpoint"
        try:
            with self.in_flight.slot("token endpoint"), self.observer.token_call():
                return dict(call(client))
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.observer.token_call_unanswered(exc, started)
            failure = Failure.from_exception(variable, url, exc, self.configured)
            # A connect timeout is a ConnectionError too: only a read timeout is a 504.
            kind = (
                errors.TokenEndpointTimeout
                if failure.cause == "read_timeout"
                else errors.TokenEndpointUnavailable
            )
            raise kind(failure.plainly(what), failure=failure) from None
        except requests.HTTPError as exc:
            failure = Failure.from_exception(variable, url, exc, self.configured)
            raise errors.TokenEndpointUnavailable(failure.plainly(what), failure=failure) from None
        except ValueError:
            raise errors.MalformedTokenResponse(
                "Pagero's token endpoint answered with something that is not a JSON object."
            ) from None
        except client.oauth_error_class as exc:
            raise _token_error(exc.error, exc.description) from None

    def _validate_id_token(self, raw: str, nonce: str | None) -> dict[str, Any]:
        s = self.settings
        metadata = self.discovery.metadata() if self.discovery is not None else None
        try:
            return id_token.validate(
                raw,
                issuer=s.issuer,
                client_id=s.client_id,
                nonce=nonce,
                keys=self.keys if self.endpoint("jwks_uri") else None,
                algorithms=id_token.allowed_algorithms(
                    metadata.id_token_algorithms if metadata else None
                ),
            )
        except requests.RequestException as exc:
            if self.discovery is not None:
                self.discovery.invalidate()  # the JWKS may have moved
            failure = Failure.from_exception(
                self.source_of("jwks_uri"), self.endpoint("jwks_uri"), exc, self.configured
            )
            raise errors.TokenEndpointUnavailable(
                "The keys that sign Pagero's id_tokens could not be fetched. "
                + failure.plainly("the server that publishes them"),
                failure=failure,
            ) from None

    def _fetch_jwks(self) -> dict[str, Any]:
        response = self.http.get(self.endpoint("jwks_uri"), timeout=self.settings.http_timeout)
        response.raise_for_status()
        return response.json()

    def _metadata_unavailable(
        self, exc: discovery.EndpointUnknown
    ) -> errors.ServerMetadataUnavailable:
        """The 503 for an endpoint only the unusable server metadata could name."""
        c = self.configured
        what = _METADATA_FAILURES.get(exc.failure or "", "has not been read yet")
        common = {
            "hint": f"Or set {exc.env} explicitly.",
            "extra": {"reason": exc.failure or "not_read", "endpoint": exc.env},
        }
        error = self.discovery.last_error
        if exc.failure == "refused":
            failure = Failure(
                "PAGERO_METADATA_URL", c.metadata_url, "metadata_refused", note=str(error), **common
            )
        elif exc.failure == "not_json":
            failure = Failure("PAGERO_METADATA_URL", c.metadata_url, "not_json", **common)
        elif error is not None:
            failure = Failure.from_exception(
                "PAGERO_METADATA_URL", c.metadata_url, error, c, **common
            )
            if failure.cause == "read_timeout":
                # Its own, shorter read timeout (_fetch_metadata).
                waited = min(c.http_read_timeout, METADATA_READ_TIMEOUT)
                failure = replace(failure, waited=waited, timeout_variable=None)
        else:  # another request's first read is still under way
            waited = discovery.Discovery.FIRST_READ_WAIT
            failure = Failure(
                "PAGERO_METADATA_URL", c.metadata_url, "read_timeout", waited=waited, **common
            )
        retry = " Please try again in a few minutes." if failure.retry_helps else ""
        return errors.ServerMetadataUnavailable(
            f"The app takes the address of Pagero's {_ENDPOINT_NAMES[exc.attr]} from Pagero's "
            f"server metadata, and that document {what}. It does not fall back to a built-in "
            f"address, which could be the wrong server.{retry}",
            failure=failure,
        )

    def _fetch_metadata(self, url: str) -> Any:
        # A short read timeout: this may run inside the first user's request.
        c = self.configured
        timeout = (c.http_connect_timeout, min(c.http_read_timeout, METADATA_READ_TIMEOUT))
        response = self.http.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()


#: What each endpoint is, for the page that says it cannot be located.
_ENDPOINT_NAMES = {
    "authorize_url": "login page",
    "token_url": "token endpoint",
    "jwks_uri": "signing keys",
    "revocation_url": "revocation endpoint",
    "end_session_url": "logout endpoint",
}
#: Discovery.failure -> what happened to the metadata document, in words.
_METADATA_FAILURES = {
    "refused": "was read but refused: it names another issuer than PAGERO_ISSUER, or "
    "lacks what the app needs (the log says which)",
    "unreachable": "could not be reached",
    "http_error": "was answered with an HTTP error",
    "not_json": "is not a JSON document",
}


def _token_error(code: str | None, description: str | None) -> errors.PageroError:
    said = f" Pagero said: {description}" if description else ""
    if code == "invalid_client":
        return errors.TokenEndpointRejectedClient(
            "Pagero rejected this app's client credentials (invalid_client). Check "
            "PAGERO_CLIENT_ID, PAGERO_CLIENT_SECRET and PAGERO_TOKEN_AUTH_METHOD." + said
        )
    if code == "invalid_grant":
        error = errors.TokenRequestError(
            "Pagero refused the authorization code (invalid_grant): it has expired or "
            "was already used. Please start again." + said
        )
    else:
        error = errors.TokenRequestError(
            f"Pagero's token endpoint answered with the error {code!r}." + said
        )
        error.status = 502
    error.code = code or "token_error"
    return error
