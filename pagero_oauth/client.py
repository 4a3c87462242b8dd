"""The OAuth 2.0 client side of Pagero's authorization-code flow.

Each public method is one step of Pagero's document
(summarised in ``docs/pagero-flow.md``):

* :meth:`PageroClient.start_login` - Step 1, authorizing the user;
* :meth:`PageroClient.check_callback` - Step 2, obtaining the authorization code;
* :meth:`PageroClient.exchange_code` - Step 3, exchanging it for tokens;
* :meth:`PageroClient.refresh` and :meth:`PageroClient.revoke` - the token's
  later life (RFC 6749 section 6, RFC 7009); ``client.tokens``
  (:class:`~pagero_oauth.keeper.TokenKeeper`) keeps a session's tokens and refreshes
  them exactly once across workers.

Built from settings, an HTTP session and a store, as Authlib's ``base_client`` is:
``PageroClient(settings, http=pooled_session(), store=stores.build(...).tokens)``.
Nothing here touches a web framework: callers pass in what they read (a ``session``
is any ``MutableMapping``), so the protocol can be read (and tested) apart from Flask.
Authlib builds the URLs, authenticates the client and parses token responses; this
module adds what Authlib leaves to the application: the ``state`` bookkeeping, the
RFC 9207 ``iss`` check, and errors a user can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import requests

from . import errors, logins, tokens
from .endpoints import Endpoints
from .keeper import TokenKeeper, refresh_wait
from .observer import Observer
from .settings import Settings
from .stores.base import Store

#: Shown instead of a value from an answer that is not bound to this browser's login.
NOT_REPEATED = "(not repeated: this answer does not belong to a login started in this browser)"

log = logging.getLogger(__name__)


class PageroClient(Endpoints):
    """Pagero's flow for one app: settings + an HTTP session + a store."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: requests.Session,
        store: Store,
        observer: Observer | None = None,
    ):
        super().__init__(settings, http, observer)
        #: Pending logins live beside the tokens (:mod:`pagero_oauth.logins` says why).
        self.login_store = store.sibling("logins")
        self.tokens = TokenKeeper(store, settings, self.observer)

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
        login = logins.new_login(s, scope or s.scope, return_to=return_to)
        url = self.authorization_url(authorize_url, login, prompt=prompt, settings=s)
        logins.remember(session, self.login_store, login, s.state_max_age)
        self.observer.login_started()
        return url

    def authorization_url(
        self,
        authorize_url: str,
        login: logins.PendingLogin,
        *,
        prompt: str | None = None,
        settings: Settings | None = None,
    ) -> str:
        """The URL of Step 1 for ``login``: ``response_type=code``, ``client_id``,
        ``redirect_uri``, ``state``, ``scope``, the PKCE challenge, ``nonce`` and
        ``prompt`` when set. Builds only, sends nothing; the doctor sends the same
        request to see whether Pagero accepts the redirect URI (app/qa/doctor_login.py).
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
    ) -> Iterator[logins.Claim]:
        """Match the redirect back from Pagero to a pending login; yield the claim on it
        (the login and its code) for as long as the ``with`` block finishes the login.

        The state is consumed first, so whatever follows, this callback URL cannot be
        replayed by anyone else; only the same browser's resend of it, after a first
        attempt that died, finishes the same login (:func:`logins.claim`;
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
                answered = logins.take(
                    session, self.login_store, params.get("state"), s.state_max_age
                )
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

        wait = refresh_wait(s)  # as long as one token request may take
        state = params.get("state")
        with logins.claim(
            session, self.login_store, state, s.state_max_age, wait, earlier_sid
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
        login: logins.PendingLogin,
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
