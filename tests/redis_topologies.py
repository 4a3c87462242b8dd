"""Real Redis topologies for the high-availability tests: a cluster, Sentinel, TLS.

Each is built from Debian's ``redis-server``/``redis-cli`` on free loopback ports, in
a folder of its own; a missing binary fails loudly (:class:`tests.servers.RedisServer`).
Every wait is bounded in time.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from sandbox.tls import ensure_local_certificates
from tests.servers import RedisServer, free_port


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 >= 65536:
            continue
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port + 10000)) != 0:
                return port
    raise RuntimeError("no free port pair for a cluster node")


def cluster_node(folder: Path, *extra: str) -> RedisServer:
    port = free_cluster_port()
    return RedisServer(
        folder / str(port),
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "1000",
        "--cluster-require-full-coverage", "yes",
        "--save", "",
        *extra,
        port=port,
    ).start()  # fmt: skip


class RedisClusterUnderTest:
    """Three masters, no replicas, every slot covered (``redis-cli --cluster create``)."""

    def __init__(self, folder: Path):
        self.nodes = [cluster_node(folder) for _ in range(3)]
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed (Debian's redis-tools)")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            wait_for(lambda c=client: c.cluster("info")["cluster_state"] == "ok", 20, "cluster ok")

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def flush(self) -> None:
        for node in self.nodes:
            redis.Redis(port=node.port).flushall()

    def all_keys(self) -> list[str]:
        return sorted(k.decode() for n in self.nodes for k in redis.Redis(port=n.port).keys("*"))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelUnderTest:
    """A master, one replica and three sentinels watching them as ``mymaster``.

    ``down-after-milliseconds`` 1000 and ``failover-timeout`` 3000 so a failover takes
    seconds. Ready when every sentinel knows the replica and the two other sentinels
    (needed for the quorum and the leader election of a failover).
    """

    def __init__(self, folder: Path):
        self.master = RedisServer(folder / "master", "--save", "").start()
        self.replica = RedisServer(
            folder / "replica", "--save", "", "--replicaof", "127.0.0.1", str(self.master.port)
        ).start()
        replica = redis.Redis(port=self.replica.port)
        wait_for(lambda: replica.info("replication")["master_link_status"] == "up", 20, "sync")
        self.sentinels = [self._sentinel(folder / f"sentinel{i}") for i in range(3)]
        for sentinel in self.sentinels:
            client = redis.Redis(port=sentinel.port)
            wait_for(
                lambda c=client: (
                    len(c.sentinel_slaves("mymaster")) == 1
                    and len(c.sentinel_sentinels("mymaster")) == 2
                ),
                30,
                "sentinels to find the replica and each other",
            )

    def _sentinel(self, folder: Path) -> RedisServer:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = folder / "sentinel.conf"  # the sentinel rewrites it: a file of its own
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.master.port} 2\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 3000\n"
            "sentinel parallel-syncs mymaster 1\n"
        )
        server = RedisServer(folder, port=port)
        server.command = [server.binary, str(config), "--sentinel"]
        return server.start()

    @property
    def url(self) -> str:
        return (
            "redis+sentinel://"
            + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
            + ("/mymaster")
        )

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            server.stop()


# -- TLS -------------------------------------------------------------------------------


class TlsRedisUnderTest:
    """``redis-server`` answering only TLS (``--port 0``), its certificate signed by a
    private CA (``ca``); ``other_ca`` signed nothing this server shows. Both are made as
    the sandbox makes its own (:func:`sandbox.tls.ensure_local_certificates`)."""

    def __init__(self, folder: Path):
        local = ensure_local_certificates(folder / "private-ca")
        self.ca = local.ca_cert
        self.other_ca = ensure_local_certificates(folder / "other-ca").ca_cert
        cert, key = local.cert, local.key
        self.tls_port = free_port()
        self.server = RedisServer(
            folder / "data",
            "--port", "0",
            "--tls-port", str(self.tls_port),
            "--tls-cert-file", str(cert),
            "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(self.ca),
            "--tls-auth-clients", "no",
            "--save", "",
        ).start()  # fmt: skip

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/0"

    def stop(self) -> None:
        self.server.stop()
