"""The store interface every part of the core uses, and the small helpers behind it.

Two interfaces, one per shape of data, as Flask-Session and oauth2-proxy's
``persistence.Store`` keep one narrow interface per backend:

* :class:`Store` holds short-lived records by key: tokens, pending logins
  (``kind`` keeps their names apart on one backend); ``get``/``put``/``delete``/``pop``
  and a ``lock`` that holds across every process sharing the store;
* :class:`TraceStore` appends events to a per-session list (the flow trace).

Each backend implements both in one small module: :mod:`.files` (one machine, any
number of workers) and :mod:`.redis` (any number of instances); :func:`pagero_oauth.stores.build`
is the one place that chooses.

Why tokens are *not* in the Flask session: Flask-Session writes the whole
session at the end of a request that changed it. A slow request that read the
old token pair and then changed anything else (a CSRF token, a pending login)
would write that old pair back over the pair a concurrent refresh just stored;
with Pagero's single-use refresh tokens the user would then be logged out on
the next refresh. So the session holds only a ``token_key`` (the session id
it was given at login, fresh and secret), and the tokens live in this store,
written only by the one request that holds the key's refresh lock, after it
has re-read the current pair under that lock. On Redis, the session and its
tokens are read in one MGET (app/sessions.py).

Single flight (:meth:`pagero_oauth.keeper.TokenKeeper.fresh`): N requests of one
session that find the access token expiring all queue on the key's lock (a file lock
across the workers of one machine, a Redis lock across machines). The first refreshes
and stores the new pair; the others re-read under the lock, see the new pair and
use it. A lost race is therefore impossible rather than retried: presenting a
used refresh token would make Pagero revoke the whole grant.

The flow trace's events sit apart from the Flask session for the same reason (two
requests of one browser would each write their own copy); its store appends instead
of replacing. Events are small JSON-able dicts that hold no secret (the trace masks
as it records), so a store knows nothing about what it keeps.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from typing import Any

from ..sealing import Sealer, UnsealError

log = logging.getLogger(__name__)


class LockTimeout(Exception):
    """Another request held the refresh lock for longer than we may wait."""


class Store(ABC):
    """The one record interface: read, write, delete, take a record, and lock a key.

    Records are plain JSON-able dicts (``asdict(TokenSet)``), so a store knows
    nothing about what it keeps. ``kind`` names what a store holds, so that other
    short-lived server-side records (pending logins, :mod:`pagero_oauth.logins`) can
    live beside the tokens, on the same backend, without sharing their names.
    A backend turns records into bytes and back with :meth:`encode` and :meth:`decode`,
    which seal them when the store has a ``sealer`` (:func:`pagero_oauth.stores.build`).
    """

    kind = "tokens"
    #: Seals every record at rest (:mod:`pagero_oauth.sealing`); None keeps them in the clear.
    sealer: Sealer | None = None

    def encode(self, record: dict[str, Any], ttl: int) -> bytes:
        return encode(record, ttl, self.sealer, self.kind)

    def decode(self, raw: bytes | None) -> dict[str, Any] | None:
        return decode(raw, self.sealer, self.kind)

    def sibling(self, kind: str) -> Store:
        """The same backend, for records of another ``kind``."""
        other = copy.copy(self)
        other.kind = kind
        return other

    @abstractmethod
    def get(self, key: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def put(self, key: str, record: dict[str, Any], ttl: int) -> None: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def pop(self, key: str) -> dict[str, Any] | None:
        """Read and delete in one step: of concurrent callers, exactly one gets the record."""

    @abstractmethod
    def lock(self, key: str, timeout: float) -> contextlib.AbstractContextManager[None]:
        """Exclusive across every process sharing the store; raises :class:`LockTimeout`."""

    def check(self) -> None:  # noqa: B027 - optional hook, a no-op for local stores
        """Raise if the store cannot be reached (used by /readyz)."""


class TraceStore(ABC):
    """Append events to a trace, read a trace, delete a trace."""

    @abstractmethod
    def append(self, key: str, events: list[dict[str, Any]], limit: int, ttl: int) -> None:
        """Add ``events`` at the end, keep at least the newest ``limit``, renew the expiry."""

    @abstractmethod
    def read(self, key: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` events, oldest first; [] for an unknown or expired trace."""

    @abstractmethod
    def delete(self, key: str) -> None: ...


def slot_tag(key: str) -> str:
    """The digest that names record ``key`` in Redis, inside a ``{hash tag}``.

    A digest because the key may be a session id, which must not appear in a key
    name. A hash tag because Redis Cluster places a key by the part between its
    first braces: a session (``pagero:{tag}:session``), its tokens
    (``pagero:{tag}:tokens``) and its refresh lock (``pagero:{tag}:lock``) share
    one slot, so the MGET that reads session and tokens together works on a cluster.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def encode(
    record: dict[str, Any], ttl: int, sealer: Sealer | None = None, kind: str = "tokens"
) -> bytes:
    """A record as stored: its expiry in the clear (the file store's sweep reads it), the
    record itself sealed with ``sealer`` (:mod:`pagero_oauth.sealing`). ``"tokens": {}``
    beside a sealed record reads as "no record" to a version that does not seal."""
    expires = time.time() + ttl
    if sealer is None:
        return json.dumps({"tokens": record, "expires": expires}).encode()
    sealed = sealer.seal(json.dumps(record).encode(), kind.encode())
    return json.dumps(
        {"tokens": {}, "expires": expires, "sealed": base64.b64encode(sealed).decode()}
    ).encode()


def decode(
    raw: bytes | None, sealer: Sealer | None = None, kind: str = "tokens"
) -> dict[str, Any] | None:
    """The record :func:`encode` stored, or None (none, expired, or not to be opened).

    A record in the clear is still read: one written before records were sealed, so an
    upgrade logs no one out. A sealed one that none of the keys opens (``SECRET_KEY``
    changed without the old one in ``SECRET_KEY_FALLBACKS``, or the record was altered)
    is no record: that user logs in again.
    """
    if not raw:
        return None
    envelope = json.loads(raw)
    if envelope["expires"] < time.time():
        return None
    if "sealed" not in envelope:
        return envelope["tokens"]
    try:
        if sealer is None:
            raise UnsealError("no key to open it with")
        return json.loads(sealer.open(base64.b64decode(envelope["sealed"]), kind.encode()))
    except (UnsealError, ValueError) as exc:
        log.warning("a stored %s record was not opened, so it counts as missing: %s", kind, exc)
        return None


def digest(key: str) -> str:
    # The session's trace key never appears in a file name or a Redis key.
    return hashlib.sha256(key.encode()).hexdigest()


def decode_lines(lines: list[bytes]) -> list[dict[str, Any]]:
    events = []
    for line in lines:
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events
