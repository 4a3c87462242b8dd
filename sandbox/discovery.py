"""Server metadata (OIDC Discovery 1.0, RFC 8414) and the JWKS that verifies id_tokens."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, jsonify

from sandbox import faults
from sandbox.models import AUTH_METHODS, GRANT_TYPES, SUPPORTED_SCOPES
from sandbox.settings import ISSUER_PATH, SandboxSettings
from sandbox.signing_keys import ALGORITHM
from sandbox.sso import AUTHORIZE_PATH, LOGOUT_PATH
from sandbox.state import current_state
from sandbox.token_endpoint import REVOKE_PATH, TOKEN_PATH

JWKS_PATH = ISSUER_PATH + "/jwks"


def server_metadata(
    settings: SandboxSettings, active_faults: Collection[str] = ()
) -> dict[str, Any]:
    """The metadata document: what a client needs to find and check every endpoint.

    ``active_faults`` may make it another server's document or drop optional endpoints.
    """
    issuer, base = settings.issuer, settings.base_url
    if faults.METADATA_WRONG_ISSUER in active_faults:
        issuer = faults.WRONG_ISSUER
        parts = urlsplit(issuer)
        base = f"{parts.scheme}://{parts.netloc}"
    document = {
        "issuer": issuer,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "end_session_endpoint": base + LOGOUT_PATH,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "scopes_supported": list(SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "subject_types_supported": ["public"],
        "prompt_values_supported": ["none", "login"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "email",
            "preferred_username",
            "publicid",
            "company_id",
            "company_name",
        ],
        # RFC 9207 §3: clients may then insist on iss in every authorization response.
        "authorization_response_iss_parameter_supported": True,
    }
    if faults.NO_REVOCATION_ENDPOINT in active_faults:
        del document["revocation_endpoint"]
        del document["revocation_endpoint_auth_methods_supported"]
    if faults.NO_END_SESSION_ENDPOINT in active_faults:
        del document["end_session_endpoint"]
    return document


def metadata():
    state = current_state()
    if faults.METADATA_503 in state.faults:
        return jsonify(error="temporarily_unavailable"), 503
    return jsonify(server_metadata(state.settings, state.faults))


def jwks():
    return jsonify(current_state().keys.public_jwks())


def init_app(app: Flask, settings: SandboxSettings) -> None:
    """Publish metadata where both specs look for it, derived from the issuer's path.

    OIDC Discovery §4 appends ``/.well-known/openid-configuration`` to the issuer; RFC 8414
    §3 inserts ``/.well-known/oauth-authorization-server`` before the issuer's path.
    """
    issuer_path = urlsplit(settings.issuer).path.rstrip("/")
    app.add_url_rule(
        f"{issuer_path}/.well-known/openid-configuration", "openid_configuration", metadata
    )
    app.add_url_rule(
        f"/.well-known/oauth-authorization-server{issuer_path}",
        "oauth_authorization_server",
        metadata,
    )
    app.add_url_rule(JWKS_PATH, "jwks", jwks)
