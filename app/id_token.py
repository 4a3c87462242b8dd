"""Validation of the OpenID Connect id_token Pagero returns for ``openid``.

OpenID Connect Core 1.0 section 3.1.3.7 lists the checks; joserfc does the
cryptography. Only asymmetric algorithms are accepted: ``none`` and the HMAC
family would let anyone who knows the client secret (or nobody at all) mint
an identity.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from . import errors

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
LEEWAY_SECONDS = 60


class KeyCache:
    """The authorization server's JWKS, fetched once and fetched again when an
    id_token names a key we do not know (that is how key rotation shows up)."""

    #: At most one forced refetch per this many seconds, so a stream of forged
    #: tokens cannot turn the app into a load generator against the JWKS.
    MIN_REFRESH_INTERVAL = 30.0

    def __init__(self, fetch: Callable[[], dict[str, Any]]):
        self._fetch = fetch
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def get(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is None or refresh:
                self._keys = KeySet.import_key_set(self._fetch())
                self._fetched_at = time.monotonic()
            return self._keys

    def may_refresh(self) -> bool:
        return time.monotonic() - self._fetched_at >= self.MIN_REFRESH_INTERVAL


def validate(
    id_token: str,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    keys: KeyCache | None,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the claims of a valid id_token, or raise :class:`errors.InvalidIdToken`."""
    try:
        claims = _verified_claims(id_token, keys)
        registry = jwt.JWTClaimsRegistry(
            now=int(time.time() if now is None else now),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            sub={"essential": True},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            iat={"essential": True},
        )
        registry.validate(claims)
    except (JoseError, ValueError) as exc:
        reason = f"{exc.error}: {exc.description}" if isinstance(exc, JoseError) else str(exc)
        raise errors.InvalidIdToken(f"The id_token from Pagero is not valid ({reason}).") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise errors.InvalidIdToken("The id_token has several audiences but no matching azp.")
    # Section 3.1.2.1: the nonce binds the id_token to the login that asked for it.
    if nonce is not None and claims.get("nonce") != nonce:
        raise errors.InvalidIdToken(
            "The id_token's nonce does not match this login: it was issued for another one."
        )
    return claims


def _verified_claims(id_token: str, keys: KeyCache | None) -> dict[str, Any]:
    if keys is None:
        # Section 3.1.3.7 step 6: an id_token received directly from the token
        # endpoint over TLS may be trusted without a signature check. Used only
        # when no PAGERO_JWKS_URI is configured; the claims are still checked.
        obj = jws.extract_compact(id_token.encode("ascii"))
        if obj.protected.get("alg") not in ALLOWED_ALGORITHMS:
            raise errors.InvalidIdToken("The id_token uses an algorithm this app refuses.")
        return json.loads(obj.payload)
    try:
        return jwt.decode(id_token, keys.get(), algorithms=ALLOWED_ALGORITHMS).claims
    except (JoseError, ValueError) as first:
        header = jws.extract_compact(id_token.encode("ascii")).protected
        if "kid" not in header or not keys.may_refresh():
            raise first
        log.info("id_token signed with an unknown or changed key; fetching the JWKS again")
        return jwt.decode(id_token, keys.get(refresh=True), algorithms=ALLOWED_ALGORITHMS).claims
