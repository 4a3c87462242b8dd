"""Reading a browser's flow trace (/trace) in tests: the events as JSON, waited for,
since the app writes them only after each answer has gone out."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.browser import Browser

#: The API call the trace tests make and then look for in the trace.
DOCS = "/api-proxy/document/v1/documents"


def trace_of(browser: Browser, until: Callable[[list[dict]], bool] = bool, wait: float = 5):
    """The browser's trace as JSON. Events are written after each response has gone
    out, so wait until ``until`` holds (or ``wait`` seconds pass)."""
    deadline = time.monotonic() + wait
    while True:
        answer = browser.get("/trace", headers={"Accept": "application/json"})
        assert answer.status_code == 200
        events = answer.json()["events"]
        if until(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def kinds(events: list[dict]) -> list[str]:
    return [e["kind"] for e in events]


def has(*wanted: str) -> Callable[[list[dict]], bool]:
    return lambda events: all(k in kinds(events) for k in wanted)
