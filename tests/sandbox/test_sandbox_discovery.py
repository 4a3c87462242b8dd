"""Server metadata and the JWKS."""

from __future__ import annotations

from authlib.oauth2.rfc9207.discovery import AuthorizationServerMetadata as Rfc9207Metadata
from authlib.oidc import rpinitiated
from authlib.oidc.discovery import OpenIDProviderMetadata

METADATA_PATHS = (
    "/oauth/v2/oauth-anonymous/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server/oauth/v2/oauth-anonymous",
)


def test_metadata_is_published_at_both_well_known_locations(sso):
    documents = [sso.client.get(path).get_json() for path in METADATA_PATHS]
    assert documents[0] == documents[1]


def test_metadata_names_every_endpoint_under_the_base_url(sso):
    meta = sso.client.get(METADATA_PATHS[0]).get_json()
    base = sso.BASE_URL
    assert meta["issuer"] == sso.ISSUER
    assert meta["authorization_endpoint"] == base + "/oauth/v2/oauth-authorize"
    assert meta["token_endpoint"] == base + "/oauth/v2/oauth-token"
    assert meta["jwks_uri"] == base + "/oauth/v2/oauth-anonymous/jwks"
    assert meta["revocation_endpoint"] == base + "/oauth/v2/oauth-revoke"
    assert meta["end_session_endpoint"] == base + "/oauth/v2/oauth-session/logout"


def test_metadata_advertises_what_the_sandbox_supports(sso):
    meta = sso.client.get(METADATA_PATHS[0]).get_json()
    methods = ["client_secret_basic", "client_secret_post"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["scopes_supported"] == ["all", "openid"]
    assert meta["token_endpoint_auth_methods_supported"] == methods
    assert meta["revocation_endpoint_auth_methods_supported"] == methods
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["subject_types_supported"] == ["public"]
    assert set(meta["prompt_values_supported"]) >= {"login", "none"}
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_metadata_passes_authlibs_validation(sso):
    meta = sso.client.get(METADATA_PATHS[0]).get_json()
    OpenIDProviderMetadata(meta).validate(
        metadata_classes=[rpinitiated.OpenIDProviderMetadata, Rfc9207Metadata]
    )


def test_metadata_follows_a_configured_base_url_and_issuer(make_sso):
    other = make_sso(
        SANDBOX_BASE_URL="http://sandbox.test:8080/",
        SANDBOX_ISSUER="http://sandbox.test:8080/oauth/v2/oauth-anonymous",
    )
    meta = other.client.get(METADATA_PATHS[0]).get_json()
    assert meta["issuer"] == "http://sandbox.test:8080/oauth/v2/oauth-anonymous"
    assert meta["token_endpoint"] == "http://sandbox.test:8080/oauth/v2/oauth-token"


def test_jwks_publishes_only_public_signing_keys(sso, state):
    keys = sso.client.get("/oauth/v2/oauth-anonymous/jwks").get_json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kid"] == state.keys.current_kid
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_jwks_keeps_old_keys_after_rotation(sso, state):
    old_kid = state.keys.current_kid
    new_kid = state.rotate_signing_key()
    kids = [k["kid"] for k in sso.client.get("/oauth/v2/oauth-anonymous/jwks").get_json()["keys"]]
    assert kids == [old_kid, new_kid]
