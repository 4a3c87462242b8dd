"""The refresh lock outlives its holder by seconds at most, and a live holder keeps it.

Holders here are real processes: a killed worker is ``SIGKILL`` on a process that
holds the lock, as the OOM killer or a lost container would do it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from config import load_settings
from pagero_oauth.keeper import refresh_wait
from pagero_oauth.stores import LockTimeout
from pagero_oauth.stores.files import FileStore
from pagero_oauth.stores.redis import RedisStore
from tests.servers import ROOT

KEY = "session-being-refreshed"

#: A holder in its own process: takes the lock, says so, then sleeps inside it.
HOLDER = """
import sys, time
if sys.argv[1] == "gevent":
    from gevent import monkey
    monkey.patch_all()
import redis
from pagero_oauth.stores.files import FileStore
from pagero_oauth.stores.redis import RedisStore
kind, where, lease, hold = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
if kind == "file":
    store = FileStore(where)
else:
    store = RedisStore(redis.Redis.from_url(where))
    store.LOCK_LEASE = lease
with store.lock(sys.argv[5], timeout=5):
    print("held", flush=True)
    time.sleep(hold)
print("released", flush=True)
"""


@contextmanager
def holder(kind: str, where: str, lease: float = 5.0, hold: float = 60.0) -> Iterator:
    """A process holding the lock on ``KEY`` (``kind``: file, redis or gevent)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, kind, where, str(lease), str(hold), KEY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _seconds_to_take(store, timeout: float) -> float:
    started = time.monotonic()
    with store.lock(KEY, timeout=timeout):
        return time.monotonic() - started


def test_a_killed_holders_redis_lock_is_free_within_the_lease(redis_url):
    store = RedisStore(redis.Redis.from_url(redis_url))
    with holder("redis", redis_url) as proc:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        waited = _seconds_to_take(store, timeout=10)
    assert waited <= RedisStore.LOCK_LEASE + 0.5


def test_a_killed_holders_file_lock_is_free_at_once(tmp_path):
    store = FileStore(str(tmp_path))
    with holder("file", str(tmp_path)) as proc:
        with pytest.raises(LockTimeout):
            _seconds_to_take(store, timeout=0.2)  # held while the process lives
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        assert _seconds_to_take(store, timeout=2) < 0.5  # the kernel dropped the flock


@pytest.mark.parametrize("kind", ["redis", "gevent"])
def test_a_live_redis_holder_keeps_the_lock_past_its_lease(redis_url, kind):
    """A refresh slower than the lease (a slow token endpoint) is never joined by a
    second holder: the lease is renewed, by a thread or (under gevent) a greenlet."""
    store = RedisStore(redis.Redis.from_url(redis_url))
    with holder(kind, redis_url, lease=0.6, hold=2.0) as proc:
        with pytest.raises(LockTimeout):
            _seconds_to_take(store, timeout=1.5)  # 2.5 leases: only renewal keeps it
        assert proc.stdout.readline().strip() == "released"
    assert _seconds_to_take(store, timeout=1) < 0.2


def test_a_live_holder_in_a_thread_keeps_the_lock_past_its_lease(redis_url):
    """The same under the in-process test server's plain threads."""
    store = RedisStore(redis.Redis.from_url(redis_url))
    store.LOCK_LEASE = 0.3
    outcome: list[object] = []

    def second_holder() -> None:
        try:
            outcome.append(_seconds_to_take(store, timeout=0.8))
        except LockTimeout as exc:
            outcome.append(exc)

    with store.lock(KEY, timeout=1):
        waiter = threading.Thread(target=second_holder)
        waiter.start()
        time.sleep(1.2)  # four leases
        waiter.join()
    assert isinstance(outcome[0], LockTimeout)
    assert _seconds_to_take(store, timeout=0.5) < 0.2  # released, not left to expire


def test_a_waiter_for_a_refresh_gets_an_answer_within_15_seconds():
    # The defaults (3.05 s connect, 10 s read) and a configuration with patient timeouts.
    assert refresh_wait(load_settings(overrides={"PAGERO_ENV": "sandbox"})) < 15
    slow = load_settings(overrides={"PAGERO_ENV": "sandbox", "PAGERO_HTTP_READ_TIMEOUT": "60"})
    assert refresh_wait(slow) < 15
