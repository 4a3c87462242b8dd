"""Real Redis topologies for the high-availability tests: a cluster, Sentinel, TLS.

Each is built from Debian's ``redis-server``/``redis-cli`` on free loopback ports, in
a folder of its own; a missing binary fails loudly (:class:`tests.servers.RedisServer`).
Every wait is bounded in time. The cluster and Sentinel also come over TLS only
(:class:`TlsFiles`): every node, sentinel and link between them (replication, the
cluster bus) speaks TLS, as a managed Redis with in-transit encryption does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@contextmanager
def stopped_on_failure(topology: Any) -> Iterator[None]:
    """A topology whose set-up fails partway stops the servers it had started, so no
    ``redis-server`` outlives the test run."""
    try:
        yield
    except BaseException:
        topology.stop()
        raise


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


@dataclass(frozen=True)
class TlsFiles:
    """A private CA (``ca``) and the server certificate it signed, for every server of a
    topology; ``other_ca`` signed nothing a server shows. Made as the sandbox makes its
    own (:func:`sandbox.tls.ensure_local_certificates`): EC keys, a second at most."""

    ca: Path
    other_ca: Path
    cert: Path
    key: Path

    @classmethod
    def make(cls, folder: Path) -> TlsFiles:
        # client_auth: a cluster node shows it to its peers on the bus as a client's.
        local = ensure_local_certificates(folder / "private-ca", client_auth=True)
        other = ensure_local_certificates(folder / "other-ca")
        return cls(local.ca_cert, other.ca_cert, local.cert, local.key)

    def settings(self, tls_port: int) -> dict[str, str]:
        """TLS only (``port 0``); the same certificate for the links a server opens
        (replication, the cluster bus, a sentinel's), which check the peer with ``ca``."""
        return {
            "port": "0",
            "tls-port": str(tls_port),
            "tls-cert-file": str(self.cert),
            "tls-key-file": str(self.key),
            "tls-ca-cert-file": str(self.ca),
            "tls-auth-clients": "no",
        }

    def server_arguments(self, tls_port: int) -> list[str]:
        """:meth:`settings` as ``redis-server`` arguments."""
        return [
            arg for name, value in self.settings(tls_port).items() for arg in (f"--{name}", value)
        ]

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, ssl=True, ssl_ca_certs=str(self.ca))


def direct_client(port: int, tls: TlsFiles | None) -> redis.Redis:
    """A client of one node, for the tests' own checks (TLS when the topology is)."""
    return tls.client(port) if tls else redis.Redis(port=port)


