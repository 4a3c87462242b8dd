"""RFC 7009 token revocation."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_revoking_the_refresh_token_revokes_its_whole_family(sso, state, auth):
    first = sso.tokens()
    second = sso.refresh(first["refresh_token"]).get_json()
    response = sso.revoke(second["refresh_token"], auth=auth, token_type_hint="refresh_token")
    assert response.status_code == 200
    assert state.counts["revocation"] == 1
    assert sso.api("/document/v1/documents", second["access_token"]).status_code == 401
    assert sso.api("/document/v1/documents", first["access_token"]).status_code == 401
    assert sso.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoking_an_access_token_keeps_the_refresh_token(sso):
    body = sso.tokens()
    assert sso.revoke(body["access_token"], token_type_hint="access_token").status_code == 200
    response = sso.api("/document/v1/documents", body["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert sso.refresh(body["refresh_token"]).status_code == 200


def test_revocation_ignores_a_wrong_token_type_hint(sso):
    body = sso.tokens()
    assert sso.revoke(body["refresh_token"], token_type_hint="access_token").status_code == 200
    assert sso.refresh(body["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert sso.revoke(body["access_token"], token_type_hint="nonsense").status_code == 200


def test_revoking_an_unknown_token_answers_200(sso):
    assert sso.revoke("_1XBPWQQ_00000000-0000-4000-8000-000000000000").status_code == 200


def test_revocation_with_wrong_client_secret_is_401_invalid_client(sso, state):
    body = sso.tokens()
    response = sso.revoke(body["refresh_token"], secret="wrong")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pagero-sandbox"'
    assert state.counts["revocation"] == 0
    assert sso.refresh(body["refresh_token"]).status_code == 200


def test_revocation_without_token_is_invalid_request(sso):
    response = sso.client.post(
        "/oauth/v2/oauth-revoke", data={}, auth=(sso.CLIENT_ID, sso.CLIENT_SECRET)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
