"""A real HTTP/1.1 server that closes kept-alive connections idle for ``idle`` seconds.

Pagero's servers, their load balancers and Node (5 s by default) all close a
connection nobody used for a while. Werkzeug's test server never does, so the
stale-connection tests put this server in front of the sandbox's WSGI app: asyncio
for the connections, a thread per call into the app.

It closes an idle connection in one of two ways (``when``):

* ``"timer"``: exactly ``idle`` seconds after its last answer, as a server's idle
  timer does; the client sees the close before it sends again;
* ``"arrival"``: when the next request arrives after ``idle`` seconds or more,
  without answering it: the idle timer firing just as the request comes in, the
  race that surfaces as an error in the client. Every other such close is a reset
  (RST) rather than an orderly close (FIN), so both shapes of the error occur.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from werkzeug.test import EnvironBuilder, run_wsgi_app


class IdleClosingServer:
    def __init__(self, app: Callable, idle: float, when: str = "timer"):
        assert when in ("timer", "arrival"), when
        self.app = app
        self.idle = idle
        self.when = when
        self.connections = 0
        self.closed_on_arrival = 0
        self._loop = asyncio.new_event_loop()
        self._calls = ThreadPoolExecutor(max_workers=32, thread_name_prefix="idle-closing")
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="idle-closing")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the idle-closing server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=256)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        """Stop listening, drop every open connection, end the loop's thread."""

        async def stop() -> None:
            self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._calls.shutdown(wait=False, cancel_futures=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        loop = asyncio.get_running_loop()
        answered_at = loop.time()
        wait = self.idle if self.when == "timer" else 60.0
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return  # idle for ``idle`` seconds (timer), or the client left
                if self.when == "arrival" and loop.time() - answered_at >= self.idle:
                    self.closed_on_arrival += 1
                    if self.closed_on_arrival % 2:
                        _reset_on_close(writer)
                    return
                method, target, headers = _parse(head)
                length = int(headers.get("Content-Length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, answer_headers, answer = await loop.run_in_executor(
                    self._calls, self._call_app, method, target, headers, body
                )
                lines = [f"HTTP/1.1 {status}"]
                lines += [f"{k}: {v}" for k, v in answer_headers if k.lower() != "content-length"]
                lines += [f"Content-Length: {len(answer)}", "Connection: keep-alive", "", ""]
                writer.write("\r\n".join(lines).encode("latin-1") + answer)
                await writer.drain()
                answered_at = loop.time()
        finally:
            writer.close()

    def _call_app(self, method: str, target: str, headers: dict[str, str], body: bytes):
        environ = EnvironBuilder(
            path=target,
            method=method,
            headers=headers,
            data=body,
            base_url=f"http://{headers.get('Host', '127.0.0.1')}",
        ).get_environ()
        app_iter, status, answer_headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            return status, list(answer_headers.items()), b"".join(app_iter)
        finally:
            getattr(app_iter, "close", lambda: None)()


def _parse(head: bytes) -> tuple[str, str, dict[str, str]]:
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return method, target, headers


def _reset_on_close(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), as a server tearing a connection down does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
