"""The filesystem backend (``SESSION_BACKEND=filesystem``): one machine, any number of workers.

* records (tokens, pending logins): one small JSON file per key, replaced atomically,
  locked with ``flock`` on one lock file per key (:class:`FileStore`);
* traces: one JSON-lines file per trace, appended under an ``flock`` of the file
  itself, trimmed to the newest events when it grows past :attr:`FileTraceStore.TRIM_BYTES`,
  and deleted by :meth:`FileTraceStore.sweep` once untouched for the session lifetime.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from .base import LockTimeout, Store, TraceStore, decode_lines, digest


class FileStore(Store):
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
                return self.decode(fh.read())
        except FileNotFoundError:
            return None

    def put(self, key: str, record: dict[str, Any], ttl: int) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.encode(record, ttl))
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
                return self.decode(fh.read())
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


class FileTraceStore(TraceStore):
    """One ``.jsonl`` file per trace, shared by the workers of one machine.

    Appending is a single ``write`` under an exclusive ``flock`` on the file, so
    concurrent workers never interleave half lines; readers take a shared lock.
    """

    #: Past this size a file is rewritten with only its newest ``limit`` events.
    TRIM_BYTES = 256 * 1024
    #: On average every this many appends, expired trace files are deleted.
    SWEEP_EVERY = 200

    def __init__(self, directory: str, ttl: int):
        self.directory = directory
        self.ttl = ttl
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, digest(key) + ".jsonl")

    def append(self, key: str, events: list[dict[str, Any]], limit: int, ttl: int) -> None:
        data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            if os.fstat(fd).st_size > self.TRIM_BYTES:
                os.lseek(fd, 0, os.SEEK_SET)
                lines = _read_all(fd).splitlines()[-limit:]
                os.ftruncate(fd, 0)
                os.write(fd, b"".join(line + b"\n" for line in lines))
        finally:
            os.close(fd)  # releases the lock
        if secrets.randbelow(self.SWEEP_EVERY) == 0:
            self.sweep()

    def read(self, key: str, limit: int) -> list[dict[str, Any]]:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            return []
        try:
            if os.fstat(fd).st_mtime + self.ttl < time.time():
                return []
            fcntl.flock(fd, fcntl.LOCK_SH)
            return decode_lines(_read_all(fd).splitlines())[-limit:]
        finally:
            os.close(fd)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def sweep(self, now: float | None = None) -> None:
        """Delete traces untouched for longer than the session lifetime."""
        now = time.time() if now is None else now
        for entry in os.scandir(self.directory):
            if entry.name.endswith(".jsonl"):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime + self.ttl < now:
                        os.unlink(entry.path)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
