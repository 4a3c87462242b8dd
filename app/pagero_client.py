"""The OAuth 2.0 client side of Pagero's authorization-code flow.

Each public method is one step of Pagero's document
(summarised in ``docs/pagero-flow.md``):

* :meth:`PageroClient.start_login` - Step 1, authorizing the user;
* :meth:`PageroClient.check_callback` - Step 2, obtaining the authorization code;
* :meth:`PageroClient.exchange_code` - Step 3, exchanging it for tokens;
* :meth:`PageroClient.refresh` and :meth:`PageroClient.revoke` - the token's
  later life (RFC 6749 section 6, RFC 7009).

Nothing here touches ``flask.request``: the views pass in what they read, so the
protocol can be read (and tested) apart from the web framework. Authlib builds
the URLs, authenticates the client and parses token responses; this module
adds what Authlib leaves to the application: the ``state`` bookkeeping, the
RFC 9207 ``iss`` check, and errors a user can act on.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.requests_client.oauth2_session import OAuth2Auth, OAuth2ClientAuth
from authlib.oauth2.client import OAuth2Client
from flask import Flask, current_app

from config import Settings
from pagero_oauth.stores import Store as TokenStore

from . import discovery, errors, id_token, login_state, metrics, tokens
from .http_pool import Route, pooled_session
from .in_flight import InFlight
from .upstream import Failure

#: Shown instead of a value from an answer that is not bound to this browser's login.
NOT_REPEATED = "(not repeated: this answer does not belong to a login started in this browser)"

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


class PageroClient:
    """Flask extension holding the settings and one HTTP connection pool per worker."""

    def __init__(self, app: Flask | None = None):
        self.configured: Settings | None = None
        self.discovery: discovery.Discovery | None = None
        self.http: requests.Session | None = None
        #: How ``http`` reaches the API, for the API proxy's hot path on urllib3.
        self.api: Route | None = None
        self.keys: id_token.KeyCache | None = None
        #: Calls of this worker waiting on Pagero (``PAGERO_MAX_IN_FLIGHT``).
        self.in_flight: InFlight | None = None
        if app is not None:
            self.init_app(app)

    @property
    def settings(self) -> Settings:
        """The configured settings with the server metadata applied (:mod:`app.discovery`).

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

    @settings.setter
    def settings(self, configured: Settings) -> None:
        self.configured = configured
        self.discovery = None
        if configured.discovery:
            self.discovery = discovery.Discovery(configured, self._fetch_metadata)

    def init_app(self, app: Flask) -> None:
        self.settings = app.config["PAGERO_SETTINGS"]
        # As many kept-alive connections as calls may wait: none is opened to be thrown away.
        self.http = pooled_session(self.configured.max_in_flight)
        #: Called with (exception, start time) for a token-endpoint call that got no
        #: answer, which ``requests``' response hooks never see (the flow trace uses it).
        self.unanswered_hooks: list[Callable[[Exception, float], None]] = []
        self.api = Route(self.http, self.configured.api_base_url)
        self.keys = id_token.KeyCache(self._fetch_jwks)
        self.in_flight = InFlight(self.configured.max_in_flight)
        if self.discovery is not None:
            # Not read here: start-up must not wait for, or die of, an unreachable host.
            log.info(
                "discovery on: server metadata is read from %s on first use", self.discovery.url
            )
        app.extensions["pagero_client"] = self

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

    # -- Step 1: authorizing the user ---------------------------------------

    def start_login(
        self,
        session: MutableMapping[str, Any],
        *,
        scope: str | None = None,
        prompt: str | None = None,
        return_to: str | None = None,
    ) -> str:
        """Remember a new pending login in ``session``; return the URL of Pagero's login page.

        ``state`` carries 256 bits from the OS CSPRNG (RFC 6749 section 10.10
        asks for at least 128). ``nonce`` is added for ``openid`` (OpenID
        Connect Core section 3.1.2.1), the PKCE verifier unless switched off
        (RFC 7636; RFC 9700 section 2.1.1).
        """
        s = self.settings
        authorize_url = self.endpoint("authorize_url")
        login = new_login(s, scope or s.scope, return_to=return_to)
        url = self.authorization_url(authorize_url, login, prompt=prompt, settings=s)
        login_state.remember(session, _store(), login, s.state_max_age)
        metrics.login_started()
        return url

    def authorization_url(
        self,
        authorize_url: str,
        login: login_state.PendingLogin,
        *,
        prompt: str | None = None,
        settings: Settings | None = None,
    ) -> str:
        """The URL of Step 1 for ``login``: ``response_type=code``, ``client_id``,
        ``redirect_uri``, ``state``, ``scope``, the PKCE challenge, ``nonce`` and
        ``prompt`` when set. Builds only, sends nothing; the doctor sends the same
        request to see whether Pagero accepts the redirect URI (:mod:`app.doctor_login`).
        """
        extra = {k: v for k, v in (("nonce", login.nonce), ("prompt", prompt)) if v}
        url, _ = self._oauth(settings).create_authorization_url(
            authorize_url,
            state=login.state,
            code_verifier=login.code_verifier,
            scope=login.scope,
            **extra,
        )
        return url

    # -- Step 2: obtaining the authorization code --------------------------------

    @contextmanager
    def check_callback(
        self,
        session: MutableMapping[str, Any],
        params: Mapping[str, str],
        earlier_sid: str | None = None,
    ) -> Iterator[login_state.Claim]:
        """Match the redirect back from Pagero to a pending login; yield the claim on it
        (the login and its code) for as long as the ``with`` block finishes the login.

        The state is consumed first, so whatever follows, this callback URL cannot be
        replayed by anyone else; only the same browser's resend of it, after a first
        attempt that died, finishes the same login (:func:`login_state.claim`;
        ``earlier_sid`` is the session id its cookie named). The issuer is then
        compared exactly (RFC 9207 section 2.4) before the code is trusted: a code
        from another authorization server must never reach our token endpoint
        (mix-up attack).
        """
        s = self.settings
        if "error" in params:
            # The error itself is the news; the state only gets used up. RFC 9207
            # section 2.4 applies to error responses too: a foreign one is named so.
            # Pagero's own words are shown only for an answer to this browser's login:
            # anyone can send a link to /callback?error=...&error_description=...
            answered, state_error = None, None
            try:
                answered = login_state.take(session, _store(), params.get("state"), s.state_max_age)
            except errors.CallbackError as exc:
                state_error = exc
            try:
                if "iss" in params:
                    self._check_issuer(params["iss"], repeat=answered is not None)
                description = params.get("error_description") if answered else None
                raise errors.AuthorizationDenied(params["error"], description)
            except errors.CallbackError as exc:
                # Reported for its error, but the flow trace must know the state failed.
                exc.state_error = state_error
                raise

        wait = tokens.refresh_wait(s)  # as long as one token request may take
        state = params.get("state")
        with login_state.claim(
            session, _store(), state, s.state_max_age, wait, earlier_sid
        ) as claim:
            self._check_issuer(params.get("iss"))
            claim.code = params.get("code")
            if not claim.code:
                raise errors.MissingCode("The answer from Pagero has no authorization code.")
            yield claim

    def _check_issuer(self, issuer: str | None, repeat: bool = True) -> None:
        """RFC 9207 section 2.4. The issuer that arrived is shown to help fix
        ``PAGERO_ISSUER``, but only with ``repeat``: for an answer to this browser's
        login, not for a link anyone can craft."""
        s = self.settings
        if issuer is None:
            if s.require_iss:
                raise errors.MissingIssuer(
                    "The answer has no 'iss' parameter, but Pagero always names itself "
                    "(RFC 9207). It may not come from Pagero. Please start again.",
                    expected_issuer=s.issuer,
                )
        elif issuer != s.issuer:
            raise errors.IssuerMismatch(
                "The answer says it comes from a different authorization server than the "
                "one configured (RFC 9207). If the server is right, set PAGERO_ISSUER to "
                "the issuer that arrived.",
                received_issuer=issuer if repeat else NOT_REPEATED,
                expected_issuer=s.issuer,
            )

    # -- Step 3: exchanging to a token --------------------------------------------

    def exchange_code(
        self,
        login: login_state.PendingLogin,
        code: str,
        timeout: tuple[float, float] | None = None,
    ) -> tokens.TokenSet:
        """POST the code to the token endpoint with client authentication; return the tokens.

        ``redirect_uri`` is sent again because RFC 6749 section 4.1.3 requires
        it to be identical to Step 1's. An id_token, when present, is validated
        before anything is stored. ``timeout`` (connect, read) replaces the
        configured one (the doctor's ``--timeout``).
        """
        s = self.settings
        token_url = self.endpoint("token_url")
        kwargs: dict[str, Any] = {"code": code, "redirect_uri": s.redirect_uri}
        if login.code_verifier:
            kwargs["code_verifier"] = login.code_verifier
        wait = timeout or s.http_timeout
        try:
            body = self._token_request(
                lambda client: client.fetch_token(
                    token_url, grant_type="authorization_code", timeout=wait, **kwargs
                ),
                token_url,
            )
        except errors.TokenEndpointUnavailable:
            if self.discovery is not None:
                self.discovery.invalidate()  # the endpoint may have moved
            raise
        result = tokens.from_token_response(body, requested_scope=login.scope)
        if result.id_token and login.nonce is None:
            # OIDC Core section 3.1.2.1: only a nonce ties an id_token to this login.
            # A login without ``openid`` sends none, so an id_token arriving for it
            # was asked for by another login: its code was injected into this
            # callback (RFC 9700 section 4.5), and the identity is someone else's.
            raise errors.InvalidIdToken(
                "An id_token came back for a login that sent no nonce (it did not ask for "
                "'openid'), so it cannot belong to this login. Please start again."
            )
        if result.id_token:
            claims = self._validate_id_token(result.id_token, login.nonce)
            result = replace(result, id_claims=claims)
        elif "openid" in login.scope.split():
            raise errors.InvalidIdToken("'openid' was asked for, but no id_token came back.")
        return result

    def refresh(self, current: tokens.TokenSet) -> tokens.TokenSet:
        """Use the refresh token (RFC 6749 section 6); Pagero rotates it every time."""
        s = self.settings
        if not current.refresh_token:
            raise errors.LoginExpired("The access token expired and there is no refresh token.")
        token_url = self.endpoint("token_url")
        try:
            body = self._token_request(
                lambda client: client.refresh_token(
                    token_url, refresh_token=current.refresh_token, timeout=s.http_timeout
                ),
                token_url,
                scope=None,
            )
        except errors.TokenRequestError as exc:
            if exc.code != "invalid_grant":
                raise
            # RFC 6749 section 5.2: the refresh token is invalid, expired or
            # revoked. Only a new login can help; other errors keep the tokens.
            raise errors.LoginExpired(
                "Pagero no longer accepts this login's refresh token. Please log in again.",
                reason=exc.code,
            ) from None
        result = tokens.from_token_response(
            body, requested_scope=current.requested_scope, previous=current
        )
        if body.get("id_token"):
            result = replace(result, id_claims=self._refreshed_identity(result.id_token, current))
        return result

    def _refreshed_identity(self, raw: str, current: tokens.TokenSet) -> dict[str, Any]:
        """OpenID Connect Core section 12.2: a refreshed id_token must be valid and name
        the same user at the same issuer. If not, the session cannot be trusted to be
        who it was, so it ends (the new pair is dropped, never stored)."""
        try:
            claims = self._validate_id_token(raw, None)
        except errors.InvalidIdToken as exc:
            raise errors.LoginExpired(
                "The identity token that came with the renewed access was not valid. "
                "Please log in again.",
                reason=exc.code,
            ) from None
        before = current.id_claims or {}
        if before and (claims.get("iss"), claims.get("sub")) != (
            before.get("iss"),
            before.get("sub"),
        ):
            raise errors.LoginExpired(
                "The renewed identity is not the user who logged in. Please log in again.",
                reason="id_token_subject_changed",
            )
        return claims

    def revoke(self, current: tokens.TokenSet) -> None:
        """Revoke refresh then access token (RFC 7009). Failures are logged, not raised:
        the local logout must complete even when Pagero is unreachable."""
        s = self.settings
        try:
            revocation_url = self.endpoint("revocation_url")
        except errors.ServerMetadataUnavailable as exc:
            log.warning("tokens not revoked: %s", exc.description)
            return
        if not revocation_url:
            log.info("no revocation endpoint: the tokens stay valid until they expire")
            return
        for value, hint in (
            (current.refresh_token, "refresh_token"),
            (current.access_token, "access_token"),
        ):
            if not value:
                continue
            try:
                response = self._oauth().revoke_token(
                    revocation_url, token=value, token_type_hint=hint, timeout=s.http_timeout
                )
                if response.status_code != 200:
                    log.warning("revocation of %s answered HTTP %s", hint, response.status_code)
            except requests.RequestException as exc:
                log.warning("revocation of %s failed: %s", hint, type(exc).__name__)

    # -- helpers ---------------------------------------------------------------

    def _token_request(self, call, url: str, scope: str | None = None) -> dict[str, Any]:
        """Run one token-endpoint call to ``url`` and translate every failure into an
        app error (naming the variable and URL involved: :mod:`app.upstream`)."""
        client = self._oauth(scope=scope)
        started = time.time()
        variable = self.source_of("token_url")
        what = "Pagero's token endpoint"
        try:
            with self.in_flight.slot("token endpoint"), metrics.TOKEN_ENDPOINT_SECONDS.time():
                return dict(call(client))
        except (requests.ConnectionError, requests.Timeout) as exc:
            for hook in self.unanswered_hooks:
                hook(exc, started)
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


def new_login(
    settings: Settings, scope: str, return_to: str | None = None
) -> login_state.PendingLogin:
    """A fresh pending login: 256-bit ``state``, a ``nonce`` for ``openid``, a PKCE
    verifier unless ``PAGERO_USE_PKCE=false``."""
    return login_state.PendingLogin(
        state=secrets.token_urlsafe(32),
        created_at=time.time(),
        scope=scope,
        nonce=secrets.token_urlsafe(32) if "openid" in scope.split() else None,
        code_verifier=generate_token(64) if settings.use_pkce else None,
        return_to=return_to,
    )


pagero = PageroClient()


def _store() -> TokenStore:
    """Where pending logins live: beside the tokens (see :mod:`app.login_state`)."""
    return current_app.extensions["login_store"]
