"""id_token validation (OpenID Connect Core section 3.1.3.7) on locally signed tokens."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import KeySet, OctKey, RSAKey

from pagero_oauth import errors
from pagero_oauth.id_token import KeyCache, validate
from tests.factories import CLIENT, ISSUER, id_claims, sign


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


def _jwks(*keys: RSAKey) -> dict:
    return KeySet(list(keys)).as_dict(private=False)


class Jwks:
    """A provider's JWKS endpoint: serves the newest of ``published``, counting fetches."""

    def __init__(self, *keys: RSAKey):
        self.published, self.fetches = [_jwks(*keys)], 0

    def __call__(self) -> dict:
        self.fetches += 1
        return self.published[-1]


def _validate(token, key, nonce="n-1"):
    keys = KeyCache(lambda: _jwks(key))
    return validate(token, issuer=ISSUER, client_id=CLIENT, nonce=nonce, keys=keys)


def test_good_id_token_gives_itsid_claims(key):
    assert _validate(sign(key, id_claims()), key)["sub"] == "u1"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "someone-else"}, "aud"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"exp": int(time.time()) - 3600}, "exp"),
        ({"nonce": "n-other"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"sub": None}, "sub"),
        ({"aud": [CLIENT, "other"]}, "azp"),
    ],
)
def test_id_token_with_a_wrong_claim_is_rejected(key, changes, why):
    with pytest.raises(errors.InvalidIdToken) as caught:
        _validate(sign(key, id_claims(**changes)), key)
    assert why in caught.value.description


def test_tampered_signature_is_rejected(key):
    token = sign(key, id_claims())
    head, _body, sig = token.split(".")
    forged = sign(key, id_claims(sub="admin")).split(".")[1]
    with pytest.raises(errors.InvalidIdToken):
        _validate(f"{head}.{forged}.{sig}", key)


def test_hmac_signed_with_a_guessable_secret_is_rejected(key):
    token = sign(OctKey.import_key("client-secret-as-hmac-key-0123456789"), id_claims(), "HS256")
    with pytest.raises(errors.InvalidIdToken):
        _validate(token, key)


def test_unknown_kid_refetches_the_jwks_once(key):
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256"})
    jwks = Jwks(key)
    keys = KeyCache(jwks)
    keys.MIN_REFRESH_INTERVAL = 0
    assert validate(sign(key, id_claims()), issuer=ISSUER, client_id=CLIENT, nonce="n-1", keys=keys)
    jwks.published.append(_jwks(key, rotated))
    claims = validate(
        sign(rotated, id_claims(), kid="k2"),
        issuer=ISSUER,
        client_id=CLIENT,
        nonce="n-1",
        keys=keys,
    )
    assert claims["sub"] == "u1"
    assert jwks.fetches == 2


def test_a_key_replaced_under_the_same_kid_is_picked_up_with_one_refetch(key):
    # A provider may rotate its signing key but keep the kid: only a fresh JWKS tells.
    replaced = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})
    jwks = Jwks(key)
    keys = KeyCache(jwks)
    assert validate(sign(key, id_claims()), issuer=ISSUER, client_id=CLIENT, nonce="n-1", keys=keys)
    jwks.published.append(_jwks(replaced))
    for _ in range(2):
        claims = validate(
            sign(replaced, id_claims()), issuer=ISSUER, client_id=CLIENT, nonce="n-1", keys=keys
        )
        assert claims["sub"] == "u1"
    assert jwks.fetches == 2  # the first fetch, one refetch after the failed signature
