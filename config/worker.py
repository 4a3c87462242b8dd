"""gunicorn's threaded worker, serving a kept-alive connection's next request in place.

Stock ``gthread`` gives every kept-alive connection back to its main thread after each
answer: a byte down a pipe to wake the main thread, an epoll registration, and when the
next request arrives a second wake-up to hand the connection to a thread again.
Profiled under load (README, "Performance"), that main thread took 17 % of a worker's
CPU on ``/api-proxy`` calls; with this worker, 4 %.

:class:`KeepAliveThreadWorker` changes one thing. After an answer, the thread that
wrote it waits up to ``GUNICORN_KEEPALIVE_LINGER_MS`` (default 5 ms) for the same
client's next request and serves it itself; only when none comes does the connection
go back to the main thread, exactly as before. This is what gunicorn's own async
workers and CherryPy's cheroot do with a connection that is busy. Two rules keep it
from holding a thread someone else needs:

* a thread lingers only while another thread of the worker is free, so under load
  (every thread taken) the worker behaves exactly like ``gthread``;
* it never lingers in a stopping worker, nor longer than the setting.

``GUNICORN_KEEPALIVE_LINGER_MS=0`` turns the waiting off: a request already sent is
still served in place, nothing else changes.
"""

from __future__ import annotations

import os
import select
import ssl
import threading

from gunicorn.workers.gthread import ThreadWorker

DEFAULT_LINGER_MS = 5


def linger_ms() -> int:
    """``GUNICORN_KEEPALIVE_LINGER_MS``: how long a thread waits for a client's next request."""
    value = os.environ.get("GUNICORN_KEEPALIVE_LINGER_MS", str(DEFAULT_LINGER_MS))
    try:
        ms = int(value)
    except ValueError:
        raise SystemExit(
            f"GUNICORN_KEEPALIVE_LINGER_MS must be whole milliseconds, not {value!r}"
        ) from None
    if not 0 <= ms <= 1000:
        raise SystemExit(f"GUNICORN_KEEPALIVE_LINGER_MS must be 0 to 1000, not {ms}")
    return ms


class KeepAliveThreadWorker(ThreadWorker):
    """``gthread`` that keeps a busy kept-alive connection in the thread serving it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.linger_ms = linger_ms()
        self._busy = 0  # threads serving or lingering on a connection
        self._busy_lock = threading.Lock()

    def handle(self, conn):
        """Serve ``conn`` until its client pauses; then give it back to the main loop."""
        with self._busy_lock:
            self._busy += 1
        try:
            keep = super().handle(conn)
            # True means "kept alive" (gthread's other answers: False, or a deferral).
            while keep is True and self._next_request_arrives(conn):
                keep = super().handle(conn)
            return keep
        finally:
            with self._busy_lock:
                self._busy -= 1

    def _next_request_arrives(self, conn) -> bool:
        if not self.alive:
            return False
        if conn.parser.unreader.buf.getvalue():
            return True  # already read ahead (a pipelined request)
        if isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending():
            return True  # decrypted bytes waiting in the TLS layer
        wait = self.linger_ms if self._busy < self.cfg.threads else 0
        readable = select.poll()  # poll, not select: descriptors above 1024 are fine
        readable.register(conn.sock, select.POLLIN)
        # Readable also means "closed by the client"; the next handle() sees that and
        # ends the connection, as the main loop would have.
        return bool(readable.poll(wait))
