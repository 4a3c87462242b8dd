"""How many calls to Pagero one worker lets wait at once (``PAGERO_MAX_IN_FLIGHT``).

Under gevent a call waiting on Pagero costs a greenlet and a socket, not a thread, so
nothing else stops a slow Pagero from gathering thousands of waiting calls in a worker,
each holding memory, a file descriptor and one of Pagero's connections. Beyond this cap
a new call is refused at once with a ``503`` and ``Retry-After`` (RFC 9110 section
15.6.4): the client learns within milliseconds that the app is full, instead of
queueing for an answer that comes too late to matter.

A slot is held from the moment a request goes out until Pagero's answer starts (its
status line and headers); relaying a long body afterwards holds no slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from . import errors
from .observer import Observer


class InFlight:
    """A counter of calls waiting on Pagero, refusing beyond ``limit``."""

    def __init__(self, limit: int, observer: Observer | None = None):
        self.limit = limit
        self.observer = observer or Observer()
        self.count = 0
        # Under gevent's patching this is a gevent lock; with threads, a real one.
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold one place for a call to ``what`` ("api", "token endpoint", ...)."""
        with self._lock:
            if self.count >= self.limit:
                self.observer.refused(what)
                raise errors.PageroBusy(
                    "Too many requests are waiting for Pagero right now. "
                    "Please try again in a moment.",
                    waiting_for=what,
                )
            self.count += 1
        try:
            with self.observer.waiting(what):
                yield
        finally:
            with self._lock:
                self.count -= 1
