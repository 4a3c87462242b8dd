"""OpenID Connect faults: spoiled id_tokens, a foreign or failing metadata document, and a
server without revocation or RP-initiated logout."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, OctKey

from sandbox.faults import WRONG_ISSUER

METADATA = "/oauth/v2/oauth-anonymous/.well-known/openid-configuration"
JWKS = "/oauth/v2/oauth-anonymous/jwks"
NONCE = "nonce-of-this-login"


def _openid_token(sso) -> str:
    # prompt=login: the form again, although the sandbox remembers an earlier login.
    return sso.tokens(scope="openid", nonce=NONCE, prompt="login")["id_token"]


def _parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    return _unb64(header), _unb64(payload), signature


def _unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _verified(sso, token: str) -> dict:
    keys = KeySet.import_key_set(sso.state.keys.public_jwks())
    return jwt.decode(token, keys, algorithms=["RS256"]).claims


def test_without_faults_the_id_token_is_good(sso):
    claims = _verified(sso, _openid_token(sso))
    assert claims["aud"] == sso.CLIENT_ID and claims["iss"] == sso.ISSUER
    assert claims["nonce"] == NONCE and claims["exp"] > time.time()


@pytest.mark.parametrize(
    ("fault", "claim", "wrong"),
    [
        ("id_token_wrong_aud", "aud", "another-client"),
        ("id_token_wrong_iss", "iss", WRONG_ISSUER),
    ],
)
def test_id_token_fault_signs_a_wrong_claim(sso, state, fault, claim, wrong):
    state.faults.add(fault)
    assert _verified(sso, _openid_token(sso))[claim] == wrong


def test_id_token_expired_fault_signs_an_exp_in_the_past(sso, state):
    state.faults.add("id_token_expired")
    claims = _verified(sso, _openid_token(sso))
    assert claims["exp"] < time.time() - 600
    assert claims["iat"] < claims["exp"]


def test_id_token_nonce_faults_change_or_drop_the_nonce(sso, state):
    state.faults.add("id_token_wrong_nonce")
    wrong = _verified(sso, _openid_token(sso))["nonce"]
    assert wrong and wrong != NONCE
    state.faults.clear()
    state.faults.add("id_token_no_nonce")
    assert "nonce" not in _verified(sso, _openid_token(sso))


def test_id_token_bad_signature_fault_changes_the_signed_payload(sso, state):
    state.faults.add("id_token_bad_signature")
    token = _openid_token(sso)
    assert _parts(token)[1]["sub"] == "someone-else"
    with pytest.raises(BadSignatureError):
        _verified(sso, token)


def test_id_token_unknown_kid_fault_signs_with_a_key_the_jwks_never_lists(sso, state):
    state.faults.add("id_token_unknown_kid")
    token = _openid_token(sso)
    kid = _parts(token)[0]["kid"]
    published = [key["kid"] for key in sso.client.get(JWKS).get_json()["keys"]]
    assert kid not in published
    with pytest.raises(InvalidKeyIdError):
        _verified(sso, token)


def test_id_token_alg_none_fault_sends_an_unsigned_token(sso, state):
    state.faults.add("id_token_alg_none")
    header, claims, signature = _parts(_openid_token(sso))
    assert header["alg"] == "none" and signature == ""
    assert claims["nonce"] == NONCE


def test_id_token_hs256_fault_signs_with_the_client_secret(sso, state):
    state.faults.add("id_token_hs256")
    token = _openid_token(sso)
    assert _parts(token)[0]["alg"] == "HS256"
    key = OctKey.import_key(sso.CLIENT_SECRET)
    assert jwt.decode(token, key, algorithms=["HS256"]).claims["aud"] == sso.CLIENT_ID


def test_spoiled_id_tokens_are_recorded_as_issued_secrets(sso, state):
    state.faults.add("id_token_alg_none")
    assert _openid_token(sso) in state.issued_secrets()


def test_metadata_wrong_issuer_fault_serves_another_servers_document(sso, state):
    state.faults.add("metadata_wrong_issuer")
    meta = sso.client.get(METADATA).get_json()
    assert meta["issuer"] == WRONG_ISSUER
    assert meta["token_endpoint"] == "https://issuer.invalid/oauth/v2/oauth-token"
    assert meta["authorization_endpoint"].startswith("https://issuer.invalid/")


def test_metadata_503_fault_makes_the_document_unavailable(sso, state):
    state.faults.add("metadata_503")
    assert sso.client.get(METADATA).status_code == 503
    state.faults.clear()
    assert sso.client.get(METADATA).status_code == 200


def test_no_revocation_endpoint_fault_drops_it_from_metadata_and_path(sso, state):
    token = sso.tokens()["access_token"]
    state.faults.add("no_revocation_endpoint")
    meta = sso.client.get(METADATA).get_json()
    assert "revocation_endpoint" not in meta
    assert "revocation_endpoint_auth_methods_supported" not in meta
    assert sso.revoke(token).status_code == 404
    assert sso.api("/document/v1/documents", token).status_code == 200


def test_no_end_session_endpoint_fault_drops_it_from_metadata_and_path(sso, state):
    sso.login()
    state.faults.add("no_end_session_endpoint")
    assert "end_session_endpoint" not in sso.client.get(METADATA).get_json()
    assert sso.client.get("/oauth/v2/oauth-session/logout").status_code == 404
    assert sso.authorize().status_code == 302  # the SSO login lives on


def test_revocation_503_fault_revokes_nothing(sso, state):
    token = sso.tokens()["access_token"]
    state.faults.add("revocation_503")
    assert sso.revoke(token).status_code == 503
    assert state.counts["revocation"] == 0
    assert sso.api("/document/v1/documents", token).status_code == 200