def cluster_node(folder: Path, *extra: str, tls: TlsFiles | None = None) -> RedisServer:
    """A cluster node on a port whose bus port (+10000, TLS too with ``tls``) is free."""
    port = free_cluster_port()
    if tls:
        extra = (*tls.server_arguments(port), "--tls-cluster", "yes", *extra)
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
    """Three masters, no replicas, every slot covered (``redis-cli --cluster create``);
    over TLS only with ``tls``."""

    def __init__(self, folder: Path, tls: TlsFiles | None = None):
        self.tls = tls
        self.nodes: list[RedisServer] = []
        with stopped_on_failure(self):
            for _ in range(3):
                self.nodes.append(cluster_node(folder, tls=tls))
            cli = shutil.which("redis-cli")
            if cli is None:
                raise RuntimeError("redis-cli is not installed (Debian's redis-tools)")
            addresses = [f"127.0.0.1:{node.listening_port}" for node in self.nodes]
            over_tls = ["--tls", "--cacert", str(tls.ca)] if tls else []
            create = [
                "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"
            ]  # fmt: skip
            subprocess.run([cli, *over_tls, *create], check=True, capture_output=True, timeout=30)
            for node in self.nodes:
                client = self.client(node)
                wait_for(
                    lambda c=client: c.cluster("info")["cluster_state"] == "ok", 20, "cluster ok"
                )

    def client(self, node: RedisServer) -> redis.Redis:
        return direct_client(node.listening_port, self.tls)

    @property
    def url(self) -> str:
        scheme = "rediss+cluster" if self.tls else "redis+cluster"
        return f"{scheme}://" + ",".join(f"127.0.0.1:{n.listening_port}" for n in self.nodes)

    def flush(self) -> None:
        for node in self.nodes:
            self.client(node).flushall()

    def all_keys(self) -> list[str]:
        return sorted(k.decode() for n in self.nodes for k in self.client(n).keys("*"))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelUnderTest:
    """A master, one replica and ``sentinels`` sentinels watching them as ``mymaster``.

    ``down-after-milliseconds`` 1000 and ``failover-timeout`` 3000 so a failover takes
    seconds. Ready when every sentinel knows the replica and the other sentinels
    (needed for the quorum and the leader election of a failover). With ``tls``, every
    server and every link (replication, the sentinels' own) is TLS only.
    """

    def __init__(self, folder: Path, tls: TlsFiles | None = None, sentinels: int = 3):
        self.tls = tls
        self.master = self.replica = None
        self.sentinels: list[RedisServer] = []
        with stopped_on_failure(self):
            self.master = self._data_node(folder / "master")
            self.replica = self._data_node(
                folder / "replica", "--replicaof", "127.0.0.1", str(self.master.listening_port)
            )
            replica = self.client(self.replica)
            wait_for(lambda: replica.info("replication")["master_link_status"] == "up", 20, "sync")
            quorum = min(2, sentinels)
            for i in range(sentinels):
                self.sentinels.append(self._sentinel(folder / f"sentinel{i}", quorum))
            for sentinel in self.sentinels:
                client = self.client(sentinel)
                wait_for(
                    lambda c=client: (
                        len(c.sentinel_slaves("mymaster")) == 1
                        and len(c.sentinel_sentinels("mymaster")) == sentinels - 1
                    ),
                    30,
                    "sentinels to find the replica and each other",
                )

    def client(self, server: RedisServer) -> redis.Redis:
        return direct_client(server.listening_port, self.tls)

    def _data_node(self, folder: Path, *extra: str) -> RedisServer:
        if self.tls:
            tls_port = free_port()
            extra = (*self.tls.server_arguments(tls_port), "--tls-replication", "yes", *extra)
        # No wait for more replicas before the first sync (5 s by default): starts fast.
        return RedisServer(folder, "--save", "", "--repl-diskless-sync-delay", "0", *extra).start()

    def _sentinel(self, folder: Path, quorum: int) -> RedisServer:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        listen = f"port {port}\n"
        if self.tls:  # tls-replication: TLS to the master, the replica and the other sentinels
            settings = {**self.tls.settings(port), "tls-replication": "yes"}
            listen = "".join(f"{name} {value}\n" for name, value in settings.items())
        config = folder / "sentinel.conf"  # the sentinel rewrites it: a file of its own
        config.write_text(
            f"{listen}bind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.master.listening_port} {quorum}\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 3000\n"
            "sentinel parallel-syncs mymaster 1\n"
        )
        server = RedisServer(folder, port=port)
        server.command = [server.binary, str(config), "--sentinel"]
        return server.start()

    def flush(self) -> None:
        self.client(self.master).flushall()

    def all_keys(self) -> list[str]:
        return sorted(k.decode() for k in self.client(self.master).keys("*"))

    @property
    def url(self) -> str:
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        return (
            f"{scheme}://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + "/mymaster"
        )

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            if server is not None:
                server.stop()


# -- TLS -------------------------------------------------------------------------------


class TlsRedisUnderTest:
    """``redis-server`` answering only TLS (``--port 0``), its certificate signed by a
    private CA (``ca``); ``other_ca`` signed nothing this server shows (:class:`TlsFiles`)."""

    def __init__(self, folder: Path):
        files = TlsFiles.make(folder)
        self.ca, self.other_ca = files.ca, files.other_ca
        self.tls_port = free_port()
        self.server = RedisServer(
            folder / "data", *files.server_arguments(self.tls_port), "--save", ""
        ).start()

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.tls_port}/0"

    def stop(self) -> None:
        self.server.stop()
