"""The Redis topologies the tests build leave no ``redis-server`` running when their
set-up fails partway (tests/redis_topologies.py): a leftover would outlive the run."""

from __future__ import annotations

import shutil

import pytest

from tests.redis_topologies import RedisClusterUnderTest, SentinelUnderTest
from tests.servers import RedisServer


@pytest.fixture
def started(monkeypatch) -> list[RedisServer]:
    """Every RedisServer started during the test."""
    servers: list[RedisServer] = []
    start = RedisServer.start

    def recording_start(self):
        servers.append(self)
        return start(self)

    monkeypatch.setattr(RedisServer, "start", recording_start)
    return servers


def test_a_cluster_whose_creation_fails_stops_the_nodes_it_started(tmp_path, monkeypatch, started):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "redis-cli" else which(name))
    with pytest.raises(RuntimeError, match="redis-cli is not installed"):
        RedisClusterUnderTest(tmp_path)
    assert len(started) == 3
    assert all(server.proc.poll() is not None for server in started)


def test_a_sentinel_set_up_that_fails_stops_the_servers_it_started(tmp_path, started):
    def refuse(self, folder, quorum):
        raise RuntimeError("the sentinel did not start")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SentinelUnderTest, "_sentinel", refuse)
        with pytest.raises(RuntimeError, match="the sentinel did not start"):
            SentinelUnderTest(tmp_path)
    assert len(started) == 2  # the master and the replica
    assert all(server.proc.poll() is not None for server in started)


def test_a_server_that_never_answers_is_not_left_running(tmp_path):
    server = RedisServer(tmp_path)
    server.command = ["sleep", "60"]  # runs, and never listens
    server.start_timeout = 0.5
    with pytest.raises(RuntimeError, match="did not start"):
        server.start()
    assert server.proc.poll() is not None
