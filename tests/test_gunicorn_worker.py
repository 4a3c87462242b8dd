"""config/worker.py: a kept-alive connection's next request is served in place, safely.

Real gunicorn with the Dockerfile's command and raw sockets, so what is checked is
what a browser's connection sees: requests answered in order on one connection
(pipelined or not, right away or after a pause), and no connection ever waiting
for a thread that lingers on another one.
"""

from __future__ import annotations

import io
import socket
import subprocess
import time
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

from tests.servers import ROOT, free_port, gunicorn, gunicorn_invocation

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


class Connection:
    """One client connection that reads answers one at a time (Content-Length bodies)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines
            if line.lower().startswith(b"content-length:")
        )
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve(tmp_path):
    """Start the app under gunicorn with extra environment; returns its port."""
    with ExitStack() as running:

        def start(**env: str) -> int:
            port = free_port()
            running.enter_context(
                gunicorn(
                    port,
                    tmp_path / f"gunicorn-{port}.log",
                    PAGERO_ENV="sandbox",
                    SANDBOX_PORT=str(free_port()),  # /healthz never calls it
                    INSTANCE_PATH=str(tmp_path / "instance"),
                    GUNICORN_WORKERS="1",
                    **env,
                )
            )
            return port

        yield start


def test_one_connection_serves_many_requests_in_order_pipelined_or_paused(serve):
    conn = Connection(serve())
    try:
        for _ in range(20):  # back to back: served in place by the same thread
            conn.send(HEALTHZ)
            assert conn.answer()[0] == 200
        conn.send(HEALTHZ * 3)  # pipelined: all three answered, in order
        assert [conn.answer()[0] for _ in range(3)] == [200, 200, 200]
        time.sleep(0.2)  # longer than the linger: the connection went back to the main loop
        conn.send(HEALTHZ)
        assert conn.answer()[0] == 200
    finally:
        conn.close()


def test_a_lingering_thread_never_makes_another_connection_wait(serve):
    """One thread and the longest linger: if the only thread waited on the idle
    connection, the second connection would be answered a whole second late."""
    port = serve(GUNICORN_THREADS="1", GUNICORN_KEEPALIVE_LINGER_MS="1000")
    idle, other = Connection(port), Connection(port)
    try:
        idle.send(HEALTHZ)
        assert idle.answer()[0] == 200  # ...and now it stays silent
        started = time.monotonic()
        other.send(HEALTHZ)
        assert other.answer()[0] == 200
        assert time.monotonic() - started < 0.5
    finally:
        idle.close()
        other.close()


def test_with_a_free_thread_the_next_request_is_served_by_the_lingering_one(serve):
    """Two threads: the first connection's thread lingers, the second is served by the
    free thread at once, and the first connection's next request needs no main loop."""
    port = serve(GUNICORN_THREADS="2", GUNICORN_KEEPALIVE_LINGER_MS="1000")
    first, second = Connection(port), Connection(port)
    try:
        first.send(HEALTHZ)
        assert first.answer()[0] == 200
        started = time.monotonic()
        second.send(HEALTHZ)
        assert second.answer()[0] == 200
        assert time.monotonic() - started < 0.5
        first.send(HEALTHZ)
        assert first.answer()[0] == 200
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("value", ["abc", "-1", "5000"])
def test_a_bad_linger_setting_stops_gunicorn_and_names_it(tmp_path, value):
    command, env = gunicorn_invocation(
        free_port(),
        PAGERO_ENV="sandbox",
        INSTANCE_PATH=str(tmp_path / "instance"),
        GUNICORN_KEEPALIVE_LINGER_MS=value,
    )
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert b"GUNICORN_KEEPALIVE_LINGER_MS must be" in done.stdout + done.stderr


class _Conn:
    """What the worker reads of a gthread connection: its socket and read-ahead buffer."""

    def __init__(self, sock: socket.socket, read_ahead: bytes = b""):
        self.sock = sock
        self.parser = SimpleNamespace(unreader=SimpleNamespace(buf=io.BytesIO(read_ahead)))


@pytest.fixture
def worker():
    from config.worker import KeepAliveThreadWorker

    w = KeepAliveThreadWorker.__new__(KeepAliveThreadWorker)  # no arbiter needed
    w.alive, w.linger_ms, w._busy, w.cfg = True, 300, 1, SimpleNamespace(threads=2)
    return w


def _waited(worker, conn) -> tuple[bool, float]:
    started = time.monotonic()
    ready = worker._next_request_arrives(conn)
    return ready, time.monotonic() - started


def test_the_next_request_rule(worker):
    client, server = socket.socketpair()
    try:
        # Idle client, a free thread elsewhere: wait the linger, then give up.
        ready, took = _waited(worker, _Conn(server))
        assert not ready and 0.25 <= took < 2
        # Every thread taken: give the connection back at once.
        worker._busy = 2
        ready, took = _waited(worker, _Conn(server))
        assert not ready and took < 0.1
        # A request already read ahead, or already on the socket: serve it.
        assert _waited(worker, _Conn(server, read_ahead=b"GET / HTTP/1.1\r\n"))[0]
        client.sendall(HEALTHZ)
        ready, took = _waited(worker, _Conn(server))
        assert ready and took < 0.1
        # A stopping worker keeps nothing.
        worker.alive = False
        assert not worker._next_request_arrives(_Conn(server))
    finally:
        client.close()
        server.close()
