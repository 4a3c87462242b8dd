"""Hundreds of concurrent HTTP/1.1 requests from one test thread (asyncio, raw sockets).

A thread per connection would make the test process the bottleneck long before the app;
these coroutines cost next to nothing while they wait, like the app's greenlets.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds from sending the request to the end of the answer.
    seconds: float = 0.0


async def fetch(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes = b"",
    timeout: float = 60,
) -> Answer:
    """One request on a new connection to 127.0.0.1:``port``; status 0 when it failed."""
    started = time.monotonic()
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        lines = [f"{method} {path} HTTP/1.1", f"Host: localhost:{port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        raw = await asyncio.wait_for(reader.read(), timeout)
    except (TimeoutError, OSError):
        return Answer(0, seconds=time.monotonic() - started)
    finally:
        if writer is not None:
            writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return Answer(status, answer_headers, payload, time.monotonic() - started)


def cookie_header(browser) -> dict[str, str]:
    """The ``Cookie`` header a :class:`tests.browser.Browser` would send."""
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies)}


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(scenario())`` on a thread of its own: the browser tests' Playwright
    keeps an event loop running on the main thread for the whole session."""
    result: list = []

    def target() -> None:
        try:
            result.append(("ok", asyncio.run(scenario())))
        except BaseException as exc:
            result.append(("error", exc))

    thread = threading.Thread(target=target, name="many-connections")
    thread.start()
    thread.join()
    kind, value = result[0]
    if kind == "error":
        raise value
    return value
