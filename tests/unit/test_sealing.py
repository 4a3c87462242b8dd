"""pagero_oauth/sealing.py: what it seals opens with the same key or a fallback, and
with nothing else; an altered or moved record does not open."""

from __future__ import annotations

import pytest

from pagero_oauth.sealing import Sealer, UnsealError, is_sealed

OLD, NEW = "old-secret-" * 4, "new-secret-" * 4


def test_a_sealed_record_opens_with_its_key_and_hides_what_it_holds():
    sealed = Sealer([NEW]).seal(b'{"refresh_token": "_1XBPWQQ_x"}', b"tokens")
    assert is_sealed(sealed) and b"refresh_token" not in sealed
    assert Sealer([NEW]).open(sealed, b"tokens") == b'{"refresh_token": "_1XBPWQQ_x"}'
    assert Sealer([NEW]).seal(b"same", b"tokens") != Sealer([NEW]).seal(b"same", b"tokens")


def test_rotation_opens_with_a_fallback_and_seals_with_the_new_key():
    by_old = Sealer([OLD]).seal(b"record", b"tokens")
    rotating = Sealer([NEW, OLD])
    assert rotating.open(by_old, b"tokens") == b"record"
    with pytest.raises(UnsealError, match="neither SECRET_KEY nor a fallback"):
        Sealer([NEW]).open(by_old, b"tokens")
    assert Sealer([NEW]).open(rotating.seal(b"record", b"tokens"), b"tokens") == b"record"


def test_an_altered_moved_or_clear_record_does_not_open():
    sealer = Sealer([NEW])
    sealed = sealer.seal(b"record", b"tokens")
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    for raw, purpose in ((altered, b"tokens"), (sealed, b"session"), (b'{"a": 1}', b"tokens")):
        with pytest.raises(UnsealError):
            sealer.open(raw, purpose)


def test_a_sealer_needs_a_secret():
    for secrets in ([], [""], [NEW, ""]):
        with pytest.raises(ValueError):
            Sealer(secrets)
