"""A stand-in for a remote API: answers every request after a fixed delay, using no thread.

Pagero's API is remote: every call waits 50-300 ms on the network. What a proxy in front
of it must survive is *how many calls wait at once*, and a stand-in that holds a thread
per waiting call (or spends milliseconds of CPU on each) would be the bottleneck itself.
This one is a bare asyncio HTTP/1.1 server: each request is a coroutine that sleeps, so
thousands can wait together for a few hundred microseconds of CPU each.

It answers any method and path with ``200`` and a small JSON body, keeps connections
alive, and checks only that a bearer token is present (``401`` without one), so the
benchmark's direct calls and the app's proxied calls do the same work upstream. A
``delay_ms=N`` in the query string sets that one call's delay (the app passes the query
on), so one run can keep calls waiting longer than the rest.

    python -m bench.slow_api --port 5099 --delay-ms 100

:func:`serve_in_thread` runs one inside a test or a benchmark on a free loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import Iterator

BODY = b'{"items": [], "total": 0}'
#: A call's own delay, from its query string (see above).
DELAY_IN_QUERY = re.compile(rb"[?&]delay_ms=([0-9]{1,6})(?:[& ]|$)")


def _answer(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n\r\n"
    ).encode() + body


OK = _answer("200 OK", BODY)
UNAUTHORIZED = _answer("401 Unauthorized", b'{"error": "invalid_token"}')


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            authorized = False
            lines = head.split(b"\r\n")
            asked = DELAY_IN_QUERY.search(lines[0])
            wait = int(asked.group(1)) / 1000 if asked else delay
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"authorization":
                    authorized = value.strip().lower().startswith(b"bearer ")
            if length:
                await reader.readexactly(length)
            if wait:
                await asyncio.sleep(wait)
            writer.write(OK if authorized else UNAUTHORIZED)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _main(sock: socket.socket, delay_ms: float, stop: asyncio.Event | None = None) -> None:
    delay = delay_ms / 1000
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, delay), sock=sock, backlog=4096, limit=64 * 1024
    )
    async with server:
        if stop is None:
            await server.serve_forever()
        else:
            await stop.wait()


def listening_socket(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)  # now: a caller may connect before the server's loop has started
    return sock


@contextlib.contextmanager
def serve_in_thread(delay_ms: float) -> Iterator[str]:
    """Serve on a free loopback port until the ``with`` ends; yields the base URL."""
    sock = listening_socket()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_until_complete(_main(sock, delay_ms, stop))

    thread = threading.Thread(target=run, name="slow-api", daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=100)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(listening_socket(args.port), args.delay_ms))


if __name__ == "__main__":
    main()
