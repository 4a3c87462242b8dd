"""The file token store's refresh lock: one per key, exclusive, and leaving nothing behind."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from pagero_oauth.stores import LockTimeout
from pagero_oauth.stores.files import FileStore


def _old_stripe(key: str) -> int:
    """Which of 256 shared lock files a key used to fall in."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 256


def test_two_sessions_never_wait_for_each_others_lock(tmp_path):
    store = FileStore(str(tmp_path))
    first = "session-a"
    # A key that shared its lock file with the first when locks were striped.
    second = next(
        f"session-{n}" for n in range(100_000) if _old_stripe(f"session-{n}") == _old_stripe(first)
    )
    with store.lock(first, timeout=5):
        started = time.monotonic()
        with store.lock(second, timeout=0.5):
            assert time.monotonic() - started < 0.5


def test_the_lock_is_exclusive_while_each_holder_deletes_its_file(tmp_path):
    store = FileStore(str(tmp_path))
    inside, most, errors = [0], [0], []
    guard = threading.Lock()

    def worker():
        try:
            for _ in range(40):
                with store.lock("one-session", timeout=10):
                    with guard:
                        inside[0] += 1
                        most[0] = max(most[0], inside[0])
                    time.sleep(0.001)
                    with guard:
                        inside[0] -= 1
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert most[0] == 1  # never two holders at once


def test_lock_files_do_not_pile_up(tmp_path):
    store = FileStore(str(tmp_path))
    for n in range(50):
        with store.lock(f"session-{n}", timeout=1):
            pass
    assert os.listdir(tmp_path / "locks") == []


def test_a_waiter_gives_up_with_lock_timeout_and_never_names_the_key(tmp_path):
    store = FileStore(str(tmp_path))
    with (
        store.lock("secret-session-id", timeout=5),
        pytest.raises(LockTimeout) as caught,
        store.lock("secret-session-id", timeout=0.2),
    ):
        pass
    assert "secret-session-id" not in str(caught.value)
