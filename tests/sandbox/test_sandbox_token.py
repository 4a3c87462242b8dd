"""Step 3: exchanging the code for tokens at the token endpoint."""

from __future__ import annotations

import re

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

ACCESS_TOKEN = re.compile(
    r"_0XBPWQQ_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
REFRESH_TOKEN = re.compile(
    r"_1XBPWQQ_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def test_token_response_is_shaped_exactly_like_pageros_example(sso):
    response = sso.exchange(sso.code())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert list(body) == [
        "token_type",
        "access_token",
        "refresh_token",
        "scope",
        "claims",
        "expires_in",
    ]
    assert body["token_type"] == "bearer"
    assert ACCESS_TOKEN.fullmatch(body["access_token"])
    assert REFRESH_TOKEN.fullmatch(body["refresh_token"])
    assert body["scope"] == "" and body["claims"] == "publicid" and body["expires_in"] == 600


def test_expires_in_follows_the_configured_access_token_ttl(make_sso):
    assert make_sso(SANDBOX_ACCESS_TOKEN_TTL="90").tokens()["expires_in"] == 90


def test_client_can_authenticate_with_form_body_credentials(sso):
    response = sso.exchange(sso.code(), auth="post")
    assert response.status_code == 200 and "access_token" in response.get_json()


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_wrong_client_secret_is_401_invalid_client_with_basic_challenge(sso, auth):
    code = sso.code()
    response = sso.token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": sso.REDIRECT_URI},
        auth=auth,
        secret="not-the-secret",
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pagero-sandbox"'


def test_missing_client_authentication_is_401_invalid_client(sso):
    code = sso.code()
    response = sso.token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": sso.REDIRECT_URI},
        auth="none",
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_unknown_client_id_in_basic_auth_is_401(sso):
    response = sso.client.post(
        "/oauth/v2/oauth-token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": sso.REDIRECT_URI},
        auth=("someone-else", "secret"),
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pagero-sandbox"'


def test_unsupported_grant_type_is_refused(sso):
    response = sso.token_request({"grant_type": "password", "username": "demo"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_missing_code_is_invalid_request(sso):
    response = sso.token_request(
        {"grant_type": "authorization_code", "redirect_uri": sso.REDIRECT_URI}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_code_is_single_use(sso, state):
    code = sso.code()
    assert sso.exchange(code).status_code == 200
    second = sso.exchange(code)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert state.counts["authorization_code"] == 1


def test_code_replay_revokes_the_tokens_issued_from_it(sso):
    code = sso.code()
    tokens = sso.exchange(code).get_json()
    assert sso.api("/document/v1/documents", tokens["access_token"]).status_code == 200
    assert sso.exchange(code).status_code == 400
    assert sso.api("/document/v1/documents", tokens["access_token"]).status_code == 401
    refreshed = sso.refresh(tokens["refresh_token"])
    assert refreshed.get_json()["error"] == "invalid_grant"


def test_code_expires_after_code_ttl(sso, state):
    code = sso.code()
    state.advance_clock(61)
    response = sso.exchange(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_code_is_good_just_before_code_ttl(sso, state):
    code = sso.code()
    state.advance_clock(55)
    assert sso.exchange(code).status_code == 200


def test_code_is_bound_to_its_redirect_uri(sso):
    response = sso.exchange(sso.code(), redirect_uri="http://localhost:5000/other")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_code_exchange_without_redirect_uri_is_invalid_grant(sso):
    code = sso.code()
    response = sso.token_request({"grant_type": "authorization_code", "code": code})
    assert response.get_json()["error"] == "invalid_grant"


def test_unknown_code_is_invalid_grant(sso):
    response = sso.exchange("0F7ijeaW4BCwhvyg6ozY9PeLsFF6KUi1")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_pkce_s256_with_matching_verifier_succeeds(sso):
    verifier, challenge = sso.make_pkce()
    code = sso.code(code_challenge=challenge, code_challenge_method="S256")
    assert sso.exchange(code, code_verifier=verifier).status_code == 200


@pytest.mark.parametrize("verifier", [None, "x" * 43, "short"])
def test_pkce_missing_or_wrong_verifier_is_invalid_grant(sso, verifier):
    _, challenge = sso.make_pkce()
    code = sso.code(code_challenge=challenge, code_challenge_method="S256")
    extra = {} if verifier is None else {"code_verifier": verifier}
    response = sso.exchange(code, **extra)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_pkce_verifier_is_hashed_not_compared_plainly(sso):
    # S256 (RFC 7636 section 4.6): sending the challenge itself as the verifier, which
    # a "plain" comparison would accept, is refused.
    _, challenge = sso.make_pkce()
    code = sso.code(code_challenge=challenge, code_challenge_method="S256")
    response = sso.exchange(code, code_verifier=challenge)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def _verify_id_token(client, id_token):
    jwks = KeySet.import_key_set(client.get("/oauth/v2/oauth-anonymous/jwks").get_json())
    return jwt.decode(id_token, jwks, algorithms=["RS256"])


def test_openid_scope_adds_an_id_token_that_verifies_against_the_jwks(sso, state):
    body = sso.tokens(scope="all openid", nonce="nonce-42")
    assert list(body)[-1] == "id_token"
    token = _verify_id_token(sso.client, body["id_token"])
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] == state.keys.current_kid
    JWTClaimsRegistry(
        now=int(state.now()),
        iss={"essential": True, "value": sso.ISSUER},
        aud={"essential": True, "value": sso.CLIENT_ID},
        sub={"essential": True, "value": "6f1c2a9e-3b0d-4c55-9a61-0d5e8f7a1001"},
        nonce={"essential": True, "value": "nonce-42"},
    ).validate(token.claims)
    claims = token.claims
    assert claims["exp"] > claims["iat"] >= claims["auth_time"]
    assert claims["name"] == "Dana Demo"
    assert claims["email"] == "dana.demo@demo-company.example"
    assert claims["preferred_username"] == "demo"
    assert claims["publicid"] == claims["sub"]
    assert claims["company_id"] == "1000001"
    assert claims["company_name"] == "Demo Company AB"


def test_id_token_without_nonce_request_carries_no_nonce(sso):
    body = sso.tokens(scope="openid")
    assert "nonce" not in _verify_id_token(sso.client, body["id_token"]).claims


def test_id_token_times_follow_the_sandbox_clock(sso, state):
    state.advance_clock(3600)
    body = sso.tokens(scope="openid")
    claims = _verify_id_token(sso.client, body["id_token"]).claims
    assert abs(claims["iat"] - state.now()) < 5


def test_scope_all_gives_no_id_token(sso):
    assert "id_token" not in sso.tokens(scope="all")


def test_each_user_gets_their_own_subject_and_company(sso):
    body = sso.tokens("bob", scope="openid")
    claims = _verify_id_token(sso.client, body["id_token"]).claims
    assert claims["preferred_username"] == "bob"
    assert claims["company_name"] == "Bob Logistics GmbH"


def test_rotated_signing_key_signs_new_id_tokens_and_old_key_stays_published(sso, state):
    old = sso.tokens(scope="openid")["id_token"]
    old_kid = state.keys.current_kid
    new_kid = state.rotate_signing_key()
    sso.client.delete_cookie("pagero_sandbox_sso")
    new = sso.tokens(scope="openid")["id_token"]
    assert new_kid != old_kid
    assert _verify_id_token(sso.client, new).header["kid"] == new_kid
    assert _verify_id_token(sso.client, old).header["kid"] == old_kid


def test_issued_secrets_lists_every_code_and_token_and_the_client_secret(sso, state):
    code = sso.code(scope="openid")
    body = sso.exchange(code).get_json()
    secrets = state.issued_secrets()
    for value in (code, body["access_token"], body["refresh_token"], body["id_token"]):
        assert value in secrets
    assert sso.CLIENT_SECRET in secrets


def test_sandbox_answers_on_a_non_loopback_host_name_over_plain_http(sso):
    # Docker and QA reach the sandbox as e.g. http://sandbox:5001; Authlib alone would
    # refuse plain HTTP there (insecure_transport), the sandbox must not.
    sso.base_url = "http://sandbox:5001"
    code = sso.code()
    response = sso.exchange(code)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert sso.revoke(response.get_json()["refresh_token"]).status_code == 200
