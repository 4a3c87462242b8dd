"""Authlib grants configured the way Pagero's SSO behaves.

Step 1 and 2 (authorize, get a code) and Step 3 (exchange the code) run through
:class:`PageroAuthorizationCodeGrant`; refreshing runs through
:class:`PageroRefreshTokenGrant`. Storage lives in :mod:`sandbox.state`; these classes only
adapt Authlib's hooks to it.
"""

from __future__ import annotations

from typing import ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge

from sandbox import faults
from sandbox.models import AUTH_METHODS, AuthorizationCode, Login, Token


class PageroAuthorizationCodeGrant(AuthorizationCodeGrant):
    """Authorization code grant (RFC 6749 §4.1) with Pagero's code format and auth methods."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
    #: Pagero's codes look like ``0F7ijeaW4BCwhvyg6ozY9PeLsFF6KUi1``.
    AUTHORIZATION_CODE_LENGTH = 32

    def save_authorization_code(self, code: str, request) -> None:
        state = self.server.state
        data = request.payload.data
        login: Login = request.user
        state.save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                login=login,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=state.now() + state.settings.code_ttl,
            )
        )

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        # Claiming marks the code used at once, so two racing exchanges cannot both win.
        return self.server.state.claim_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept (already marked used) so a replay is recognised and its tokens revoked.
        pass

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Login:
        return authorization_code.login


class PageroRefreshTokenGrant(RefreshTokenGrant):
    """Refresh with rotation: each refresh token works once and is replaced (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self) -> None:
        try:
            super().validate_token_request()
        except InvalidGrantError:
            self.server.state.count("refresh_token_rejected")
            raise

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        state = self.server.state
        if faults.REFRESH_INVALID_GRANT in state.faults:
            return None
        # Authlib has authenticated the client by now; a token of another client is refused.
        return state.claim_refresh_token(refresh_token, self.request.client.get_client_id())

    def authenticate_user(self, refresh_token: Token) -> Login:
        return refresh_token.login

    def revoke_old_credential(self, refresh_token: Token) -> None:
        # Already marked used when claimed; kept so its reuse can be detected.
        pass


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636) with S256 only.

    ``plain`` offers no protection if the authorization request leaks (RFC 9700 §2.1.1),
    and a challenge without a method means ``plain`` (RFC 7636 §4.3), so both are refused.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def __init__(self) -> None:
        # Not "required": this is a confidential client and Pagero documents a flow without
        # PKCE; a code that had a challenge always needs its verifier, though.
        super().__init__(required=False)

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")

    def validate_code_verifier(self, grant, result) -> None:
        # A missing or malformed verifier for a code that has a challenge is as wrong as a
        # mismatching one: RFC 7636 §4.6 answers invalid_grant.
        try:
            super().validate_code_verifier(grant, result)
        except InvalidRequestError as error:
            code = grant.request.authorization_code
            if code is not None and code.code_challenge:
                raise InvalidGrantError(error.description) from error
            raise
