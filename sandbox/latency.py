"""A sandbox as slow as a distant or busy Pagero (``SANDBOX_*_DELAY_MS``).

A delay makes the client wait without making the sandbox the bottleneck: under
``python -m sandbox`` (gevent, :mod:`sandbox.serving`) a waiting call is a parked
greenlet, not a thread, so a thousand calls can wait at once.
"""

from __future__ import annotations

import time


def delay(milliseconds: int) -> None:
    """Hold the current call for ``milliseconds`` before it is handled.

    ``time.sleep`` is looked up on every call on purpose: gevent's ``monkey.patch_all()``
    replaces it with a sleep that parks only this call's greenlet. Served in a thread
    (the tests' werkzeug server), it is a plain sleep of that thread.
    """
    if milliseconds > 0:
        time.sleep(milliseconds / 1000)
