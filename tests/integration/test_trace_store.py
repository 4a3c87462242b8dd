"""The flow trace's store: appends that never lose a concurrent writer's events,
bounded size, expiry, on the filesystem and in a real Redis."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest
import redis

from pagero_oauth.stores.files import FileTraceStore
from pagero_oauth.stores.redis import RedisTraceStore


def events(*numbers: int) -> list[dict]:
    return [{"n": n} for n in numbers]


@pytest.fixture(params=["file", "redis"])
def store(request, tmp_path):
    if request.param == "file":
        return FileTraceStore(str(tmp_path / "traces"), ttl=60)
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    return RedisTraceStore(client, prefix="test:")


def test_appends_in_order_and_reads_the_newest(store):
    store.append("k", events(1, 2), limit=3, ttl=60)
    store.append("k", events(3, 4), limit=3, ttl=60)
    assert store.read("k", 3) == events(2, 3, 4)
    assert store.read("k", 10)[-1] == {"n": 4}
    assert store.read("other", 3) == []


def test_delete_forgets_a_trace(store):
    store.append("k", events(1), limit=10, ttl=60)
    store.delete("k")
    store.delete("k")  # twice is fine
    assert store.read("k", 10) == []


def test_concurrent_appends_lose_nothing(store):
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        barrier.wait()
        for i in range(10):
            store.append("k", events(n * 100 + i), limit=200, ttl=60)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(e["n"] for e in store.read("k", 200)) == sorted(
        n * 100 + i for n in range(8) for i in range(10)
    )


def test_file_store_trims_to_the_newest_events_past_its_size(tmp_path, monkeypatch):
    store = FileTraceStore(str(tmp_path), ttl=60)
    monkeypatch.setattr(FileTraceStore, "TRIM_BYTES", 200)
    for n in range(50):
        store.append("k", events(n), limit=5, ttl=60)
    (path,) = [p for p in tmp_path.iterdir() if p.suffix == ".jsonl"]
    assert path.stat().st_size <= 200 + 20
    assert store.read("k", 5) == events(45, 46, 47, 48, 49)
    assert "k" not in path.name  # named by a digest of the key
    assert path.stat().st_mode & 0o077 == 0


def test_file_store_expires_untouched_traces_and_sweeps_them(tmp_path):
    store = FileTraceStore(str(tmp_path), ttl=60)
    store.append("old", events(1), limit=5, ttl=60)
    store.append("new", events(2), limit=5, ttl=60)
    old = tmp_path / (hashlib.sha256(b"old").hexdigest() + ".jsonl")
    stale = time.time() - 120
    os.utime(old, (stale, stale))
    assert store.read("old", 5) == []  # expired: no longer shown
    store.sweep()
    assert not old.exists()
    assert store.read("new", 5) == events(2)


def test_redis_store_expires_with_the_session(redis_url):
    client = redis.Redis.from_url(redis_url)
    store = RedisTraceStore(client, prefix="test:")
    store.append("k", events(1), limit=5, ttl=30)
    (name,) = client.keys("test:trace:*")
    assert 0 < client.ttl(name) <= 30
    assert b"k" not in name.split(b":")[-1]
