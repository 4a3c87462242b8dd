"""What the core reports as it works, for whoever counts: metrics, a trace.

The core never imports a metrics library or a web framework; it calls these methods
on the observer it was built with. This one does nothing; the Flask app passes one
that counts in Prometheus and feeds the flow trace (app/metrics.py).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext


class Observer:
    """Every method is optional: a subclass overrides what it wants to know."""

    def login_started(self) -> None:
        """Step 1 sent a browser to Pagero's login page."""

    def token_call(self) -> AbstractContextManager[object]:
        """Held around each token-endpoint call (code exchange, refresh): its duration."""
        return nullcontext()

    def token_call_unanswered(self, exc: Exception, started: float) -> None:
        """A token-endpoint call got no answer (refused, timed out); ``started`` is its
        ``time.time()``. A ``requests`` response hook never sees such a call."""

    def refresh_outcome(self, outcome: str) -> None:
        """``refreshed``, ``login_expired``, ``error`` or ``busy`` (the lock was held)."""

    def waiting(self, what: str) -> AbstractContextManager[object]:
        """Held while a call to ``what`` ("api", "token endpoint") waits on Pagero."""
        return nullcontext()

    def refused(self, what: str) -> None:
        """A call to ``what`` was refused: ``PAGERO_MAX_IN_FLIGHT`` calls were waiting."""
