"""Where the flow trace (:mod:`app.flow_trace`) keeps each browser session's events.

Why not in the Flask session: Flask-Session writes the whole session at the end of a
request that changed it, so two requests of one browser (the documents page fires
several API calls at once) would each write their own copy and the last one would drop
the other's events. The same reason keeps tokens apart (:mod:`app.token_store`); this
store sits beside that one, on the same backend, and appends instead of replacing:

* filesystem: one JSON-lines file per trace, appended under an ``flock`` of the file
  itself, trimmed to the newest events when it grows past :attr:`FileTraceStore.TRIM_BYTES`,
  and deleted by :meth:`FileTraceStore.sweep` once untouched for the session lifetime;
* Redis: one list per trace, ``RPUSH`` + ``LTRIM`` + ``EXPIRE`` in one transaction.

Events are small JSON-able dicts that hold no secret (the trace masks as it records),
so a store knows nothing about what it keeps.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import time
from abc import ABC, abstractmethod
from typing import Any


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


def _digest(key: str) -> str:
    # The session's trace key never appears in a file name or a Redis key.
    return hashlib.sha256(key.encode()).hexdigest()


def _decode(lines: list[bytes]) -> list[dict[str, Any]]:
    events = []
    for line in lines:
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


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
        return os.path.join(self.directory, _digest(key) + ".jsonl")

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
            return _decode(_read_all(fd).splitlines())[-limit:]
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


class RedisTraceStore(TraceStore):
    """One Redis list per trace, shared by every instance."""

    def __init__(self, client, prefix: str = "pagero:"):
        self.redis = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}trace:{_digest(key)}"

    def append(self, key: str, events: list[dict[str, Any]], limit: int, ttl: int) -> None:
        name = self._key(key)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(name, *(json.dumps(e, separators=(",", ":")) for e in events))
        pipe.ltrim(name, -limit, -1)
        pipe.expire(name, ttl)
        pipe.execute()

    def read(self, key: str, limit: int) -> list[dict[str, Any]]:
        return _decode(self.redis.lrange(self._key(key), -limit, -1))

    def delete(self, key: str) -> None:
        self.redis.delete(self._key(key))
