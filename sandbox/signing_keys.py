"""RS256 keys that sign id_tokens, and the JWKS that publishes their public halves.

Keys are generated per process: nothing signed by a sandbox should verify anywhere else.
Rotation keeps old keys published so a client that cached the JWKS, or holds an id_token
signed before the rotation, can still verify it (OIDC Core §10.1.1). A rotation that keeps
the kid replaces the key instead, as some providers do: a client only notices it when a
signature fails against the key it cached.
"""

from __future__ import annotations

import threading
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"


class SigningKeys:
    """The sandbox's signing keys; the newest one signs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[RSAKey] = []
        self._unpublished: RSAKey | None = None
        self.rotate()

    @staticmethod
    def _generate() -> RSAKey:
        # auto_kid derives the kid from the RFC 7638 thumbprint, so it is unique per key.
        return RSAKey.generate_key(2048, parameters={"alg": ALGORITHM, "use": "sig"}, auto_kid=True)

    def rotate(self, keep_kid: bool = False) -> str:
        """Sign with a new key from now on. By default it gets a new kid and the old keys
        stay published; with ``keep_kid`` it replaces the current key under its kid."""
        if not keep_kid:
            key = self._generate()
            with self._lock:
                self._keys.append(key)
            return key.kid
        fresh = self._generate()
        with self._lock:
            key = RSAKey.import_key({**fresh.as_dict(private=True), "kid": self._keys[-1].kid})
            self._keys[-1] = key
        return key.kid

    @property
    def current_kid(self) -> str:
        with self._lock:
            return self._keys[-1].kid

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign claims as a compact JWS with the newest key, naming it in ``kid``."""
        with self._lock:
            key = self._keys[-1]
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def sign_with_unpublished_key(self, claims: dict[str, Any]) -> str:
        """Sign with a key the JWKS never lists (the ``id_token_unknown_kid`` fault)."""
        with self._lock:
            if self._unpublished is None:
                self._unpublished = self._generate()
            key = self._unpublished
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set document (RFC 7517 §5): public parameters only."""
        with self._lock:
            return KeySet(list(self._keys)).as_dict(private=False)
