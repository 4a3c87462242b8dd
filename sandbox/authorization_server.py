"""The sandbox's OAuth 2.0 authorization server, assembled from Authlib's components.

Authlib does the protocol work (request validation, client authentication, grant dispatch,
RFC 7009 revocation, RP-initiated logout); this module wires it to :mod:`sandbox.state` and
adds what Pagero does differently: its token response shape, ``iss`` on every authorization
redirect (RFC 9207), and 401 + ``WWW-Authenticate`` for every ``invalid_client``.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from authlib.common.security import is_secure_transport
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import current_app, session
from flask import request as flask_request

from sandbox import faults
from sandbox.grants import (
    PageroAuthorizationCodeGrant,
    PageroRefreshTokenGrant,
    S256CodeChallenge,
)
from sandbox.id_tokens import IdTokenExtension
from sandbox.models import AUTH_METHODS, SUPPORTED_SCOPES, Token
from sandbox.signing_keys import ALGORITHM
from sandbox.state import SandboxState

SERVER_KEY = "pagero_sandbox_server"
#: Realm named in every ``WWW-Authenticate`` challenge the sandbox sends.
REALM = "pagero-sandbox"


class SandboxOAuth2Request(FlaskOAuth2Request):
    """Flask request adapter that lets the sandbox serve plain HTTP on any host name.

    Authlib refuses non-TLS requests unless the host is loopback (RFC 6749 §1.6, §3.1). The
    sandbox is a local stand-in that docker or QA may reach as ``http://sandbox:5001``, and it
    never sees a real credential, so the check runs against a loopback alias of the URL.
    """

    def __init__(self, request) -> None:
        uri = request.url
        if not is_secure_transport(uri):
            uri = "http://localhost" + request.full_path
        OAuth2Request.__init__(self, method=request.method, uri=uri, headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class SandboxIssuerParameter(IssuerParameter):
    """RFC 9207 §2: ``iss`` on every authorization response, success or error.

    The ``wrong_iss`` and ``missing_iss`` faults live here, the one place ``iss`` is added.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def get_issuer(self) -> str | None:
        if faults.MISSING_ISS in self.state.faults:
            return None
        if faults.WRONG_ISS in self.state.faults:
            return faults.WRONG_ISSUER
        return self.state.settings.issuer


class SandboxRevocationEndpoint(RevocationEndpoint):
    """RFC 7009 token revocation, authenticated like the token endpoint."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def check_params(self, request, client) -> None:
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' parameter.")
        # RFC 7009 §2.1: an unknown token_type_hint is ignored, not an error; the sandbox
        # looks the token up in every store whatever the hint says.

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.state.find_token(token_string)

    def revoke_token(self, token: Token, request) -> None:
        self.server.state.revoke(token)


class SandboxEndSessionEndpoint(EndSessionEndpoint):
    """OIDC RP-Initiated Logout: ends the sandbox SSO login.

    Pagero clients using scope ``all`` have no id_token to send as ``id_token_hint``, so a
    registered ``post_logout_redirect_uri`` is honoured without one; the sandbox's single
    client is assumed when the request names none. An unregistered URI is an error (§3).
    """

    def get_server_jwks(self) -> dict[str, Any]:
        return self.server.state.keys.public_jwks()

    def get_algorithms(self) -> list[str]:
        return [ALGORITHM]

    def is_post_logout_redirect_uri_legitimate(self, request, uri, client, hint) -> bool:
        return True

    def validate_request(self, request: OAuth2Request) -> EndSessionRequest:
        validated = super().validate_request(request)
        data = request.payload.data
        uri = data.get("post_logout_redirect_uri")
        if uri and validated.redirect_uri is None:
            client = validated.client or self.server.state.client
            if not self._is_valid_post_logout_redirect_uri(client, uri):
                raise InvalidRequestError("post_logout_redirect_uri is not registered")
            state = data.get("state")
            validated.redirect_uri = add_params_to_uri(uri, {"state": state}) if state else uri
        return validated

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        self.server.state.end_login(session.get("sid"))
        session.clear()


class SandboxAuthorizationServer(AuthorizationServer):
    """Authlib's Flask authorization server bound to one :class:`SandboxState`."""

    def __init__(self, state: SandboxState) -> None:
        super().__init__()
        self.state = state
        self.scopes_supported = list(SUPPORTED_SCOPES)
        self.register_token_generator("default", self.generate_pagero_token)
        self.register_grant(PageroAuthorizationCodeGrant, [S256CodeChallenge(), IdTokenExtension()])
        self.register_grant(PageroRefreshTokenGrant, [IdTokenExtension()])
        self.register_endpoint(SandboxRevocationEndpoint)
        self.register_endpoint(SandboxEndSessionEndpoint)
        self.register_extension(SandboxIssuerParameter(state))

    def query_client(self, client_id: str):
        client = self.state.client
        return client if client_id == client.client_id else None

    def create_oauth2_request(self, request) -> OAuth2Request:
        return SandboxOAuth2Request(flask_request)

    def generate_pagero_token(
        self,
        grant_type: str,
        client,
        user=None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """A token response shaped exactly like Pagero's example (Step 3).

        Lower-case ``bearer`` (RFC 6749 §5.1 makes the type case-insensitive), an empty
        ``scope`` string whatever was granted, and ``"claims": "publicid"``.
        """
        token: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": f"_0XBPWQQ_{uuid.uuid4()}",
        }
        if include_refresh_token:
            token["refresh_token"] = f"_1XBPWQQ_{uuid.uuid4()}"
        token["scope"] = ""
        token["claims"] = "publicid"
        token["expires_in"] = self.state.access_token_ttl()
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        parent: Token | None = request.refresh_token
        code = request.authorization_code
        scope = parent.scope if parent is not None else code.scope
        if parent is not None and request.payload.scope:
            # A refresh may narrow the scope; Authlib has already refused widening it
            # (RFC 6749 §6).
            scope = request.payload.scope
        self.state.store_tokens(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            scope=scope,
            code=code,
            parent=parent,
        )
        self.state.count(request.payload.grant_type)

    def handle_error_response(self, request, error):
        """RFC 6749 §5.2: invalid_client is 401 with a challenge for the scheme the client
        could use; Pagero answers that way for Basic and form-body credentials alike."""
        if isinstance(error, InvalidClientError):
            error.status_code = 401
            status, body, headers = error(self.get_error_uri(request, error))
            headers = [h for h in headers if h[0].lower() != "www-authenticate"]
            headers.append(("WWW-Authenticate", f'Basic realm="{REALM}"'))
            return self.handle_response(status, body, headers)
        return super().handle_error_response(request, error)

    def authorization_error_redirect(self, error):
        """Send an error back to the client's redirect_uri, with ``iss`` like any other
        authorization response (RFC 6749 §4.1.2.1, RFC 9207 §2)."""
        response = self.handle_error_response(None, error)
        self.execute_hook("after_create_authorization_response", response)
        return response


def current_server() -> SandboxAuthorizationServer:
    """The authorization server of the sandbox app handling the current request."""
    return current_app.extensions[SERVER_KEY]
