"""The Redis backend (``SESSION_BACKEND=redis``): any number of instances sharing one Redis.

* records: one key per record, in the hash-tag slot of its key (:func:`~.base.slot_tag`),
  so a session, its tokens and its refresh lock share one slot on a cluster; locks are
  leases that live only while their holder renews them (:class:`RedisStore`);
* traces: one list per trace, ``RPUSH`` + ``LTRIM`` + ``EXPIRE`` in one transaction.

The client behind both (one node, Sentinel or Cluster) comes from :mod:`.redis_client`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

from .base import LockTimeout, Store, TraceStore, decode_lines, digest, slot_tag
from .redis_client import check_writable

log = logging.getLogger(__name__)


class RedisStore(Store):
    """Token sets in Redis, shared by every instance; locks that hold across machines.

    The lock is ``SET key owner NX PX lease`` and is released only by its owner
    (compare-and-delete in one Lua script), so a lock that outlived its holder
    cannot be deleted by the holder of the next one.

    The lease is short (:data:`LOCK_LEASE`): a worker killed while it holds the lock
    (OOM killer, ``SIGKILL``, a lost machine) blocks its session for a few seconds,
    not for the longest refresh imaginable. A live holder that waits longer on a slow
    token endpoint keeps the lock: one renewer per process (:class:`_Leases`, a thread,
    a greenlet under gevent) extends every lease held every third of it
    (compare-and-pexpire) until its ``with`` block ends. Only a holder that can no
    longer reach Redis for a whole lease loses it, and then Redis is down for everyone
    anyway.
    """

    #: Seconds the lock outlives a holder that stopped renewing it (a dead worker).
    LOCK_LEASE = 5.0

    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('del', KEYS[1]) else return 0 end"
    )
    _RENEW = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
    )

    def __init__(self, client, prefix: str = "pagero:"):
        self.redis = client
        self.prefix = prefix
        self._release = client.register_script(self._RELEASE)
        # Shared with the store's siblings (copy.copy): one renewer for all their locks.
        self._leases = _Leases(client.register_script(self._RENEW))

    def redis_key(self, key: str) -> str:
        """The Redis key of record ``key`` (:func:`slot_tag`)."""
        return self.tagged(slot_tag(key))

    def tagged(self, tag: str, kind: str | None = None) -> str:
        """The key of this store's ``kind`` (or another) in hash-tag slot ``tag``."""
        return f"{self.prefix}{{{tag}}}:{kind or self.kind}"

    def lock_key(self, key: str) -> str:
        """The refresh lock of record ``key``: in the record's own slot."""
        return self.tagged(slot_tag(key), "lock")

    def get(self, key: str) -> dict[str, Any] | None:
        return self.decode(self.redis.get(self.redis_key(key)))

    def put(self, key: str, record: dict[str, Any], ttl: int) -> None:
        self.redis.set(self.redis_key(key), self.encode(record, ttl), ex=ttl)

    def delete(self, key: str) -> None:
        self.redis.delete(self.redis_key(key))

    def pop(self, key: str) -> dict[str, Any] | None:
        # GET and DEL in one MULTI/EXEC transaction (GETDEL needs Redis 6.2).
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.redis_key(key))
        pipe.delete(self.redis_key(key))
        raw, _deleted = pipe.execute()
        return self.decode(raw)

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        name = self.lock_key(key)
        owner = secrets.token_hex(16)
        lease_ms = int(self.LOCK_LEASE * 1000)
        deadline = time.monotonic() + timeout
        while not self.redis.set(name, owner, nx=True, px=lease_ms):
            if time.monotonic() >= deadline:
                raise LockTimeout(self.kind)  # never the key: it is a session id
            time.sleep(0.01)
        self._leases.hold(name, owner, lease_ms)
        try:
            yield
        finally:
            self._leases.let_go(name)
            self._release(keys=[name], args=[owner])

    def check(self) -> None:
        check_writable(self.redis, self.prefix)


class RedisTraceStore(TraceStore):
    """One Redis list per trace, shared by every instance."""

    def __init__(self, client, prefix: str = "pagero:"):
        self.redis = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}trace:{digest(key)}"

    def append(self, key: str, events: list[dict[str, Any]], limit: int, ttl: int) -> None:
        name = self._key(key)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(name, *(json.dumps(e, separators=(",", ":")) for e in events))
        pipe.ltrim(name, -limit, -1)
        pipe.expire(name, ttl)
        pipe.execute()

    def read(self, key: str, limit: int) -> list[dict[str, Any]]:
        return decode_lines(self.redis.lrange(self._key(key), -limit, -1))

    def delete(self, key: str) -> None:
        self.redis.delete(self._key(key))


class _Leases:
    """The locks a process holds, and the one renewer that keeps their leases.

    A renewer per lock would start a thread for every lock taken, the pending-login
    locks of each ``/login`` included, though nearly all are let go within milliseconds.
    This one runs while any lock is held, renews each every third of the lease, and
    ends when none is left. ``threading`` is gevent's after monkey-patching, so under
    gunicorn it is a greenlet whose sleep lets the worker's requests run.
    """

    def __init__(self, renew):
        self._renew = renew
        self._held: dict[str, tuple[str, int]] = {}  # lock key -> (owner token, lease ms)
        self._guard = threading.Lock()
        self._renewer: threading.Thread | None = None

    def hold(self, name: str, owner: str, lease_ms: int) -> None:
        with self._guard:
            self._held[name] = (owner, lease_ms)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._keep, name="redis-lock-leases", daemon=True
                )
                self._renewer.start()

    def let_go(self, name: str) -> None:
        with self._guard:
            self._held.pop(name, None)

    def _keep(self) -> None:
        while True:
            with self._guard:
                shortest = min((ms for _owner, ms in self._held.values()), default=0)
            time.sleep(shortest / 3000)
            with self._guard:
                held = list(self._held.items())
                if not held:
                    self._renewer = None
                    return
            for name, (owner, lease_ms) in held:
                try:
                    self._renew(keys=[name], args=[owner, lease_ms])
                except Exception as exc:  # the holder goes on; Redis may be back
                    log.warning("refresh lock not renewed: %s", type(exc).__name__)
