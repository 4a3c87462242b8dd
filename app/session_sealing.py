"""Flask-Session's stored sessions, sealed at rest, and read without ``pickle``.

A stored session holds the key of its tokens, which is its own id: whoever reads it can
be that user. So each one is sealed with the stores' sealer (:mod:`pagero_oauth.sealing`)
as it is written, by replacing the session interface's ``serializer``
(:func:`app.sessions.init_app`).

Reading uses msgpack alone. Flask-Session falls back to ``pickle.loads`` for data msgpack
cannot read, and cachelib's file cache pickles whatever it stores: from a store someone
else could write to, either runs their code. The file cache gets :class:`RawBytes`
instead, and a session that does not open (another key, altered, or a file from before
sessions were sealed) is no session: the browser gets a new one.
"""

from __future__ import annotations

import logging
from typing import Any, BinaryIO

import msgspec

from pagero_oauth.sealing import Sealer, UnsealError, is_sealed

log = logging.getLogger(__name__)

#: What a sealed session is bound to (:meth:`pagero_oauth.sealing.Sealer.seal`).
SESSION_PURPOSE = b"session"


class SealedSerializer:
    """Flask-Session's serializer (``inner``), each session sealed by ``sealer`` on the
    way in and opened, then read with msgpack alone, on the way out."""

    def __init__(self, inner: Any, sealer: Sealer):
        self.inner = inner
        self.sealer = sealer

    def encode(self, session_obj: Any) -> bytes:
        return self.sealer.seal(self.inner.encode(session_obj), SESSION_PURPOSE)

    def decode(self, raw: bytes) -> dict | None:
        try:
            plain = self.sealer.open(raw, SESSION_PURPOSE) if is_sealed(raw) else raw
            return self.inner.decoder.decode(plain)
        except (UnsealError, msgspec.DecodeError) as exc:
            log.warning("a stored session was not opened, so it starts afresh: %s", exc)
            return None


class RawBytes:
    """cachelib's file serializer for values that are bytes already: written and read
    as they are, where cachelib's own would ``pickle.load`` the file."""

    def dump(self, value: bytes, f: BinaryIO) -> None:
        f.write(value)

    def load(self, f: BinaryIO) -> bytes:
        return f.read()
