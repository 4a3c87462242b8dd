"""Records at rest, sealed: what the stores keep means nothing without the app's secret.

The stores hold, for every logged-in user, a refresh token (a credential to Pagero that
outlives the session), the session's token key (its session id: whoever has it *is*
that user to this app) and, during a login, the PKCE verifier. A copy of the store (a
Redis snapshot or backup, a replica, a Redis reachable without a password, the session
folder in a disk image) would otherwise hand all of them over. So every record is
sealed with AES-256-GCM (authenticated encryption, RFC 5116) under a key derived from
``SECRET_KEY`` with HKDF-SHA256 (RFC 5869): a copy of the store reads as noise, and a
sealed record someone altered does not open. oauth2-proxy
encrypts its Redis sessions and Duende BFF its server-side sessions for the same reason.

Rotation: records are sealed with the first secret and opened with any of them
(``SECRET_KEY``, then ``SECRET_KEY_FALLBACKS``), so a new key can be rolled out while
sessions sealed with the old one stay readable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: What a sealed record starts with: the format, so a record in the clear (written by a
#: version that did not seal) is told apart from a sealed one without guessing.
MAGIC = b"pgs1"
_NONCE = 12  # bytes: GCM's standard nonce, random per record
#: HKDF's ``info``: a key for this purpose alone, whatever else SECRET_KEY signs.
_INFO = b"pagero-oauth: records at rest, AES-256-GCM"


class UnsealError(Exception):
    """The record is not sealed, or was sealed with none of our keys, or was altered."""


class Sealer:
    """Seals and opens bytes; ``secrets``: the current secret first, older ones after."""

    def __init__(self, secrets: Sequence[str | bytes]):
        if not secrets or not all(secrets):
            raise ValueError("a Sealer needs at least one non-empty secret")
        self._ciphers = [AESGCM(_derive(secret)) for secret in secrets]

    def seal(self, plain: bytes, purpose: bytes) -> bytes:
        """``plain``, encrypted and authenticated. ``purpose`` (what the record is: tokens,
        a pending login, a session) is bound to it: a record moved to a place that holds
        another kind does not open there."""
        nonce = os.urandom(_NONCE)
        return MAGIC + nonce + self._ciphers[0].encrypt(nonce, plain, purpose)

    def open(self, sealed: bytes, purpose: bytes) -> bytes:
        """The bytes :meth:`seal` was given, or :class:`UnsealError`."""
        if not is_sealed(sealed):
            raise UnsealError("not a sealed record")
        nonce, body = sealed[len(MAGIC) : len(MAGIC) + _NONCE], sealed[len(MAGIC) + _NONCE :]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, body, purpose)
            except InvalidTag:
                continue
        raise UnsealError("sealed with a key that is neither SECRET_KEY nor a fallback")


def is_sealed(raw: bytes) -> bool:
    return raw.startswith(MAGIC)


def _derive(secret: str | bytes) -> bytes:
    material = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
