"""Validation of the OpenID Connect id_token Pagero returns for ``openid``.

OpenID Connect Core 1.0 section 3.1.3.7 lists the checks; joserfc does the
cryptography. Only asymmetric algorithms are accepted, and of those only what
the server declares in its metadata: ``none`` and the HMAC family would let
anyone who knows the client secret (or nobody at all) mint an identity.

Every failure is an :class:`errors.InvalidIdToken`, so the login is refused
with one clear page and nothing is stored.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from . import errors

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
#: Clock difference tolerated between Pagero and this server for ``exp``, ``iat``, ``nbf``.
LEEWAY_SECONDS = 60


def allowed_algorithms(declared: Sequence[str] | None) -> list[str]:
    """The algorithms an id_token may use: ours, narrowed to what the server declares
    in ``id_token_signing_alg_values_supported`` (OIDC Core section 3.1.3.7 step 7).

    A server may list ``none`` or ``HS256`` there; neither ever passes, because
    an unsigned token proves nothing and an HMAC one only proves knowledge of
    the client secret, which this app holds too.
    """
    if declared is None:
        return list(ALLOWED_ALGORITHMS)
    return [alg for alg in ALLOWED_ALGORITHMS if alg in declared]


class KeyCache:
    """The authorization server's JWKS, fetched once and fetched again when an
    id_token names a key we do not know, or its signature fails against the key
    we hold under its kid (the two ways a key rotation shows up)."""

    #: For an unknown kid, at most one forced refetch per this many seconds, so a
    #: stream of forged tokens cannot turn the app into a load generator against the JWKS.
    MIN_REFRESH_INTERVAL = 30.0
    #: For a signature that fails against a cached key, at most one forced refetch per
    #: this many seconds: a provider may replace a key and keep its kid, and until the
    #: JWKS is read again every login would fail; a forged token costs no more than that.
    BAD_SIGNATURE_REFRESH_INTERVAL = 60.0

    def __init__(self, fetch: Callable[[], dict[str, Any]]):
        self._fetch = fetch
        self._keys: KeySet | None = None
        self._refreshed_at: float | None = None
        self._lock = threading.Lock()

    def get(self) -> KeySet:
        """The cached keys, fetched on first use."""
        with self._lock:
            if self._keys is None:
                self._keys = KeySet.import_key_set(self._fetch())
            return self._keys

    def refetch(self, min_interval: float) -> KeySet | None:
        """Fetch the JWKS again and return it, unless a forced refetch happened less than
        ``min_interval`` seconds ago (then None). The first fetch does not count."""
        with self._lock:
            now = time.monotonic()
            if self._refreshed_at is not None and now - self._refreshed_at < min_interval:
                return None
            self._refreshed_at = now  # a failing fetch counts too: no retry storm
            self._keys = KeySet.import_key_set(self._fetch())
            return self._keys


#: What a joserfc error that carries no description of its own means here.
_UNDESCRIBED = {"bad_signature": "the signature does not match the issuer's published keys"}


def _reason(exc: JoseError) -> str:
    """``error: description``; joserfc leaves some descriptions empty."""
    description = exc.description or _UNDESCRIBED.get(exc.error, "")
    return f"{exc.error}: {description}" if description else exc.error


def validate(
    id_token: str,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    keys: KeyCache | None,
    algorithms: Sequence[str] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the claims of a valid id_token, or raise :class:`errors.InvalidIdToken`.

    ``nonce`` is the one this login sent (None on refresh, where OIDC Core
    section 12.2 has no nonce to compare); ``algorithms`` defaults to
    :data:`ALLOWED_ALGORITHMS`, see :func:`allowed_algorithms`.
    """
    algorithms = list(ALLOWED_ALGORITHMS if algorithms is None else algorithms)
    try:
        claims = _verified_claims(id_token, keys, algorithms)
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
        reason = _reason(exc) if isinstance(exc, JoseError) else str(exc)
        raise errors.InvalidIdToken(f"The id_token from Pagero is not valid ({reason}).") from None
    # Section 3.1.3.7 steps 3-5: with several audiences, azp must name us;
    # an azp naming another client means the token was issued to that client.
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise errors.InvalidIdToken("The id_token has several audiences but no matching azp.")
    if "azp" in claims and claims["azp"] != client_id:
        raise errors.InvalidIdToken("The id_token's azp names another client.")
    # Section 3.1.2.1: the nonce binds the id_token to the login that asked for
    # it, so an id_token captured from another login cannot be replayed here.
    if nonce is not None and "nonce" not in claims:
        raise errors.InvalidIdToken("The id_token has no nonce, but this login sent one.")
    if nonce is not None and not hmac.compare_digest(str(claims["nonce"]), nonce):
        raise errors.InvalidIdToken(
            "The id_token's nonce does not match this login: it was issued for another one."
        )
    return claims


def _verified_claims(id_token: str, keys: KeyCache | None, algorithms: list[str]) -> dict:
    header = jws.extract_compact(id_token.encode("ascii")).protected
    if header.get("alg") not in algorithms:
        raise errors.InvalidIdToken(
            f"The id_token is signed with alg {header.get('alg')!r}; this app accepts "
            f"only {', '.join(algorithms) or 'none of those Pagero declares'}."
        )
    if keys is None:
        # Section 3.1.3.7 step 6: an id_token received directly from the token
        # endpoint over TLS may be trusted without a signature check. Used only
        # when no PAGERO_JWKS_URI is configured; the claims are still checked.
        return json.loads(jws.extract_compact(id_token.encode("ascii")).payload)
    key_set = keys.get()
    kid = header.get("kid")
    # Section 10.1.1: a new kid is how a key rotation shows up, so fetch the
    # JWKS again once; a kid still unknown after that fails below.
    if kid is not None and not _knows(key_set, kid):
        newer = keys.refetch(keys.MIN_REFRESH_INTERVAL)
        if newer is not None:
            log.info("id_token names a key not in the cached JWKS; fetching the JWKS again")
            return jwt.decode(id_token, newer, algorithms=algorithms).claims
    try:
        return jwt.decode(id_token, key_set, algorithms=algorithms).claims
    except BadSignatureError:
        # A provider that replaces its key but keeps the kid shows up only here: read the
        # JWKS again (rate-limited) and check once more before refusing.
        newer = keys.refetch(keys.BAD_SIGNATURE_REFRESH_INTERVAL)
        if newer is None:
            raise
        log.info("id_token signature does not match the cached key; fetching the JWKS again")
        return jwt.decode(id_token, newer, algorithms=algorithms).claims


def _knows(key_set: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in key_set.keys)
