"""Where a logged-in user's tokens live, and how a refresh happens exactly once.

Why tokens are *not* in the Flask session: Flask-Session writes the whole
session at the end of a request that changed it. A slow request that read the
old token pair and then changed anything else (a CSRF token, a pending login)
would write that old pair back over the pair a concurrent refresh just stored;
with Pagero's single-use refresh tokens the user would then be logged out on
the next refresh. So the session holds only a ``token_key`` (the session id
it was given at login, fresh and secret), and the tokens live in this store,
written only by the one request that holds the key's refresh lock, after it
has re-read the current pair under that lock. On Redis, the session and its
tokens are read in one MGET (app/session_store.py).

Single flight (``TokenKeeper.fresh``): N requests of one session that find the
access token expiring all queue on the key's lock (a file lock across the
workers of one machine, a Redis lock across machines). The first refreshes and
stores the new pair; the others re-read under the lock, see the new pair and
use it. A lost race is therefore impossible rather than retried: presenting a
used refresh token would make Pagero revoke the whole grant.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


class LockTimeout(Exception):
    """Another request held the refresh lock for longer than we may wait."""


class TokenStore(ABC):
    """A narrow interface: read, write, delete a token record, and lock a key.

    Records are plain JSON-able dicts (``asdict(TokenSet)``), so a store knows
    nothing about what it keeps. ``kind`` names what a store holds, so that other
    short-lived server-side records (pending logins, :mod:`app.login_state`) can
    live beside the tokens, on the same backend, without sharing their names.
    """

    kind = "tokens"

    def sibling(self, kind: str) -> TokenStore:
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


def slot_tag(key: str) -> str:
    """The digest that names record ``key`` in Redis, inside a ``{hash tag}``.

    A digest because the key may be a session id, which must not appear in a key
    name. A hash tag because Redis Cluster places a key by the part between its
    first braces: a session (``pagero:{tag}:session``), its tokens
    (``pagero:{tag}:tokens``) and its refresh lock (``pagero:{tag}:lock``) share
    one slot, so the MGET that reads session and tokens together works on a cluster.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def encode(record: dict[str, Any], ttl: int) -> bytes:
    return json.dumps({"tokens": record, "expires": time.time() + ttl}).encode()


