"""Refreshing: single-use refresh tokens, rotation, and reuse detection."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet


def test_refresh_rotates_both_tokens_with_the_same_response_shape(sso, state):
    first = sso.tokens()
    response = sso.refresh(first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert list(body) == list(first)
    assert body["access_token"] != first["access_token"]
    assert body["refresh_token"] != first["refresh_token"]
    assert body["token_type"] == "bearer" and body["scope"] == "" and body["expires_in"] == 600
    assert state.counts["refresh_token"] == 1


def test_refresh_works_with_form_body_client_credentials(sso):
    assert sso.refresh(sso.tokens()["refresh_token"], auth="post").status_code == 200


def test_refreshed_access_token_works_at_the_api(sso):
    body = sso.refresh(sso.tokens()["refresh_token"]).get_json()
    assert sso.api("/document/v1/documents", body["access_token"]).status_code == 200


def test_refresh_with_openid_includes_a_fresh_id_token_without_nonce(sso, state):
    first = sso.tokens(scope="openid", nonce="n-1")
    state.advance_clock(30)
    body = sso.refresh(first["refresh_token"]).get_json()
    jwks = KeySet.import_key_set(state.keys.public_jwks())
    old = jwt.decode(first["id_token"], jwks).claims
    new = jwt.decode(body["id_token"], jwks).claims
    assert new["sub"] == old["sub"] and new["auth_time"] == old["auth_time"]
    assert new["iat"] >= old["iat"] + 30
    assert "nonce" not in new


def test_refresh_without_openid_gives_no_id_token(sso):
    assert "id_token" not in sso.refresh(sso.tokens()["refresh_token"]).get_json()


def test_reused_refresh_token_is_invalid_grant_and_revokes_the_family(sso, state):
    first = sso.tokens()
    second = sso.refresh(first["refresh_token"]).get_json()

    reuse = sso.refresh(first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.get_json()["error"] == "invalid_grant"
    assert state.counts["refresh_token_rejected"] == 1

    # Every token descending from that login is now dead.
    for access_token in (first["access_token"], second["access_token"]):
        assert sso.api("/document/v1/documents", access_token).status_code == 401
    assert sso.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_reuse_detection_leaves_other_logins_alone(sso):
    mine = sso.tokens()
    sso.client.delete_cookie("pagero_sandbox_sso")
    theirs = sso.tokens("alice")
    sso.refresh(mine["refresh_token"])
    sso.refresh(mine["refresh_token"])
    assert sso.api("/document/v1/documents", theirs["access_token"]).status_code == 200
    assert sso.refresh(theirs["refresh_token"]).status_code == 200


def test_refresh_token_expires_after_refresh_token_ttl(sso, state):
    body = sso.tokens()
    state.advance_clock(86401)
    response = sso.refresh(body["refresh_token"])
    assert response.get_json()["error"] == "invalid_grant"
    assert state.counts["refresh_token_rejected"] == 1


def test_access_token_is_not_a_refresh_token(sso):
    body = sso.tokens()
    assert sso.refresh(body["access_token"]).get_json()["error"] == "invalid_grant"


def test_refresh_with_wrong_client_secret_is_401(sso):
    body = sso.tokens()
    response = sso.token_request(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        secret="wrong",
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pagero-sandbox"'