def decode(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    envelope = json.loads(raw)
    if envelope["expires"] < time.time():
        return None
    return envelope["tokens"]


class FileTokenStore(TokenStore):
    """Token sets as small files, one per login, shared by the workers of one machine.

    Writes go to a temporary file renamed over the old one, so a reader sees
    the old pair or the new pair, never half of one.

    Locks are ``flock`` on one lock file per key, so two sessions never wait for each
    other (a refresh can wait seconds on a slow token endpoint). The holder deletes the
    file before it lets go, so lock files do not pile up; a waiter that then gets the
    lock on the deleted file sees that the path no longer leads to it, and tries again
    (:meth:`lock`). The wait polls with a non-blocking ``flock`` and ``time.sleep``: a
    blocking ``flock`` would stop every greenlet of a gevent worker, the sleep lets
    them run.
    """

    #: How often a waiting request tries the lock again (seconds).
    LOCK_POLL = 0.005

    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(os.path.join(directory, "locks"), mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        name = hashlib.sha256(key.encode()).hexdigest() + ".json"
        if self.kind != "tokens":  # tokens keep their plain names; all are swept alike
            name = f"{self.kind}-{name}"
        return os.path.join(self.directory, name)

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with open(self._path(key), "rb") as fh:
                return decode(fh.read())
        except FileNotFoundError:
            return None

    def put(self, key: str, record: dict[str, Any], ttl: int) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(encode(record, ttl))
            os.replace(tmp, self._path(key))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if secrets.randbelow(200) == 0:
            self.sweep()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def pop(self, key: str) -> dict[str, Any] | None:
        # A rename is atomic: of two workers claiming the same file, one gets ENOENT.
        path = self._path(key)
        claimed = f"{path}.{secrets.token_hex(8)}.taken"
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        try:
            with open(claimed, "rb") as fh:
                return decode(fh.read())
        finally:
            os.unlink(claimed)

    @contextlib.contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[None]:
        name = hashlib.sha256(f"{self.kind}:{key}".encode()).hexdigest()
        path = os.path.join(self.directory, "locks", f"{name}.lock")
        fd = self._acquire(path, time.monotonic() + timeout)
        try:
            yield
        finally:
            # Deleted while still held: whoever waits on this file finds it gone (below).
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _acquire(self, path: str, deadline: float) -> int:
        """An open descriptor holding the lock on the file now at ``path``."""
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise LockTimeout(self.kind) from None  # never the key: it is a session id
                time.sleep(self.LOCK_POLL)
                continue
            try:
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    return fd  # the file we locked is still the key's lock file
            except FileNotFoundError:
                pass
            # The last holder deleted this file after we opened it: ours is a lock on
            # nothing anyone else will look at. Open the key's current file instead.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def check(self) -> None:
        with tempfile.NamedTemporaryFile(dir=self.directory):
            pass

    #: A file claimed by :meth:`pop` is deleted at once; one older than this was left
    #: by a worker that died in between.
    CLAIM_LEFTOVER_AGE = 60

    def sweep(self, now: float | None = None) -> None:
        """Delete expired records (the session store expires its own entries)."""
        now = time.time() if now is None else now
        for entry in os.scandir(self.directory):
            if entry.name.endswith(".taken"):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime + self.CLAIM_LEFTOVER_AGE < now:
                        os.unlink(entry.path)
                continue
            if not entry.name.endswith(".json"):
                continue
            try:
                with open(entry.path, "rb") as fh:
                    if json.loads(fh.read())["expires"] < now:
                        os.unlink(entry.path)
            except (OSError, ValueError, KeyError):
                continue


class RedisTokenStore(TokenStore):
    """Token sets in Redis, shared by every instance; locks that hold across machines.

    The lock is ``SET key owner NX PX lease`` and is released only by its owner
    (compare-and-delete in one Lua script), so a lock that outlived its holder
    cannot be deleted by the holder of the next one.

    The lease is short (:data:`LOCK_LEASE`): a worker killed while it holds the lock
    (OOM killer, ``SIGKILL``, a lost machine) blocks its session for a few seconds,
    not for the longest refresh imaginable. A live holder that waits longer on a slow
    token endpoint keeps the lock: a companion thread (a greenlet under gevent)
    extends the lease every third of it (compare-and-pexpire) until the ``with``
    block ends. Only a holder that can no longer reach Redis for a whole lease loses
    it, and then Redis is down for everyone anyway.
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
        self._renew = client.register_script(self._RENEW)

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
        return decode(self.redis.get(self.redis_key(key)))

    def put(self, key: str, record: dict[str, Any], ttl: int) -> None:
        self.redis.set(self.redis_key(key), encode(record, ttl), ex=ttl)

    def delete(self, key: str) -> None:
        self.redis.delete(self.redis_key(key))

    def pop(self, key: str) -> dict[str, Any] | None:
        # GET and DEL in one MULTI/EXEC transaction (GETDEL needs Redis 6.2).
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.redis_key(key))
        pipe.delete(self.redis_key(key))
        raw, _deleted = pipe.execute()
        return decode(raw)

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
        done = threading.Event()
        renewer = threading.Thread(
            target=self._keep, args=(name, owner, lease_ms, done), daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            done.set()
            self._release(keys=[name], args=[owner])

    def _keep(self, name: str, owner: str, lease_ms: int, done: threading.Event) -> None:
        """Extend the lease while the holder lives; stop once it let go or lost the lock.

        ``threading`` is gevent's after monkey-patching, so this is a greenlet whose
        wait lets the worker's other requests run; under plain threads, a thread.
        """
        while not done.wait(lease_ms / 3000):
            try:
                if not self._renew(keys=[name], args=[owner, lease_ms]):
                    return  # released (or expired and taken): nothing of ours to keep
            except Exception as exc:  # the holder goes on; Redis may be back
                log.warning("refresh lock not renewed: %s", type(exc).__name__)

    def check(self) -> None:
        from .redis_client import check_writable

        check_writable(self.redis, self.prefix)
